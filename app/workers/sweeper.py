"""The sweeper's pass and, in embedded mode, its loop (arq runs the pass as a cron job instead)."""

from __future__ import annotations

import asyncio

import structlog

from app.models import RunTrigger
from app.observability import metrics
from app.sync.deps import SyncDeps
from app.sync.sweeper import close_dead_runs, due_connections, unstarted_runs
from app.webhooks.processing import ring_for_waiting_events

log = structlog.get_logger(__name__)


async def sweep(deps: SyncDeps) -> int:
    await close_dead_runs(deps)
    for run_id, connection_id in await unstarted_runs(deps):
        # The run's job id is the run's own: a job still queued or running swallows this ring.
        await deps.bell.ring(connection_id, trigger=RunTrigger.SYNC_NOW, run_id=run_id)
    connection_ids = await due_connections(deps)
    for connection_id in connection_ids:
        await deps.bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    if connection_ids:
        metrics.SWEEPS.inc()
    return len(connection_ids)


async def sweep_forever(deps: SyncDeps) -> None:
    """Embedded mode's sweeper: every POSSYNC_SWEEP_INTERVAL_S, whatever failed last time."""
    while True:
        try:
            await sweep(deps)
            await ring_for_waiting_events(deps)
        except Exception as exc:  # noqa: BLE001 - the database may be away; the next pass tries again
            log.warning("sweep_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(deps.settings.sweep_interval_s)
