"""The real arq worker against Redis and PostgreSQL: the production shape of the flow."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.models import Attempt, Link, Run, SandboxObject
from tests.conftest import ENCRYPTION_KEY, arq_stack
from tests.records import mixed_records

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
async def arq_env(migrated):
    async with arq_stack(migrated, POSSYNC_SWEEP_INTERVAL_S=3600) as stack:
        yield stack


async def test_arq_worker_pushes_what_the_api_accepted(arq_env, monkeypatch):
    api, pool = arq_env.api, arq_env.pool
    connection_id = (await api.post("/v1/connections", {"connector": "sandbox"})).json()["id"]
    for i in range(30):
        assert (await api.put(f"/v1/customers/C-{i}", {"first_name": f"Customer {i}"})).status_code == 201
    bad = await api.put("/v1/customers/C-BAD", {"first_name": "Bad", "email": "x@invalid.example"})
    assert bad.status_code == 201
    queued = await pool.queued_jobs()
    assert {j.function for j in queued} == {"sync_connection"}

    (worker,) = await arq_env.run_workers(monkeypatch)
    assert worker.jobs_complete >= 1
    assert worker.ctx["heap"].trims >= 1  # the C heap's free pages given back after the job

    ids = ",".join([f"C-{i}" for i in range(30)] + ["C-BAD"])
    symbols = Counter(i["symbol"] for i in (await api.get("/v1/customers/sync-status", params={"ids": ids})).json()["items"])
    assert symbols == {"green": 30, "red": 1}
    errors = (await api.get(f"/v1/connections/{connection_id}/errors")).json()["items"]
    assert [e["pos_id"] for e in errors] == ["C-BAD"]


async def test_sweeper_recovers_work_whose_ring_was_lost(arq_env, monkeypatch):
    api, deps = arq_env.api, arq_env.deps
    await api.post("/v1/connections", {"connector": "sandbox"})
    await api.put("/v1/customers/C-1", {"first_name": "Lost ring"})
    await deps.redis.flushdb()  # Redis forgot every job: as if it had restarted empty
    await arq_env.run_workers(monkeypatch)  # its cron sweeper runs at start-up
    status = await api.get("/v1/customers/sync-status", params={"ids": "C-1"})
    assert [(i["id"], i["symbol"], i["state"]) for i in status.json()["items"]] == [("C-1", "green", "synced")]


async def test_two_worker_processes_sync_1000_records_exactly_once(arq_env):
    settings, deps, api = arq_env.settings, arq_env.deps, arq_env.api
    # Shift totals mode: sales are skipped, shift reports pushed; individual mode is covered above.
    connection_id = (await api.post("/v1/connections", {"connector": "sandbox"})).json()["id"]
    records = mixed_records(1000)
    for collection, items in records.items():
        result = (await api.post(f"/v1/{collection}/batch", {"items": items})).json()
        assert result["accepted"] == len(items), result
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "POSSYNC_ENCRYPTION_KEYS": ENCRYPTION_KEY, "POSSYNC_LOG_LEVEL": "WARNING"}
    workers = [
        subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--burst"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = []
    for w in workers:
        out, _ = await asyncio.to_thread(w.communicate, timeout=300)
        outputs.append(out.decode())
        assert w.returncode == 0, out.decode()[-3000:]

    async with deps.sessions() as session:
        states = dict((await session.execute(select(Link.state, func.count()).group_by(Link.state))).all())
        pushes = await session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.outcome.in_(["created", "updated"]))
        )
        attempts = await session.scalar(select(func.count()).select_from(Attempt))
        objects = await session.scalar(select(func.count()).select_from(SandboxObject))
        distinct_refs = await session.scalar(
            select(func.count()).select_from(select(SandboxObject.kind, SandboxObject.reference).distinct().subquery())
        )
        runs = (await session.scalars(select(Run))).all()
    shifts = len(records["shift-reports"])
    assert states == {"synced": 1000 - shifts, "skipped": shifts}, states  # individual mode skips shifts
    assert pushes == objects == distinct_refs == 1000 - shifts  # no duplicate in the program
    assert attempts == 1000  # one attempt per record: nothing pushed twice
    assert sum(r.created for r in runs) == 1000 - shifts and sum(r.skipped for r in runs) == shifts
    assert all(r.status == "finished" and str(r.connection_id) == connection_id for r in runs)
    status = await api.get("/v1/sales/sync-status", params={"ids": ",".join(f"SALE-{i}" for i in range(166))})
    assert {i["symbol"] for i in status.json()["items"]} == {"green"}


async def test_a_ring_wakes_one_slot_a_full_batch_the_others_and_a_backlog_takes_turns(arq_env, monkeypatch):
    from app.sync.runner import sync_connection

    api, deps, pool = arq_env.api, arq_env.deps, arq_env.pool
    connection_id = (await api.post("/v1/connections", {"connector": "sandbox"})).json()["id"]
    await arq_env.run_workers(monkeypatch)

    async def queued_slots() -> list[int]:
        return sorted(job.args[-1] for job in await pool.queued_jobs() if job.function == "sync_connection")

    assert (await api.put("/v1/customers/C-1", {"first_name": "One sale's worth"})).status_code == 201
    assert await queued_slots() == [0]  # a sale costs one job
    await arq_env.run_workers(monkeypatch)
    assert await queued_slots() == []
    # Its run left nothing due and no lease behind: no deferred ring either.
    assert not [job for job in await pool.queued_jobs() if job.function == "ring_later"]

    items = [{"id": f"C-{i}", "first_name": "Backlog"} for i in range(2, 122)]
    assert (await api.post("/v1/customers/batch", {"items": items})).status_code == 200
    assert await queued_slots() == [0]
    # Another shop's job waits in the queue: a run with a full batch behind it calls its second slot
    # in, pushes that one batch and queues its next turn behind the other shop's job.
    await deps.bell.ring(uuid.uuid4(), trigger="schedule")
    counts = await sync_connection(deps, uuid.UUID(connection_id))
    assert counts == {"created": 50} and counts.yielded
    assert await queued_slots() == [0, 0, 1]
    assert [job.function for job in await pool.queued_jobs()].count("ring_later") == 0
    await arq_env.run_workers(monkeypatch)
    ids = ",".join(f"C-{i}" for i in range(1, 122))
    status = (await api.get("/v1/customers/sync-status", params={"ids": ids})).json()["items"]
    assert Counter(item["symbol"] for item in status) == {"green": 121}
