"""Job functions: plain async functions, the same in arq workers and in embedded mode."""

from __future__ import annotations

import uuid

from app.models import RunTrigger
from app.sync.bell import again_key
from app.sync.deps import SyncDeps
from app.sync.runner import sync_connection
from app.sync.sweeper import sweep


async def run_sync(deps: SyncDeps, connection_id: str, run_id: str | None, trigger: str) -> dict[str, int]:
    counts = await sync_connection(
        deps, uuid.UUID(connection_id), run_id=uuid.UUID(run_id) if run_id else None, trigger=trigger
    )
    return dict(counts)


async def sync_connection_job(ctx: dict, connection_id: str, run_id: str | None, trigger: str = RunTrigger.SCHEDULE):
    """arq entry point. Goes round again if it was rung while running (see ArqBell)."""
    deps: SyncDeps = ctx["deps"]
    redis = ctx["redis"]
    flag = again_key(ctx["job_id"])
    totals: dict[str, int] = {}
    while True:
        await redis.delete(flag)
        for name, n in (await run_sync(deps, connection_id, run_id, trigger)).items():
            totals[name] = totals.get(name, 0) + n
        if run_id is not None or not await redis.exists(flag):
            return totals
        run_id = None


async def sweep_job(ctx: dict) -> int:
    return await sweep(ctx["deps"])
