"""A resync is a job of its own (arq and in-process alike), in slices that keep their place in the
run: it never runs inside webhook processing, no job outlives its time-out however long the
period, and a slice whose worker died is taken over where it stopped."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.connectors.xero import XeroConnector
from app.db import transaction
from app.models import Connection, Link, Run, RunStatus
from app.models.base import utcnow
from app.sync import resync
from app.sync.limiter import RateLimits
from app.workers.jobs import run_webhooks
from app.workers.periodic import sweep_and_ring_events
from tests.books.conftest import PRODUCT, sale
from tests.books.programs import Xero
from tests.conftest import arq_stack
from tests.fakes.fake_xero import FakeXero
from tests.webhooks.test_bookkeeper import panel, put
from tests.webhooks.test_resync import NOVEMBER, run, three_sales, writes
from tests.xero.test_end_to_end import connect_xero, sync_until_settled


@pytest.fixture
def one_link_slices(monkeypatch):
    """A page of one link and no time per slice: every link is a slice of its own."""
    monkeypatch.setattr(resync, "PAGE", 1)
    monkeypatch.setattr(resync, "SLICE_S", 0.0)


async def voided_by_hand(api) -> tuple[Xero, str]:
    program = Xero(api)
    await three_sales(api, program)
    voided = (await panel(api, "sales", "S-1"))["external_id"]
    await program.fake.void_invoice(program.tenant, voided)  # the webhook is lost: pointed nowhere
    return program, voided


async def test_a_resync_in_slices_keeps_its_place_and_repairs_exactly_once(api, one_link_slices):
    program, voided = await voided_by_hand(api)
    before = writes(program.fake.calls)

    answer = await api.post(f"/v1/connections/{program.connection_id}/resync",
                            {**NOVEMBER, "entity_types": ["sale", "product"]})
    assert answer.status_code == 202, answer.text
    await api.settle()

    done = await run(api, answer.json()["run_id"])
    assert (done.status, done.updated, done.skipped) == (RunStatus.FINISHED, 1, 2)
    # Four links (a product, three sales), a slice each, and the last slice finds the end.
    assert done.params["progress"]["slices"] == 5
    repaired = await panel(api, "sales", "S-1")
    assert repaired["symbol"] == "green" and repaired["external_id"] != voided
    assert writes(program.fake.calls) - before == 2  # one invoice and its payment


async def test_webhook_processing_leaves_resyncs_to_their_own_job(api):
    program, _voided = await voided_by_hand(api)
    async with transaction(api.deps.sessions) as session:
        connection = await session.get(Connection, uuid.UUID(program.connection_id))
        queued = await resync.request_resync(session, connection=connection, start=resync.datetime.fromisoformat(
            "2026-11-01T00:00:00+00:00"), end=resync.datetime.fromisoformat("2026-11-30T23:59:59+00:00"),
            entity_types=["sale"])

    await run_webhooks(api.deps, program.connection_id)
    assert (await run(api, str(queued.id))).status == RunStatus.QUEUED

    # Its ring was lost (made without one here): the sweeper rings the resync's own job.
    await sweep_and_ring_events(api.deps)
    await api.settle()
    assert ((await run(api, str(queued.id))).status, (await run(api, str(queued.id))).updated) == (
        RunStatus.FINISHED, 1)


async def test_a_slice_whose_worker_died_is_taken_over_where_it_stopped(api):
    program, _voided = await voided_by_hand(api)
    async with transaction(api.deps.sessions) as session:
        connection = await session.get(Connection, uuid.UUID(program.connection_id))
        queued = await resync.request_resync(session, connection=connection, start=resync.datetime.fromisoformat(
            "2026-11-01T00:00:00+00:00"), end=resync.datetime.fromisoformat("2026-11-30T23:59:59+00:00"),
            entity_types=["sale"])
        last_link = await session.scalar(select(func.max(Link.id)).where(Link.connection_id == connection.id))
    # A slice had checked every link, kept its place and counts, then its worker died.
    kept = {"after": last_link, "same": 2, "resent": 1, "slices": 1}
    async with transaction(api.deps.sessions) as session:
        # (No catch-up due: the sweeper's ring below reads nothing for it.)
        await session.execute(update(Connection).where(Connection.id == connection.id)
                              .values(program_checked_at=utcnow()))
        await session.execute(update(Run).where(Run.id == queued.id).values(
            status=RunStatus.RUNNING, started_at=utcnow() - timedelta(minutes=10),
            heartbeat_at=utcnow() - timedelta(minutes=5), params={**queued.params, "progress": kept}))
    reads = program.fake.count("GET", "/Invoices")

    await sweep_and_ring_events(api.deps)  # not closed as interrupted: rung to go on
    await api.settle()

    done = await run(api, str(queued.id))
    assert (done.status, done.updated, done.skipped) == (RunStatus.FINISHED, 1, 2)
    assert (done.params["takeovers"], done.params["progress"]["slices"]) == (1, 2)
    assert program.fake.count("GET", "/Invoices") == reads  # nothing before its place read again


async def test_a_live_slice_is_not_taken_over(api):
    program, _voided = await voided_by_hand(api)
    async with transaction(api.deps.sessions) as session:
        connection = await session.get(Connection, uuid.UUID(program.connection_id))
        queued = await resync.request_resync(session, connection=connection, start=resync.datetime.fromisoformat(
            "2026-11-01T00:00:00+00:00"), end=resync.datetime.fromisoformat("2026-11-30T23:59:59+00:00"),
            entity_types=["sale"])
        await session.flush()
        await session.execute(update(Run).where(Run.id == queued.id).values(status=RunStatus.RUNNING,
                                                                            heartbeat_at=utcnow()))
    assert await resync.run_resync(api.deps, queued.id) == "not_mine"
    assert (await run(api, str(queued.id))).status == RunStatus.RUNNING



@pytest.fixture
def fake():
    fake = FakeXero(client_id="possync-test", client_secret="shh", check_tokens=True, per_minute=600)
    fake.tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    with fake.serve() as url:
        fake.url = url
        yield fake


@pytest.mark.postgres
@pytest.mark.redis
async def test_an_arq_worker_runs_the_resync_slice_by_slice(migrated, fake, monkeypatch, one_link_slices):
    monkeypatch.setattr(XeroConnector, "rate_limits", RateLimits(per_minute=600, concurrent=5))
    async with arq_stack(migrated, XERO_CLIENT_ID="possync-test", XERO_CLIENT_SECRET="shh", XERO_API_URL=fake.url,
                         XERO_IDENTITY_URL=fake.url, XERO_LOGIN_URL=fake.url,
                         POSSYNC_SWEEP_INTERVAL_S=3600) as stack:
        api = stack.api
        connection_id = await connect_xero(stack, fake)
        await put(api, "products", "P-1", PRODUCT)
        for pos_id, day in (("S-1", "2026-11-10"), ("S-2", "2026-11-11")):
            await put(api, "sales", pos_id, sale(pos_id, shift=None, date=f"{day}T10:00:00Z"))
        await sync_until_settled(stack, monkeypatch)
        voided = (await panel(api, "sales", "S-1"))["external_id"]
        await fake.void_invoice(fake.tenant, voided)

        answer = await api.post(f"/v1/connections/{connection_id}/resync", {**NOVEMBER, "entity_types": ["sale"]})
        assert answer.status_code == 202, answer.text
        await sync_until_settled(stack, monkeypatch)

        done = await run(api, answer.json()["run_id"])
        assert (done.status, done.updated, done.skipped) == (RunStatus.FINISHED, 1, 1)
        assert done.params["progress"]["slices"] == 3  # two links, then the end: each slice an arq job
        assert (await panel(api, "sales", "S-1"))["external_id"] != voided
