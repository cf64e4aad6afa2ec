"""An idle `possync worker` starts a rung job at once: the bell's token wakes it from its wait,
whatever its queue poll interval."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from app.workers import arq_worker
from app.workers.wakeup import MAX_TOKENS, WAKE_KEY, WakeableWorker, wake_workers
from tests.conftest import arq_stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
async def stack(migrated):
    async with arq_stack(migrated, POSSYNC_SWEEP_INTERVAL_S=3600) as stack:
        yield stack


async def test_tokens_are_bounded_and_expire(stack):
    redis = stack.deps.redis
    await wake_workers(stack.pool, 3)
    assert await redis.llen(WAKE_KEY) == 3
    await wake_workers(stack.pool, MAX_TOKENS + 10)
    assert await redis.llen(WAKE_KEY) == MAX_TOKENS
    assert 0 < await redis.ttl(WAKE_KEY) <= 60


@contextlib.asynccontextmanager
async def idle_worker(stack, monkeypatch):
    monkeypatch.setattr(arq_worker, "get_settings", lambda: stack.settings)
    config = arq_worker.worker_settings()
    config.pop("handle_signals")
    worker = WakeableWorker(**config, burst=False, handle_signals=False)
    # An hour between looks at the queue: only a token can make this worker start a job in the test.
    worker.wake_wait_s = 3600
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        # Let the last job's own bookkeeping end first: a job task cancelled mid-finish would make
        # close() raise, skip on_shutdown and leave this worker's deps to the next test's worker.
        deadline = asyncio.get_running_loop().time() + 10
        while worker.job_counter and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()


async def wait_for(predicate, bound_s: float = 60.0) -> None:
    """Poll `predicate` until true; the bound only keeps a broken wake-up from hanging the suite."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound_s
    while not await predicate():
        assert loop.time() < deadline, "the worker never started the job"
        await asyncio.sleep(0.05)


async def test_sync_now_wakes_an_idle_worker(stack, monkeypatch):
    api = stack.api
    connection_id = (await api.post("/v1/connections", {"connector": "sandbox"})).json()["id"]
    assert (await api.put("/v1/customers/C-1", {"first_name": "Woken"})).status_code == 201
    async with idle_worker(stack, monkeypatch) as worker:

        async def green() -> bool:
            items = (await api.get("/v1/customers/sync-status", params={"ids": "C-1"})).json()["items"]
            return items[0]["symbol"] == "green"

        await wait_for(green)  # the PUT's ring, taken by the worker's first look at the queue
        await wait_for(lambda: _idle(worker, stack.deps.redis))  # and every earlier token taken
        run_id = (await api.post("/v1/customers/C-1/sync")).json()["run_id"]

        async def finished() -> bool:
            runs = (await api.get(f"/v1/connections/{connection_id}/runs")).json()["items"]
            return any(r["id"] == run_id and r["status"] == "finished" for r in runs)

        await wait_for(finished)
        assert worker.jobs_complete >= 2


async def _idle(worker: WakeableWorker, redis) -> bool:
    return worker.job_counter == 0 and await redis.llen(WAKE_KEY) == 0
