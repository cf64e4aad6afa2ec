"""Catch-up: changes whose webhooks were lost are found by asking the program what changed
(Xero If-Modified-Since, QuickBooks Change Data Capture) and reach the panel the same way."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from app.models import Connection, Run, RunTrigger
from app.models.base import utcnow
from app.webhooks.processing import ring_for_waiting_events
from tests.webhooks.test_bookkeeper import panel
from tests.webhooks.test_resync import three_sales
from tests.books.programs import QuickBooks, Xero


async def checked_at(api, connection_id: str):
    async with api.deps.sessions() as session:
        return await session.scalar(select(Connection.program_checked_at)
                                    .where(Connection.id == uuid.UUID(connection_id)))


async def made_an_interval_ago(api, connection_id: str) -> None:
    """As if the connection had been made one catch-up interval ago: its first pass is due."""
    interval = timedelta(seconds=api.deps.settings.catch_up_interval_s + 1)
    async with api.deps.sessions() as session, session.begin():
        await session.execute(update(Connection).where(Connection.id == uuid.UUID(connection_id))
                              .values(created_at=utcnow() - interval))


async def test_a_void_in_xero_whose_webhook_was_lost_is_caught_up(api):
    program = Xero(api)
    await three_sales(api, program)
    invoice_id = (await panel(api, "sales", "S-2"))["external_id"]
    await program.fake.void_invoice(program.tenant, invoice_id)  # the fake is pointed nowhere: no delivery
    # A connection made a moment ago is not asked yet: its program holds only possync's own pushes.
    assert await ring_for_waiting_events(api.deps) == 0
    assert await checked_at(api, program.connection_id) is None

    await made_an_interval_ago(api, program.connection_id)
    assert await ring_for_waiting_events(api.deps) == 1  # the sweeper's ring: a catch-up is due
    await api.settle()

    line = await panel(api, "sales", "S-2")
    assert (line["symbol"], line["program_change"]) == ("red", "voided")
    assert (await panel(api, "sales", "S-1"))["symbol"] == "green"
    reads = [c for c in program.fake.calls if c.method == "GET" and c.path.endswith("/Invoices")]
    assert reads, "the catch-up reads the invoices Xero changed"
    async with api.deps.sessions() as session:
        runs = (await session.scalars(select(Run).where(Run.trigger == RunTrigger.WEBHOOK))).all()
    assert len(runs) == 1
    # The pass is kept: not due again until the interval has passed.
    assert await checked_at(api, program.connection_id) is not None
    assert await ring_for_waiting_events(api.deps) == 0


async def test_a_deletion_in_quickbooks_whose_webhook_was_lost_is_caught_up_by_cdc(api):
    program = QuickBooks(api)
    await three_sales(api, program)
    receipt_id = (await panel(api, "sales", "S-3"))["external_id"]
    await program.fake.bookkeeper_deletes(program.realm, "SalesReceipt", receipt_id)

    await made_an_interval_ago(api, program.connection_id)
    assert await ring_for_waiting_events(api.deps) == 1
    await api.settle()

    line = await panel(api, "sales", "S-3")
    assert (line["symbol"], line["program_change"]) == ("red", "deleted")
    assert program.fake.count("query") >= 1 and any(c.path.endswith("/cdc") for c in program.fake.calls)
    assert (await panel(api, "sales", "S-1"))["symbol"] == "green"
