"""The real arq worker against Redis and PostgreSQL: the production shape of the flow."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker
from sqlalchemy import func, select

from app.main import create_app
from app.models import Attempt, Link, Run, SandboxObject
from app.sync.bell import ArqBell
from app.sync.deps import build_deps
from app.workers import arq_worker
from tests.conftest import ENCRYPTION_KEY, REDIS_URL, Api, make_settings, new_store_key, wipe

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
TEST_REDIS_DB = "15"


def redis_url() -> str:
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL
    return f"{base}/{TEST_REDIS_DB}"


@pytest.fixture
async def arq_env(migrated):
    settings = make_settings(migrated, REDIS_URL=redis_url(), POSSYNC_SWEEP_INTERVAL_S=3600)
    deps = build_deps(settings)
    await wipe(deps)
    await deps.redis.flushdb()
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    deps.bell = ArqBell(pool, settings.jobs_per_connection)
    app = create_app(settings, deps)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://possync.test") as client:
            api = Api(client, deps, await new_store_key(deps))
            yield settings, deps, api, pool
    await pool.aclose()
    await deps.aclose()


def burst_worker(settings, monkeypatch) -> Worker:
    monkeypatch.setattr(arq_worker, "get_settings", lambda: settings)
    config = arq_worker.worker_settings()
    config.pop("handle_signals")
    return Worker(**config, burst=True, handle_signals=False, poll_delay=0.05)


async def test_arq_worker_pushes_what_the_api_accepted(arq_env, monkeypatch):
    settings, deps, api, pool = arq_env
    connection_id = (await api.post("/v1/connections", {"connector": "sandbox"})).json()["id"]
    for i in range(30):
        assert (await api.put(f"/v1/customers/C-{i}", {"first_name": f"Customer {i}"})).status_code == 201
    bad = await api.put("/v1/customers/C-BAD", {"first_name": "Bad", "email": "x@invalid.example"})
    assert bad.status_code == 201
    queued = await pool.queued_jobs()
    assert {j.function for j in queued} == {"sync_connection"}

    worker = burst_worker(settings, monkeypatch)
    await worker.async_run()
    assert worker.jobs_failed == 0 and worker.jobs_complete >= 1
    await worker.close()

    ids = ",".join([f"C-{i}" for i in range(30)] + ["C-BAD"])
    symbols = Counter(i["symbol"] for i in (await api.get("/v1/customers/sync-status", params={"ids": ids})).json()["items"])
    assert symbols == {"green": 30, "red": 1}
    errors = (await api.get(f"/v1/connections/{connection_id}/errors")).json()["items"]
    assert [e["pos_id"] for e in errors] == ["C-BAD"]


async def test_sweeper_recovers_work_whose_ring_was_lost(arq_env, monkeypatch):
    settings, deps, api, pool = arq_env
    await api.post("/v1/connections", {"connector": "sandbox"})
    await api.put("/v1/customers/C-1", {"first_name": "Lost ring"})
    await deps.redis.flushdb()  # Redis forgot every job: as if it had restarted empty
    worker = burst_worker(settings, monkeypatch)  # its cron sweeper runs at start-up
    await worker.async_run()
    await worker.close()
    assert worker.jobs_failed == 0
    status = await api.get("/v1/customers/sync-status", params={"ids": "C-1"})
    assert status.json()["items"] == [{"id": "C-1", "symbol": "green"}]


def mixed_records(n: int) -> dict[str, list[dict]]:
    """n records over all six types, in the order a POS sends them."""
    per = n // 6
    customers = [{"id": f"C-{i}", "first_name": f"Customer {i}", "email": f"c{i}@example.com"} for i in range(per)]
    suppliers = [{"id": f"S-{i}", "name": f"Supplier {i}"} for i in range(per)]
    products = [{"id": f"P-{i}", "sku": f"SKU-{i}", "name": f"Product {i}", "price": "2.50"} for i in range(per)]
    purchases = [
        {"id": f"PO-{i}", "number": f"PO-{i}", "supplier_id": f"S-{i}", "status": "received",
         "lines": [{"product_id": f"P-{i}", "quantity": "3", "unit_cost": "1.10"}]}
        for i in range(per)
    ]
    sales = [
        {"id": f"SALE-{i}", "number": str(i), "date": "2026-11-27T10:00:00Z", "customer_id": f"C-{i}",
         "lines": [{"product_id": f"P-{i}", "quantity": "1", "unit_price": "2.50"}],
         "payments": [{"payment_type": "Card", "amount": "2.50"}]}
        for i in range(per)
    ]
    shifts = [
        {"id": f"SH-{i}", "register_id": "REG-1", "opened_at": "2026-11-27T08:00:00Z", "sales_total": "2.50",
         "totals_by_payment_type": [{"payment_type": "Card", "amount": "2.50"}]}
        for i in range(n - 5 * per)
    ]
    return {"customers": customers, "suppliers": suppliers, "products": products, "purchases": purchases,
            "sales": sales, "shift-reports": shifts}


async def test_two_worker_processes_sync_1000_records_exactly_once(arq_env):
    settings, deps, api, pool = arq_env
    # Shift totals mode: sales are skipped, shift reports pushed; individual mode is covered above.
    connection_id = (await api.post("/v1/connections", {"connector": "sandbox"})).json()["id"]
    records = mixed_records(1000)
    for collection, items in records.items():
        result = (await api.post(f"/v1/{collection}/batch", {"items": items})).json()
        assert result["accepted"] == len(items), result
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "POSSYNC_ENCRYPTION_KEYS": ENCRYPTION_KEY, "POSSYNC_LOG_LEVEL": "WARNING"}
    started = time.monotonic()
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
    assert time.monotonic() - started < 300

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
