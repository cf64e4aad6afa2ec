"""Resync a period: every record of it read back from the program; only what is missing or
different there is sent again."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Run, RunStatus, RunTrigger
from tests.books.conftest import PRODUCT, sale
from tests.books.programs import QuickBooks, Xero
from tests.webhooks.test_bookkeeper import panel, put

NOVEMBER = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-30T23:59:59Z"}


async def resync(api, connection_id: str, body: dict):
    return await api.post(f"/v1/connections/{connection_id}/resync", body)


async def run(api, run_id: str) -> Run:
    async with api.deps.sessions() as session:
        return await session.get(Run, __import__("uuid").UUID(run_id))


async def three_sales(api, program) -> None:
    await program.connect()
    await put(api, "products", "P-1", PRODUCT)
    for pos_id, day in (("S-1", "2026-11-10"), ("S-2", "2026-11-11"), ("S-3", "2026-10-30")):
        await put(api, "sales", pos_id, sale(pos_id, shift=None, date=f"{day}T10:00:00Z"))
    await api.settle()


def writes(calls) -> int:
    return sum(1 for c in calls if c.method in ("POST", "PUT"))


async def test_an_invoice_voided_by_hand_in_xero_is_repaired_and_nothing_else_is_touched(api):
    program = Xero(api)
    await three_sales(api, program)
    voided = (await panel(api, "sales", "S-1"))["external_id"]
    untouched = {p: (await panel(api, "sales", p))["external_id"] for p in ("S-2", "S-3")}
    # By hand, with the webhook lost (the fake is pointed nowhere): possync still says green.
    await program.fake.void_invoice(program.tenant, voided)
    assert (await panel(api, "sales", "S-1"))["symbol"] == "green"
    before = writes(program.fake.calls)

    answer = await resync(api, program.connection_id, {**NOVEMBER, "entity_types": ["sale", "product"]})
    assert answer.status_code == 202, answer.text
    await api.settle()

    done = await run(api, answer.json()["run_id"])
    assert (done.trigger, done.status, done.updated, done.skipped) == (RunTrigger.RESYNC, RunStatus.FINISHED, 1, 2)
    repaired = await panel(api, "sales", "S-1")
    assert repaired["symbol"] == "green" and repaired["external_id"] != voided
    assert program.books.invoices[repaired["external_id"]]["Status"] == "PAID"
    for pos_id, external_id in untouched.items():
        assert (await panel(api, "sales", pos_id))["external_id"] == external_id
    # One invoice and its payment written; nothing else (S-2 found the same, S-3 outside the period).
    assert writes(program.fake.calls) - before == 2


async def test_a_sales_receipt_deleted_by_hand_in_quickbooks_is_repaired(api):
    program = QuickBooks(api)
    await three_sales(api, program)
    deleted = (await panel(api, "sales", "S-2"))["external_id"]
    await program.fake.bookkeeper_deletes(program.realm, "SalesReceipt", deleted)  # webhook lost
    batches = program.fake.count("batch")

    answer = await resync(api, program.connection_id, NOVEMBER)
    assert answer.status_code == 202
    await api.settle()

    assert (await run(api, answer.json()["run_id"])).updated == 1
    line = await panel(api, "sales", "S-2")
    assert line["symbol"] == "green" and line["external_id"] != deleted
    assert line["external_id"] in program.company.objects["SalesReceipt"]
    assert len(program.company.all("SalesReceipt")) == 3
    assert program.fake.count("batch") - batches == 1


async def test_a_period_over_a_year_or_backwards_is_422(api):
    connection_id = await api.connect_sandbox()
    long = await resync(api, connection_id, {"from": "2025-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"})
    assert long.status_code == 422 and long.headers["content-type"].startswith("application/problem+json")
    assert long.json()["errors"][0]["path"] == "body.to"
    backwards = await resync(api, connection_id, {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
    assert backwards.status_code == 422
    naive = await resync(api, connection_id, {"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"})
    assert naive.status_code == 422
    async with api.deps.sessions() as session:
        assert (await session.scalars(select(Run).where(Run.trigger == RunTrigger.RESYNC))).all() == []
