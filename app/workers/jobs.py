"""Job functions: plain async functions, the same in arq workers and in embedded mode."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from app.db import database_answers, is_database_outage
from app.models import RunTrigger
from app.sync.deps import SyncDeps
from app.sync.resync import run_resync
from app.sync.runner import ring_when_due, sync_connection
from app.webhooks.processing import process_webhook_events
from app.workers.bell import later_key, webhooks_queued_key
from app.workers.slots import again_key, held_slot, queued_key

log = structlog.get_logger(__name__)
T = TypeVar("T")
# A job that lost the database waits this long for it to answer, and goes round at most this many
# times in all; then it fails and the sweeper takes over.
DATABASE_WAIT_S = 60.0
DATABASE_ROUNDS = 5

# Deletes the deferred-ring marker only if it still names this wake-up (a newer, earlier one may
# have replaced it).
_FORGET_IF_MINE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


async def run_sync(deps: SyncDeps, connection_id: str, run_id: str | None, trigger: str) -> dict[str, int]:
    counts = await sync_connection(
        deps, uuid.UUID(connection_id), run_id=uuid.UUID(run_id) if run_id else None, trigger=trigger
    )
    return dict(counts)


async def sync_connection_job(ctx: dict, connection_id: str, run_id: str | None,
                              trigger: str = RunTrigger.SCHEDULE, slot: int | None = None) -> dict[str, int]:
    """arq entry point: a SYNC NOW run, or one pass per ring while this job holds its slot."""
    return await through_database_outages(
        ctx["deps"].engine, lambda: _sync_in_slot(ctx, connection_id, run_id, trigger, slot))


async def through_database_outages(engine, job: Callable[[], Awaitable[T]]) -> T:
    """Runs `job`, and again at once when the database cut it short (a restart, a dropped
    connection): a cut pass has handed its batch back, so the job waits for the database to answer
    and goes round again, instead of waiting for a retry's delay or the next sweep. The same in
    arq workers and in embedded mode."""
    for round_ in range(1, DATABASE_ROUNDS + 1):
        try:
            return await job()
        except Exception as exc:
            if not is_database_outage(exc) or round_ == DATABASE_ROUNDS:
                raise
            log.warning("job_waits_for_database", error=type(exc).__name__, round=round_)
            if not await database_answers(engine, within_s=DATABASE_WAIT_S):
                raise  # the sweeper rings for the work once the database is back
    raise AssertionError("unreachable")


async def _sync_in_slot(ctx: dict, connection_id: str, run_id: str | None, trigger: str,
                        slot: int | None) -> dict[str, int]:
    deps: SyncDeps = ctx["deps"]
    if run_id is not None:
        return await run_sync(deps, connection_id, run_id, trigger)
    redis = ctx["redis"]
    slot = slot or 0
    flag = again_key(connection_id, slot)
    await redis.delete(queued_key(connection_id, slot))
    totals: Counter = Counter()
    while True:
        async with held_slot(redis, connection_id, slot) as held:
            if not held:
                return dict(totals)  # its holder lives: it sees the ring's flag and goes round once more
            while True:
                await redis.delete(flag)
                counts = await sync_connection(deps, uuid.UUID(connection_id), trigger=trigger)
                totals.update(counts)
                if counts.yielded:
                    # Its next turn is queued behind the jobs that wait: going round now, for a
                    # ring's flag, would take the worker back before them.
                    return dict(totals)
                if not await redis.exists(flag):
                    break
        # A ring between the last look and the release found the slot taken and left its flag:
        # take the slot again rather than leave that ring unanswered.
        if not await redis.exists(flag):
            return dict(totals)


async def ring_later_job(ctx: dict, connection_id: str, at_s: str) -> None:
    """A deferred ring (a back-off ending soon); a fresh job id each time, so it works every time."""
    await ctx["redis"].eval(_FORGET_IF_MINE, 1, later_key(connection_id), at_s)
    await deferred_ring(ctx["deps"], uuid.UUID(connection_id))


async def deferred_ring(deps: SyncDeps, connection_id: uuid.UUID) -> None:
    """A deferred ring's time has come: it rings if work is due by then, or moves on to when it
    will be (app.sync.runner.ring_when_due). If the database cannot say, it rings: the job then
    waits for the database itself."""
    try:
        await ring_when_due(deps, connection_id)
    except Exception as exc:
        if not is_database_outage(exc):
            raise
        await deps.bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)


async def run_webhooks(deps: SyncDeps, connection_id: str) -> int:
    return await process_webhook_events(deps, uuid.UUID(connection_id))


async def process_webhooks_job(ctx: dict, connection_id: str) -> int:
    """arq entry point: process the connection's stored webhook events (one run per batch)."""
    await ctx["redis"].delete(webhooks_queued_key(connection_id))  # rings from now on queue another pass
    return await run_webhooks(ctx["deps"], connection_id)


async def run_resync_slice(deps: SyncDeps, run_id: str) -> str:
    return await run_resync(deps, uuid.UUID(run_id))


async def resync_job(ctx: dict, run_id: str) -> str:
    """arq entry point: one slice of a resync run; the slice rings for the next one itself."""
    return await run_resync_slice(ctx["deps"], run_id)
