"""The periodic jobs: the sweeper's pass, the schedule tick and pruning of old logs. In a worker
they are arq cron jobs (`unique`: one run per tick across all workers); in embedded mode the API
process loops over them itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from app.models import RunTrigger
from app.sync.deps import SyncDeps
from app.sync.pruning import prune_logs
from app.sync.schedules import claim_due_runs
from app.webhooks.processing import ring_for_waiting_events
from app.workers.sweeper import sweep

log = structlog.get_logger(__name__)

PRUNE_INTERVAL_S = 3600  # hourly: each pass only deletes what aged past the cut-off since the last


async def fire_schedules(deps: SyncDeps) -> int:
    """Ring each connection whose scheduled run is due; claimed once across workers."""
    connection_ids = await claim_due_runs(deps)
    for connection_id in connection_ids:
        await deps.bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    return len(connection_ids)


async def sweep_and_ring_events(deps: SyncDeps) -> int:
    swept = await sweep(deps)
    await ring_for_waiting_events(deps)
    return swept


async def prune(deps: SyncDeps) -> dict[str, int]:
    pruned = await prune_logs(deps)
    if pruned.attempts or pruned.runs:
        log.info("logs_pruned", attempts=pruned.attempts, runs=pruned.runs)
    return {"attempts": pruned.attempts, "runs": pruned.runs}


async def sweep_job(ctx: dict) -> int:
    return await sweep_and_ring_events(ctx["deps"])


async def schedule_job(ctx: dict) -> int:
    return await fire_schedules(ctx["deps"])


async def prune_job(ctx: dict) -> dict[str, int]:
    return await prune(ctx["deps"])


def cron_times(interval_s: int) -> dict[str, set[int]]:
    """arq cron fields that fire about every interval_s: seconds of each minute under a minute,
    minutes of each hour under an hour, hours of each day beyond. arq matches clock fields, so an
    interval that does not divide its unit evenly leaves one shorter gap each minute, hour or day
    (every 7 s: …, 49, 56, then 0) rather than drifting."""
    if interval_s < 60:
        return {"second": set(range(0, 60, interval_s))}
    if interval_s < 3600:
        return {"minute": set(range(0, 60, max(1, interval_s // 60))), "second": {0}}
    return {"hour": set(range(0, 24, min(24, interval_s // 3600))), "minute": {0}, "second": {0}}


async def repeat(name: str, interval_s: float, step: Callable[[], Awaitable[object]]) -> None:
    """Embedded mode: run `step` every interval_s until cancelled; a failed pass is logged and retried."""
    while True:
        try:
            await step()
        except Exception as exc:  # noqa: BLE001 - the database may be away; the next pass tries again
            log.warning(f"{name}_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(interval_s)


def embedded_loops(deps: SyncDeps) -> list[asyncio.Task]:
    settings = deps.settings
    return [
        asyncio.create_task(repeat("sweep", settings.sweep_interval_s, lambda: sweep_and_ring_events(deps)),
                            name="sweeper"),
        asyncio.create_task(repeat("schedule", settings.schedule_tick_s, lambda: fire_schedules(deps)),
                            name="scheduler"),
        asyncio.create_task(repeat("prune", PRUNE_INTERVAL_S, lambda: prune(deps)), name="pruner"),
    ]
