"""A sync run: one job's pass over the due pending links of one connection."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime, timedelta

import structlog
from sqlalchemy import case, func, select, update

from app.connectors.errors import ConnectionBroken, TokenRefused
from app.db import transaction
from app.models import Connection, ConnectionStatus, Link, LinkState, Run, RunStatus, RunTrigger
from app.models.base import utcnow
from app.observability import metrics
from app.sync.claim import adopt, claim
from app.connections.schedule import schedule_of
from app.connections.settings import typed_settings
from app.connections.credentials import usable_credentials
from app.sync.settings_guard import settings_now
from app.sync.deps import SyncDeps
from app.sync.lease import LeaseKeeper, kept_leases, retrying
from app.sync.push import BatchScope, ConnectionStopped, process

log = structlog.get_logger(__name__)


class RunCounts(Counter):
    """A run's outcome counts; `yielded` when it stopped for other jobs and queued its next turn;
    `next_free_at` when the connection's next pending link is free (None: none is pending), if the
    run looked it up (`looked_ahead`) to know it was done."""

    yielded: bool = False
    looked_ahead: bool = False
    next_free_at: datetime | None = None


async def sync_connection(
    deps: SyncDeps, connection_id: uuid.UUID, *, run_id: uuid.UUID | None = None, trigger: str = RunTrigger.SCHEDULE
) -> RunCounts:
    """Push every due pending link of the connection, batch after batch, until none is left, or
    until other jobs wait for a worker: then its next turn queues up behind them.

    A run row is created on the first claimed batch (a wake-up that finds nothing leaves no trace),
    unless the caller made one already (SYNC NOW).
    """
    counts = RunCounts()
    async with deps.autocommit() as session:
        connection = await session.get(Connection, connection_id)
    if connection is None or not await _ready(deps, connection):
        await _finish(deps, run_id, counts, error=None if connection is None else connection.status_reason)
        return counts
    connector = deps.connectors[connection.connector]
    structlog.contextvars.bind_contextvars(connection_id=str(connection_id))
    error = None
    leases: LeaseKeeper | None = None
    try:
        async with kept_leases(deps, connection_id) as leases:
            leases.run_id = run_id
            counts.yielded = await _push_batches(deps, connection, connector, leases, counts, trigger=trigger)
    except ConnectionStopped as stop:
        error = stop.cause.message
        await _stop_connection(deps, connection_id, stop.cause)
    except ConnectionBroken as broken:  # raised by a token refresh
        error = broken.message
        await _stop_connection(deps, connection_id, broken)
    except BaseException as exc:
        # A database error or a cancelled job (SIGTERM): the run ends now, if the database lets us;
        # otherwise the sweeper closes it once its heartbeat stops.
        if leases is not None and leases.run_id is not None:
            await asyncio.shield(_interrupt_quietly(deps, leases.run_id, exc))
        raise
    finally:
        structlog.contextvars.unbind_contextvars("connection_id", "run_id")
        for outcome, n in counts.items():
            metrics.PUSHES.labels(connector=connector.name, outcome=outcome).inc(n)
    run_id = leases.run_id if leases is not None else run_id
    await _finish(deps, run_id, counts, error=error)
    if counts:
        log.info("run_finished", run_id=str(run_id), connection_id=str(connection_id), **counts)
    if error is None:
        if counts.yielded:
            # Its next turn: a job queued now waits behind those already queued. A ring, not a
            # deferred one, so a connection on a schedule goes on with its run too.
            await deps.bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
        else:
            await ring_when_due(deps, connection_id, rings_on_change=schedule_of(connection.settings).rings_on_change,
                                known=counts)
    return counts


async def _push_batches(deps: SyncDeps, connection: Connection, connector, leases: LeaseKeeper, counts: Counter,
                        *, trigger: str) -> bool:
    """Batch after batch until none is due (False), or until other jobs wait for a worker (True);
    the run is made on the first batch (leases.run_id)."""
    connection_id = connection.id
    # Before any claim: a connection whose tokens cannot be refreshed leaves its work unclaimed.
    credentials = await usable_credentials(deps, connector, connection)
    scope: BatchScope | None = None
    helped = False
    async for claimed, reserved in _batches(deps, connection_id, connector.batch_size, leases, trigger, counts):
        if not helped and len(claimed) >= connector.batch_size:
            # A full batch has more behind it, likely: the connection's other job slots join in (a
            # ring wakes the first slot only, so a shop's single sale costs one job, not one a slot).
            await deps.bell.ring_more(connection_id)
            helped = True
        if scope is None:
            run_id = leases.run_id
            structlog.contextvars.bind_contextvars(run_id=str(run_id))
            scope = BatchScope(
                deps=deps,
                connection_id=connection_id,
                store_id=connection.store_id,
                connector=connector,
                settings=typed_settings(deps.connectors, connection),
                credentials=credentials,
                tenant_key=f"{connector.name}:{connection.tenant_id or connection_id}",
                run_id=run_id,
            )
        else:
            async with deps.autocommit() as session:
                scope.settings = await settings_now(session, connection_id, type(scope.settings))
        done = await _process_refreshing_once(scope, claimed, connection)
        counts += done
        leases.settled()
        if reserved and trigger == RunTrigger.SYNC_NOW and _all_settled(claimed, done):
            # The press's own work is done, and nothing of it went back to pending: another claim
            # would come back empty (a round trip of the cashier's wait). Other due links have rings
            # of their own, and `ring_when_due` rings for any that are due when this run ends.
            break
        if len(claimed) >= connector.batch_size and await deps.bell.others_waiting(connection_id):
            # A backlog, and other jobs wait for a worker (other shops' sales, most likely): this
            # connection's next batch queues up behind them, a batch a turn, instead of taking the
            # workers for its whole backlog.
            return True
    return False


async def _batches(deps: SyncDeps, connection_id: uuid.UUID, size: int, leases: LeaseKeeper, trigger: str,
                   counts: RunCounts):
    """(claimed batch, whether SYNC NOW reserved it) until none is due: first what SYNC NOW set
    aside for its run, if any. The run is running from its first batch on (leases.run_id): one
    made beforehand (SYNC NOW) is started then; otherwise the first claim opens it.

    After a batch that was not full, the soonest free pending link says whether another claim
    would find anything (another entity type may be due): a shop's single sale then ends its run
    without an empty claim, and the run's end rings by what the look-up found."""
    made_beforehand = leases.run_id is not None
    if made_beforehand:
        reserved = await adopt(deps.autocommit, run_id=leases.run_id)
        if reserved:
            await _start(deps, leases)
            made_beforehand = False
            yield reserved, True
    while True:
        counts.looked_ahead = False  # a look-up is out of date once another claim is made
        opening = None if leases.run_id else Run(id=uuid.uuid4(), connection_id=connection_id, trigger=trigger)
        claimed = await claim(deps.sessions, connection_id=connection_id, limit=size,
                              lease_s=deps.settings.claim_lease_s, opening=opening)
        if not claimed:
            return
        if opening is not None:
            leases.run_id = opening.id
        elif made_beforehand:
            await _start(deps, leases)
            made_beforehand = False
        yield claimed, False
        if len(claimed) < size:
            async with deps.autocommit() as session:
                counts.next_free_at = await _soonest_free(session, connection_id)
            counts.looked_ahead = True
            if counts.next_free_at is None or counts.next_free_at > utcnow():
                return


def _all_settled(claimed: list, done: Counter) -> bool:
    """Every link of the batch has an outcome that is not a retry: none is pending again. A batch
    handed back whole (a token refused, refreshed once) has no outcomes at all."""
    return done["retried"] == 0 and sum(done.values()) >= len(claimed)


async def _process_refreshing_once(scope: BatchScope, claimed, connection: Connection) -> Counter:
    try:
        return await process(scope, claimed)
    except ConnectionStopped as stop:
        if not isinstance(stop.cause, TokenRefused) or scope.refreshed:
            raise
        # Refused earlier than its stated lifetime (clock skew, a revoked access token): one
        # forced refresh for the run; the batch's links are already back to pending.
        scope.refreshed = True
        scope.credentials = await usable_credentials(
            scope.deps, scope.connector, connection, rejected_access_token=scope.credentials.access_token
        )
        return Counter()


async def ring_when_due(deps: SyncDeps, connection_id: uuid.UUID, *, rings_on_change: bool | None = None,
                        known: RunCounts | None = None) -> None:
    """Ring for the connection's pending links: at once if one is due now, else when the soonest
    falls due, if that is within the retry horizon (a short back-off or a dependency on its way
    should not wait for the sweeper). Run at the end of every run, and by every deferred ring when
    its time comes, so a wake-up whose work was done meanwhile costs this query, not a job.

    Links another job holds count from the end of its lease: if that job died, they are due then;
    if it lives, it has settled them or renewed the lease, and the wake-up moves on to that.
    A connection on a schedule (or manual) is left to its tick and SYNC NOW, as by the sweeper.
    `known`: a run that looked the soonest up as it ended (RunCounts.looked_ahead) saves the look-up.
    """
    now = utcnow()
    async with deps.autocommit() as session:
        if rings_on_change is None:
            stored = await session.scalar(select(Connection.settings).where(Connection.id == connection_id))
            rings_on_change = schedule_of(stored).rings_on_change
        if not rings_on_change:
            return
        if known is not None and known.looked_ahead:
            soonest = known.next_free_at
        else:
            soonest = await _soonest_free(session, connection_id)
    if soonest is None or soonest > now + timedelta(seconds=deps.settings.retry_horizon_s):
        return
    if soonest <= now:
        await deps.bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    else:
        await deps.bell.ring_at(connection_id, soonest)


async def _soonest_free(session, connection_id: uuid.UUID) -> datetime | None:
    """When the connection's next pending link may be claimed (None: none is pending). Links
    another job holds count from the end of its lease."""
    free_at = case((Link.claimed_until > Link.next_attempt_at, Link.claimed_until), else_=Link.next_attempt_at)
    return await session.scalar(
        select(func.min(free_at)).where(Link.connection_id == connection_id, Link.state == LinkState.PENDING)
    )


async def _ready(deps: SyncDeps, connection: Connection) -> bool:
    if connection.status == ConnectionStatus.ACTIVE:
        return True
    if connection.status == ConnectionStatus.PAUSED and connection.paused_until and connection.paused_until <= utcnow():
        async with transaction(deps.sessions) as session:
            await session.execute(
                update(Connection)
                .where(Connection.id == connection.id, Connection.status == ConnectionStatus.PAUSED)
                .values(status=ConnectionStatus.ACTIVE, status_reason=None, paused_until=None)
            )
        return True
    return False


async def _stop_connection(deps: SyncDeps, connection_id: uuid.UUID, cause: ConnectionBroken) -> None:
    values = {"status_reason": cause.advice or cause.message}
    if cause.pause_s:
        values.update(status=ConnectionStatus.PAUSED, paused_until=utcnow() + timedelta(seconds=cause.pause_s))
    else:
        values.update(status=ConnectionStatus.RECONNECT_REQUIRED)
    async with transaction(deps.sessions) as session:
        await session.execute(update(Connection).where(Connection.id == connection_id).values(**values))
    log.warning("connection_stopped", reason=cause.message, paused=bool(cause.pause_s))


async def _start(deps: SyncDeps, leases: LeaseKeeper) -> None:
    """A run made beforehand (SYNC NOW) is running; in the same transaction its first batch's lease
    is renewed (its reservation may be close to running out) and its heartbeat stamped."""
    now = utcnow()
    async with transaction(deps.sessions) as session:
        await session.execute(
            update(Run).where(Run.id == leases.run_id)
            .values(status=RunStatus.RUNNING, started_at=now, heartbeat_at=now)
        )
        await leases.extend_links(session, now)


async def _finish(deps: SyncDeps, run_id: uuid.UUID | None, counts: Counter, *, error: str | None) -> None:
    if run_id is None:
        return
    now = utcnow()
    async with transaction(deps.autocommit) as session:  # one statement: on PostgreSQL, no BEGIN or COMMIT
        await session.execute(
            update(Run).where(Run.id == run_id)
            .values(status=RunStatus.FAILED if error else RunStatus.FINISHED, error=error, finished_at=now,
                    started_at=func.coalesce(Run.started_at, now))
            .execution_options(synchronize_session=False)
        )


async def _interrupt_quietly(deps: SyncDeps, run_id: uuid.UUID, exc: BaseException) -> None:
    reason = "the job was stopped" if isinstance(exc, asyncio.CancelledError) else f"the job failed: {type(exc).__name__}"
    # If the database stays away, the sweeper closes the run once its heartbeat is old enough.
    await retrying(lambda: interrupt_runs(deps, [run_id], reason=reason), what="run_interrupt")


async def interrupt_runs(deps: SyncDeps, run_ids: list[uuid.UUID], *, reason: str) -> int:
    """Close runs whose job is gone: `interrupted`, with the counts they reached."""
    if not run_ids:
        return 0
    now = utcnow()
    async with transaction(deps.sessions) as session:
        result = await session.execute(
            update(Run)
            .where(Run.id.in_(run_ids), Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]))
            .values(status=RunStatus.INTERRUPTED, error=reason, finished_at=now,
                    started_at=func.coalesce(Run.started_at, now))
            .execution_options(synchronize_session=False)
        )
    return result.rowcount or 0
