"""The sweeper's pass: close dead runs, re-ring lost SYNC NOWs and connections with due work
(app.workers.periodic runs it: an arq cron job, or a loop in embedded mode)."""

from __future__ import annotations

import structlog

from app.models import RunTrigger
from app.observability import metrics
from app.sync.deps import SyncDeps
from app.sync.sweeper import close_dead_runs, close_unstarted_runs, due_connections, unstarted_runs

log = structlog.get_logger(__name__)


async def sweep(deps: SyncDeps) -> int:
    await close_dead_runs(deps)
    for connection_id in await close_unstarted_runs(deps):
        await deps.bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    for run_id, connection_id in await unstarted_runs(deps):
        # The run's job id is the run's own: a job still queued or running swallows this ring.
        await deps.bell.ring(connection_id, trigger=RunTrigger.SYNC_NOW, run_id=run_id)
    connection_ids = await due_connections(deps)
    for connection_id in connection_ids:
        await deps.bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    if connection_ids:
        metrics.SWEEPS.inc()
    return len(connection_ids)
