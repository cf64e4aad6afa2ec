"""Bounded logs: attempts older than POSSYNC_ATTEMPTS_KEEP_DAYS and runs older than
POSSYNC_RUNS_KEEP_DAYS are deleted in batches, each batch its own short transaction.

The latest attempt of each link is always kept: it is what REFRESH LOGS and the Error log show for
a record that has not been tried since. Attempt ids grow with time, so old attempts are walked from
the lowest id up in id ranges (the primary key), stopping at the range that reaches the cut-off;
no index on created_at is needed and nothing newer is scanned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import aliased

from app.db import transaction
from app.models import Attempt, Connection, Run, RunStatus
from app.models.base import utcnow
from app.sync.deps import SyncDeps


@dataclass
class Pruned:
    attempts: int = 0
    runs: int = 0


async def prune_attempts(deps: SyncDeps, *, keep_days: int, batch: int) -> int:
    cutoff = utcnow() - timedelta(days=keep_days)
    async with deps.sessions() as session:
        lowest, highest = (await session.execute(select(func.min(Attempt.id), func.max(Attempt.id)))).one()
    if lowest is None:
        return 0
    later = aliased(Attempt)
    deleted = 0
    start = lowest - 1
    while start < highest:
        end = start + batch
        async with transaction(deps.sessions) as session:
            result = await session.execute(
                delete(Attempt)
                .where(Attempt.id > start, Attempt.id <= end, Attempt.created_at < cutoff,
                       exists().where(later.link_id == Attempt.link_id, later.id > Attempt.id))
                .execution_options(synchronize_session=False)
            )
            deleted += result.rowcount or 0
            newest = await session.scalar(
                select(func.max(Attempt.created_at)).where(Attempt.id > start, Attempt.id <= end)
            )
        if newest is not None and newest >= cutoff:
            break  # this range reached the cut-off: everything after it is newer
        start = end
    return deleted


async def prune_runs(deps: SyncDeps, *, keep_days: int, batch: int) -> int:
    """Finished runs older than the cut-off, connection by connection (their index leads with it)."""
    cutoff = utcnow() - timedelta(days=keep_days)
    async with deps.sessions() as session:
        connection_ids = list((await session.scalars(select(Connection.id))).all())
    deleted = 0
    for connection_id in connection_ids:
        while True:
            old = (
                select(Run.id)
                .where(Run.connection_id == connection_id, Run.created_at < cutoff,
                       Run.status.notin_([RunStatus.QUEUED, RunStatus.RUNNING]))
                .limit(batch)
            )
            async with transaction(deps.sessions) as session:
                result = await session.execute(
                    delete(Run).where(Run.id.in_(old.scalar_subquery())).execution_options(synchronize_session=False)
                )
            count = result.rowcount or 0
            deleted += count
            if count < batch:
                break
    return deleted


async def prune_logs(deps: SyncDeps) -> Pruned:
    settings = deps.settings
    return Pruned(
        attempts=await prune_attempts(deps, keep_days=settings.attempts_keep_days, batch=settings.prune_batch),
        runs=await prune_runs(deps, keep_days=settings.runs_keep_days, batch=settings.prune_batch),
    )
