"""Processing: a job per connection marks the links the program changed, as a `webhook` run."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import LinkState, Run, RunStatus, RunTrigger, WebhookEvent
from tests.conftest import arq_stack
from tests.webhooks.conftest import (
    INTUIT_TOKEN, WEBHOOK_LIMIT, XERO_KEYS, add_connection, add_synced_link, cloud_event, encode, events,
    legacy_delivery, link, post_intuit, post_xero, sign, xero_delivery, xero_event,
)


async def runs(deps) -> list[Run]:
    async with deps.sessions() as session:
        return list((await session.scalars(select(Run))).all())


async def test_quickbooks_changes_mark_links_and_a_deletion_turns_red_with_advice(client, deps):
    connection_id = await add_connection(deps, "quickbooks", "9130350")
    customer = await add_synced_link(deps, connection_id, "customer", "58")
    sale = await add_synced_link(deps, connection_id, "sale", "145")
    untouched = await add_synced_link(deps, connection_id, "customer", "60")
    body = encode([cloud_event("9130350", "58", "qbo.customer.updated.v1"),
                   cloud_event("9130350", "145", "qbo.salesreceipt.deleted.v1"),
                   cloud_event("9130350", "60", "qbo.item.updated.v1"),  # an item 60, not customer 60
                   cloud_event("9130350", "777", "qbo.customer.created.v1")])  # never made by possync
    assert (await post_intuit(client, body, sign(INTUIT_TOKEN, body))).status_code == 200
    await deps.bell.drain()

    changed = await link(deps, customer)
    assert (changed.program_change, changed.state) == ("updated", LinkState.SYNCED)
    assert changed.program_changed_at is not None
    gone = await link(deps, sale)
    assert (gone.program_change, gone.state, gone.error_code) == ("deleted", LinkState.FAILED, "deleted_in_program")
    assert "QuickBooks" in gone.advice and "SYNC NOW" in gone.advice
    other = await link(deps, untouched)
    assert (other.program_change, other.state) == (None, LinkState.SYNCED)
    assert all(e.processed_at is not None for e in await events(deps))
    (run,) = await runs(deps)
    assert (run.connection_id, run.trigger, run.status) == (connection_id, RunTrigger.WEBHOOK, RunStatus.FINISHED)


async def test_legacy_void_and_xero_updates_are_marked(client, deps):
    books = await add_connection(deps, "quickbooks", "realm-1")
    voided = await add_synced_link(deps, books, "sale", "130")
    xero = await add_connection(deps, "xero", "tenant-a")
    contact = await add_synced_link(deps, xero, "supplier", "c0ffee00-0000-4000-8000-000000000001")
    body = encode(legacy_delivery("realm-1", ("Invoice", "130", "Void")))
    assert (await post_intuit(client, body, sign(INTUIT_TOKEN, body))).status_code == 200
    body = encode(xero_delivery(xero_event("tenant-a", "c0ffee00-0000-4000-8000-000000000001", "CONTACT", "UPDATE")))
    assert (await post_xero(client, body, sign(XERO_KEYS[0], body))).status_code == 200
    await deps.bell.drain()

    assert ((await link(deps, voided)).state, (await link(deps, voided)).error_code) == (LinkState.FAILED, "voided_in_program")
    marked = await link(deps, contact)
    assert (marked.program_change, marked.state) == ("updated", LinkState.SYNCED)
    assert sorted(r.connection_id for r in await runs(deps)) == sorted([books, xero])


async def test_an_unknown_tenants_events_start_no_run(client, deps):
    body = encode(xero_delivery(xero_event("tenant-nobody", "inv-1")))
    assert (await post_xero(client, body, sign(XERO_KEYS[0], body))).status_code == 200
    await deps.bell.drain()
    assert await runs(deps) == []
    (event,) = await events(deps)
    assert (event.connection_id, event.processed_at) == (None, None)


@pytest.mark.postgres
@pytest.mark.redis
async def test_an_arq_worker_processes_the_delivery(migrated, monkeypatch):
    async with arq_stack(migrated, XERO_WEBHOOK_KEYS=XERO_KEYS[1], POSSYNC_WEBHOOK_MAX_BODY_BYTES=WEBHOOK_LIMIT) as stack:
        connection_id = await add_connection(stack.deps, "xero", "tenant-a")
        invoice = await add_synced_link(stack.deps, connection_id, "sale", "inv-1")
        body = encode(xero_delivery(xero_event("tenant-a", "inv-1")))
        response = await post_xero(stack.api.client, body, sign(XERO_KEYS[1], body))
        assert response.status_code == 200
        # The answer did not wait: nothing is processed until a worker runs.
        async with stack.deps.sessions() as session:
            assert await session.scalar(select(WebhookEvent.processed_at)) is None
        await stack.run_workers(monkeypatch)
        assert (await link(stack.deps, invoice)).program_change == "updated"
        (run,) = await runs(stack.deps)
        assert (run.trigger, run.status) == (RunTrigger.WEBHOOK, RunStatus.FINISHED)


async def test_events_whose_ring_was_lost_are_processed_after_the_sweepers_ring(client, deps, monkeypatch):
    from app.webhooks.processing import ring_for_waiting_events

    connection_id = await add_connection(deps, "quickbooks", "realm-1")
    customer = await add_synced_link(deps, connection_id, "customer", "58")

    async def lost(_connection_id):
        return None

    monkeypatch.setattr(deps.bell, "ring_webhooks", lost)  # the ring after the commit goes nowhere
    body = encode([cloud_event("realm-1", "58")])
    assert (await post_intuit(client, body, sign(INTUIT_TOKEN, body))).status_code == 200
    await deps.bell.drain()
    assert (await link(deps, customer)).program_change is None
    monkeypatch.undo()
    assert await ring_for_waiting_events(deps) == 1
    await deps.bell.drain()
    assert (await link(deps, customer)).program_change == "updated"
    assert await ring_for_waiting_events(deps) == 0
