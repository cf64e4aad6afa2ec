"""Recovery: killed workers, failed and cancelled jobs, deferred rings, runs whose job died.

Real arq workers against Redis and PostgreSQL; worker processes are killed for real (SIGKILL).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from app.db import transaction
from app.models import Link, Run, RunStatus, SandboxObject
from app.models.base import utcnow
from app.sync.runner import sync_connection
from app.sync.sweeper import close_dead_runs
from bench.harness import free_port
from tests.conftest import ENCRYPTION_KEY, arq_stack

class SilentBell:
    async def ring(self, *_args, **_kwargs) -> None:
        return None

    async def ring_more(self, *_args, **_kwargs) -> None:
        return None

    async def others_waiting(self, _connection_id) -> bool:
        return False

    async def ring_at(self, *_args, **_kwargs) -> None:
        return None


WAIT_BOUND_S = 180  # a guard against a hung test, not a speed claim (bench/faults.py measures speed)


def _worker_env(settings) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
            "POSSYNC_ENCRYPTION_KEYS": ENCRYPTION_KEY, "POSSYNC_LOG_LEVEL": "WARNING",
            "POSSYNC_CLAIM_LEASE_S": str(settings.claim_lease_s),
            "POSSYNC_SWEEP_INTERVAL_S": str(settings.sweep_interval_s),
            "POSSYNC_SANDBOX_LATENCY_MS": str(settings.sandbox_latency_ms)}


def _start_worker(settings) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=_worker_env(settings),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _link_states(deps) -> Counter:
    async with deps.sessions() as session:
        return Counter(dict((await session.execute(select(Link.state, func.count()).group_by(Link.state))).all()))


async def _wait_for(predicate, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_BOUND_S
    while not await predicate():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.redis
async def test_work_resumes_after_a_worker_is_sigkilled_mid_run(migrated):
    # Fixed job ids once kept a killed worker's arq in-progress marker in the way for an hour.
    overrides = {"POSSYNC_CLAIM_LEASE_S": 3, "POSSYNC_SWEEP_INTERVAL_S": 1, "POSSYNC_SANDBOX_LATENCY_MS": 400}
    async with arq_stack(migrated, **overrides) as stack:
        api, deps, settings = stack.api, stack.deps, stack.settings
        await api.post("/v1/connections", {"connector": "sandbox"})
        items = [{"id": f"C-{i}", "first_name": f"Customer {i}"} for i in range(400)]
        assert (await api.post("/v1/customers/batch", {"items": items})).json()["accepted"] == 400

        first = _start_worker(settings)
        survivor = None
        try:
            async def some_synced() -> bool:
                return (await _link_states(deps))["synced"] > 0

            await _wait_for(some_synced, "the first worker to push something")
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
            async with deps.sessions() as session:
                running = await session.scalar(select(func.count()).select_from(Run).where(Run.status == "running"))
            states = await _link_states(deps)
            assert states["pending"] > 0 and running > 0  # killed mid-run, as intended

            survivor = _start_worker(settings)

            async def all_synced() -> bool:
                return (await _link_states(deps)) == Counter(synced=400)

            await _wait_for(all_synced, "every link to turn green after the kill")

            async def runs_ended() -> bool:
                async with deps.sessions() as session:
                    return not await session.scalar(
                        select(func.count()).select_from(Run).where(Run.status.in_(["running", "queued"]))
                    )

            await _wait_for(runs_ended, "the killed job's run to be closed")
        finally:
            for proc in (first, survivor):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    await asyncio.to_thread(proc.wait, 30)

        async with deps.sessions() as session:
            objects = await session.scalar(select(func.count()).select_from(SandboxObject))
            distinct = await session.scalar(select(func.count(func.distinct(SandboxObject.reference))))
            statuses = Counter((await session.scalars(select(Run.status))).all())
        assert objects == distinct == 400  # nothing pushed twice into the program
        assert statuses["interrupted"] >= 1 and set(statuses) <= {"finished", "interrupted"}


@pytest.mark.postgres
@pytest.mark.redis
async def test_every_back_off_rings_again_through_arq(migrated, monkeypatch):
    # A [flaky] product fails twice: two deferred rings in a row, the second rung from inside the
    # job the first one started. No sweeper runs after start-up, so only those rings can finish it.
    async with arq_stack(migrated, POSSYNC_SWEEP_INTERVAL_S=3600) as stack:
        api = stack.api
        await api.post("/v1/connections", {"connector": "sandbox"})
        await api.put("/v1/products/P-1", {"sku": "SKU-1", "name": "Kettle [flaky]", "price": "9.99"})
        await stack.run_workers(monkeypatch)  # burst: runs until no job (deferred ones too) is left
        panel = (await api.get("/v1/products/P-1/sync")).json()
        assert panel["symbol"] == "green", panel
        logs = (await api.get("/v1/products/P-1/sync/logs")).json()["items"]
        assert [entry["outcome"] for entry in logs] == ["created", "retry", "retry"]


class cut_outcomes_once:  # noqa: N801 - used as a function: a stand-in for push.record_outcomes
    """The first write of a batch's outcomes meets a database that went away (a restart mid-batch);
    later writes go through."""

    def __init__(self) -> None:
        from app.sync import push

        self.record_outcomes = push.record_outcomes
        self.cuts = 0

    async def __call__(self, *args, **kwargs):
        if not self.cuts:
            self.cuts += 1
            raise ConnectionResetError("the database went away")
        return await self.record_outcomes(*args, **kwargs)


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_job_the_database_cut_short_goes_round_again_once_it_answers(migrated, monkeypatch):
    # A PostgreSQL restart mid-batch: the job waits for the database and pushes again itself,
    # rather than wait for a retry's delay or the next sweep (none runs here after start-up).
    cut = cut_outcomes_once()
    async with arq_stack(migrated, POSSYNC_SWEEP_INTERVAL_S=3600) as stack:
        api = stack.api
        await api.post("/v1/connections", {"connector": "sandbox"})
        monkeypatch.setattr("app.sync.push.record_outcomes", cut)
        await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(3)]})
        workers = await stack.run_workers(monkeypatch)
        statuses = await api.get("/v1/customers/sync-status", params={"ids": "C-0,C-1,C-2"})
        async with stack.deps.sessions() as session:
            objects = await session.scalar(select(func.count()).select_from(SandboxObject))
    assert cut.cuts == 1
    assert [item["symbol"] for item in statuses.json()["items"]] == ["green"] * 3
    assert sum(w.jobs_retried for w in workers) == 0  # the same job went round again
    assert objects == 3  # pushed twice, stored once (the same idempotency keys)


async def test_an_embedded_job_the_database_cut_short_goes_round_again_once_it_answers(api, monkeypatch):
    # Embedded mode (jobs as tasks in the API process) waits the outage out the same way: the
    # records go green without a retry's delay or a sweep (none runs in these tests).
    from app.workers import jobs

    cut, waited, answers = cut_outcomes_once(), [], jobs.database_answers

    async def noted_wait(*args, **kwargs):
        waited.append(1)
        return await answers(*args, **kwargs)

    await api.connect_sandbox()
    monkeypatch.setattr("app.sync.push.record_outcomes", cut)
    monkeypatch.setattr(jobs, "database_answers", noted_wait)
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(3)]})
    await api.settle()
    statuses = await api.get("/v1/customers/sync-status", params={"ids": "C-0,C-1,C-2"})
    async with api.deps.sessions() as session:
        objects = await session.scalar(select(func.count()).select_from(SandboxObject))
        retried = await session.scalar(select(func.count()).select_from(Link).where(Link.retries > 0))
    assert cut.cuts == 1 and waited == [1]  # the cut job itself waited for the database and went round
    assert [item["symbol"] for item in statuses.json()["items"]] == ["green"] * 3
    assert retried == 0  # at once, not through a back-off
    assert objects == 3


async def test_waiting_for_the_database_ends_when_it_answers_or_after_the_bound(migrated):
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.db import database_answers

    up = create_async_engine(migrated)
    away = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        assert await database_answers(up, within_s=5)
        assert not await database_answers(away, within_s=1, look_every_s=0.2)
    finally:
        await up.dispose()
        await away.dispose()


async def test_a_failing_job_hands_its_batch_back_at_once(api, monkeypatch):
    connection_id = await api.connect_sandbox()
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(3)]})
    await api.settle()
    monkeypatch.setattr(api.deps, "bell", SilentBell())  # this test runs the job itself
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "B"} for i in range(3)]})

    async def database_lost(*_args, **_kwargs):
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr("app.sync.push.record_outcomes", database_lost)
    async with transaction(api.deps.sessions) as session:
        await session.execute(update(Link).values(retries=2))
    with pytest.raises(ConnectionResetError):
        await sync_connection(api.deps, uuid.UUID(connection_id))

    async with api.deps.sessions() as session:
        links = (await session.scalars(select(Link))).all()
        run = (await session.scalars(select(Run).order_by(Run.created_at.desc()))).first()
    assert {(link.state, link.claim_token, link.claimed_until, link.retries) for link in links} == {
        ("pending", None, None, 2)
    }  # free for the next job now, not when a lease runs out; the retry count is kept
    assert run.status == RunStatus.INTERRUPTED and "ConnectionResetError" in run.error


async def test_a_release_the_database_cut_short_is_tried_again_with_the_same_batch(api, monkeypatch):
    # After a PostgreSQL restart the release's first try often meets a pooled connection the server
    # dropped; the batch must still be handed back, not left leased until the lease runs out.
    from app.sync import lease

    connection_id = await api.connect_sandbox()
    monkeypatch.setattr(api.deps, "bell", SilentBell())  # this test runs the job itself
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(3)]})

    lost = []

    async def database_lost(*_args, **_kwargs):
        lost.append(1)
        raise ConnectionResetError("the database went away")

    real_transaction, cut = lease.transaction, []

    def release_cut_once(sessions):
        if lost and not cut:  # the release's first try, after the batch was lost
            cut.append(1)
            raise ConnectionRefusedError("the database is still restarting")
        return real_transaction(sessions)

    monkeypatch.setattr("app.sync.push.record_outcomes", database_lost)
    monkeypatch.setattr(lease, "transaction", release_cut_once)
    with pytest.raises(ConnectionResetError):
        await sync_connection(api.deps, uuid.UUID(connection_id))

    async with api.deps.sessions() as session:
        links = (await session.scalars(select(Link))).all()
    assert cut == [1]
    assert {(link.state, link.claim_token, link.claimed_until) for link in links} == {("pending", None, None)}


async def test_the_database_dropping_under_the_sandbox_fails_no_record(api, monkeypatch):
    # The sandbox keeps its program in possync's database: a restart mid-call is a database outage
    # for the job to wait out, not an internal error that fails the batch's records for good.
    connection_id = await api.connect_sandbox()
    monkeypatch.setattr(api.deps, "bell", SilentBell())

    async def database_dropped(*_args, **_kwargs):
        raise ConnectionRefusedError("the database is restarting")

    monkeypatch.setattr(api.deps.connectors["sandbox"], "push", database_dropped)
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(3)]})
    with pytest.raises(ConnectionRefusedError):
        await sync_connection(api.deps, uuid.UUID(connection_id))
    async with api.deps.sessions() as session:
        links = (await session.scalars(select(Link))).all()
    assert {(link.state, link.claim_token, link.retries) for link in links} == {("pending", None, 0)}


async def test_a_cancelled_job_hands_its_batch_back(api, monkeypatch):
    connection_id = await api.connect_sandbox()
    started = asyncio.Event()

    async def slow_push(ctx, entity_type, items):
        started.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(api.deps.connectors["sandbox"], "push", slow_push)
    monkeypatch.setattr(api.deps, "bell", SilentBell())
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(3)]})
    job = asyncio.create_task(sync_connection(api.deps, uuid.UUID(connection_id)))
    await started.wait()
    async with api.deps.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Link).where(Link.claim_token.is_not(None))) == 3
    job.cancel()  # what arq does to a running job on SIGTERM
    with pytest.raises(asyncio.CancelledError):
        await job
    async with api.deps.sessions() as session:
        held = await session.scalar(select(func.count()).select_from(Link).where(Link.claim_token.is_not(None)))
        statuses = (await session.scalars(select(Run.status))).all()
    assert held == 0
    assert RunStatus.INTERRUPTED in statuses


async def test_the_sweeper_closes_runs_whose_heartbeat_stopped(api):
    connection_id = await api.connect_sandbox()
    long_ago = utcnow() - timedelta(minutes=10)
    async with transaction(api.deps.sessions) as session:
        dead = Run(connection_id=uuid.UUID(connection_id), trigger="schedule", status="running",
                   created=4, started_at=long_ago, heartbeat_at=long_ago, created_at=long_ago)
        alive = Run(connection_id=uuid.UUID(connection_id), trigger="schedule", status="running",
                    started_at=long_ago, heartbeat_at=utcnow(), created_at=long_ago)
        session.add_all([dead, alive])
    assert await close_dead_runs(api.deps) == 1
    async with api.deps.sessions() as session:
        dead_now, alive_now = await session.get(Run, dead.id), await session.get(Run, alive.id)
    assert (dead_now.status, dead_now.created, dead_now.finished_at is not None) == ("interrupted", 4, True)
    assert alive_now.status == "running"
    shown = (await api.get(f"/v1/runs/{dead.id}")).json()
    assert shown["status"] == "interrupted" and shown["created"] == 4


async def test_the_api_answers_503_while_the_database_is_away():
    from app.main import create_app
    from app.sync.deps import build_deps
    from tests.conftest import make_settings

    # Nothing listens on port 1: every query fails to connect, as when PostgreSQL is stopped.
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/possync")
    deps = build_deps(settings)
    deps.bell = SilentBell()
    app = create_app(settings, deps)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://possync.test") as client:
                write = await client.put("/v1/customers/C-1", json={"first_name": "Ana"},
                                         headers={"Authorization": "Bearer some-key"})
                status = await client.get("/v1/customers/sync-status", params={"ids": "C-1"},
                                          headers={"Authorization": "Bearer some-key"})
                ready = await client.get("/readyz")
    finally:
        await deps.aclose()
    for response in (write, status):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/database-unavailable")
        assert "not stored" in response.json()["detail"]
    assert ready.status_code == 503
    assert ready.json()["down"] == ["database"]


def _redis_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        probe = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, timeout=5)
        if probe.stdout.strip() == b"PONG":
            return server
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("redis-server did not start")


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_worker_waits_out_a_redis_outage(migrated):
    # A Redis of its own on a free loopback port, so it can be stopped without touching anyone's.
    port = free_port()
    redis_server = _redis_server(port)
    worker = None
    try:
        async with arq_stack(migrated, redis_url=f"redis://127.0.0.1:{port}/0", POSSYNC_SWEEP_INTERVAL_S=1) as stack:
            api, deps = stack.api, stack.deps
            await api.post("/v1/connections", {"connector": "sandbox"})
            worker = _start_worker(stack.settings)
            await api.put("/v1/customers/C-1", {"first_name": "Before"})

            async def green(pos_id: str):
                async def check() -> bool:
                    status = await api.get("/v1/customers/sync-status", params={"ids": pos_id})
                    return status.json()["items"][0]["symbol"] == "green"
                return check

            await _wait_for(await green("C-1"), "the first record to turn green")

            redis_server.kill()
            redis_server.wait(10)
            written = await api.put("/v1/customers/C-2", {"first_name": "During the outage"})
            assert written.status_code == 201  # stored; only the doorbell is down
            await asyncio.sleep(3)  # long enough for arq's worker to notice and give up on Redis
            assert worker.poll() is None  # still there, waiting for Redis

            redis_server = _redis_server(port)  # back, and empty
            await _wait_for(await green("C-2"), "the record written during the outage to turn green")
            assert worker.poll() is None
            worker.terminate()
            assert await asyncio.to_thread(worker.wait, 30) == 0  # SIGTERM still stops it cleanly
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(10)
        redis_server.kill()
        redis_server.wait(10)


async def test_a_batch_whose_holder_died_is_claimed_again_as_it_left_it(api, monkeypatch):
    # What the dead job announced stays on the links: the next claim takes that call's records
    # alone, with its key, so the very call can be sent again; a record it never announced was
    # never sent, and nothing marks it. The back-off is not lengthened.
    from app.sync.announce import announce
    from app.sync.claim import claim

    connection_id = uuid.UUID(await api.connect_sandbox())
    monkeypatch.setattr(api.deps, "bell", SilentBell())
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(5)]})
    first = await claim(api.deps.sessions, connection_id=connection_id, limit=2, lease_s=15)
    second = await claim(api.deps.sessions, connection_id=connection_id, limit=1, lease_s=15)
    await announce(api.deps.sessions, {c.link_id: c for c in first}, "K", [c.link_id for c in first], ())
    async with transaction(api.deps.sessions) as session:  # both holders died: their leases run out
        await session.execute(update(Link).where(Link.claim_token.is_not(None))
                              .values(claimed_until=utcnow() - timedelta(seconds=1)))
    again = await claim(api.deps.sessions, connection_id=connection_id, limit=5, lease_s=15)
    assert [(c.pos_id, c.lost_call_key, c.retries) for c in again] == [("C-0", "K", 0), ("C-1", "K", 0)]
    assert all(c.first_unanswered_at is not None for c in again)
    rest = await claim(api.deps.sessions, connection_id=connection_id, limit=5, lease_s=15)
    assert [(c.pos_id, c.lost_call_key, c.first_unanswered_at, c.retries) for c in rest] == [
        (f"C-{i}", None, None, 0) for i in range(2, 5)]
    assert second[0].pos_id == "C-2"


async def test_a_job_whose_lease_was_taken_over_sends_nothing(api, monkeypatch):
    # Its lease ran out (a long pause) and another job claimed the links: its announce finds them
    # held by that job and stops the call, leaving what that job knows untouched.
    from app.sync.announce import LeaseLost, announce
    from app.sync.claim import claim

    connection_id = uuid.UUID(await api.connect_sandbox())
    monkeypatch.setattr(api.deps, "bell", SilentBell())
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(2)]})
    late = await claim(api.deps.sessions, connection_id=connection_id, limit=2, lease_s=15)
    async with transaction(api.deps.sessions) as session:
        await session.execute(update(Link).values(claimed_until=utcnow() - timedelta(seconds=1)))
    taken = await claim(api.deps.sessions, connection_id=connection_id, limit=2, lease_s=15)
    with pytest.raises(LeaseLost):
        await announce(api.deps.sessions, {c.link_id: c for c in late}, "K-late", [c.link_id for c in late], ())
    await announce(api.deps.sessions, {c.link_id: c for c in taken}, "K", [c.link_id for c in taken], ())
    async with api.deps.sessions() as session:
        rows = (await session.execute(select(Link.lost_call_key, Link.claim_token))).all()
    assert sorted(rows) == [("K", taken[0].claim_token)] * 2


class RecordingBell(SilentBell):
    def __init__(self) -> None:
        self.rings: list[tuple[uuid.UUID, str, uuid.UUID | None]] = []

    async def ring(self, connection_id, *, trigger, run_id=None) -> None:
        self.rings.append((connection_id, trigger, run_id))


async def test_a_sync_now_run_whose_job_never_started_is_closed_and_its_record_rung(api, monkeypatch):
    # Its worker died holding the job id (arq keeps it for the job's whole time-out), so re-ringing
    # it is swallowed; the sweeper closes the run and rings the connection as usual instead.
    from app.sync.sweeper import never_started_after_s
    from app.workers.sweeper import sweep

    connection_id = uuid.UUID(await api.connect_sandbox())
    bell = RecordingBell()
    monkeypatch.setattr(api.deps, "bell", bell)
    stuck_since = utcnow() - timedelta(seconds=never_started_after_s(api.deps) + 1)
    lately = utcnow() - timedelta(seconds=api.deps.settings.sweep_interval_s + 1)
    async with transaction(api.deps.sessions) as session:
        stuck = Run(connection_id=connection_id, trigger="sync_now", status="queued", created_at=stuck_since)
        recent = Run(connection_id=connection_id, trigger="sync_now", status="queued", created_at=lately)
        session.add_all([stuck, recent])
    await sweep(api.deps)
    async with api.deps.sessions() as session:
        stuck_now, recent_now = await session.get(Run, stuck.id), await session.get(Run, recent.id)
    assert (stuck_now.status, stuck_now.finished_at is not None) == ("interrupted", True)
    assert "never started" in stuck_now.error
    assert recent_now.status == "queued"  # rung again with its own id instead
    assert (connection_id, "schedule", None) in bell.rings
    assert (connection_id, "sync_now", recent.id) in bell.rings
