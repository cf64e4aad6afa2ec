"""A sync run: one job's pass over the due pending links of one connection."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import structlog
from sqlalchemy import func, or_, select, update

from app.connectors.errors import ConnectionBroken
from app.db import transaction
from app.models import Connection, ConnectionStatus, Link, LinkState, Run, RunStatus, RunTrigger
from app.models.base import utcnow
from app.observability import metrics
from app.sync.claim import adopt, claim
from app.sync.connections import typed_settings
from app.sync.credentials import usable_credentials
from app.sync.deps import SyncDeps
from app.sync.push import BatchScope, ConnectionStopped, process

log = structlog.get_logger(__name__)
TOKEN_EXPIRED = "token_expired"


async def sync_connection(
    deps: SyncDeps, connection_id: uuid.UUID, *, run_id: uuid.UUID | None = None, trigger: str = RunTrigger.SCHEDULE
) -> Counter:
    """Push every due pending link of the connection, batch after batch, until none is left.

    A run row is created on the first claimed batch (a wake-up that finds nothing leaves no trace),
    unless the caller made one already (SYNC NOW).
    """
    counts: Counter = Counter()
    scope: BatchScope | None = None
    async with deps.sessions() as session:
        connection = await session.get(Connection, connection_id)
    if connection is None or not await _ready(deps, connection):
        await _finish(deps, run_id, counts, error=None if connection is None else connection.status_reason)
        return counts
    connector = deps.connectors[connection.connector]
    structlog.contextvars.bind_contextvars(connection_id=str(connection_id))
    error = None
    refreshed = False
    try:
        reserved = run_id is not None
        while True:
            if reserved:  # SYNC NOW: first what the API set aside for this run
                reserved = False
                claimed = await adopt(deps.sessions, connection_id=connection_id, run_id=run_id)
                if not claimed:
                    continue
            else:
                claimed = await claim(
                    deps.sessions,
                    connection_id=connection_id,
                    limit=connector.batch_size,
                    lease_s=deps.settings.claim_lease_s,
                )
            if not claimed:
                break
            if scope is None:
                run_id = run_id or await _new_run(deps, connection_id, trigger)
                await _start(deps, run_id)
                credentials = await usable_credentials(deps, connector, connection)
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
            try:
                counts += await process(scope, claimed)
            except ConnectionStopped as stop:
                if stop.cause.code != TOKEN_EXPIRED or refreshed:
                    raise
                # Expired earlier than its stated lifetime (clock skew, revoked access token):
                # one forced refresh, then carry on with the same run.
                refreshed = True
                scope.credentials = await usable_credentials(
                    deps, connector, connection, rejected_access_token=scope.credentials.access_token
                )
    except ConnectionStopped as stop:
        error = stop.cause.message
        await _stop_connection(deps, connection_id, stop.cause)
    except ConnectionBroken as broken:  # raised by a token refresh
        error = broken.message
        await _stop_connection(deps, connection_id, broken)
    finally:
        structlog.contextvars.unbind_contextvars("connection_id")
        for outcome, n in counts.items():
            metrics.PUSHES.labels(connector=connector.name, outcome=outcome).inc(n)
    await _finish(deps, run_id, counts, error=error)
    if counts:
        log.info("run_finished", run_id=str(run_id), **counts)
    if error is None:
        await _ring_when_next_due(deps, connection_id)
    return counts


async def _ring_when_next_due(deps: SyncDeps, connection_id: uuid.UUID) -> None:
    """A short back-off (a flaky call, a dependency on its way) should not wait for the sweeper."""
    now = utcnow()
    async with deps.sessions() as session:
        soonest = await session.scalar(
            select(func.min(Link.next_attempt_at)).where(
                Link.connection_id == connection_id,
                Link.state == LinkState.PENDING,
                or_(Link.claimed_until.is_(None), Link.claimed_until < now),
            )
        )
    if soonest is not None and soonest <= now + timedelta(seconds=deps.settings.retry_horizon_s):
        await deps.bell.ring_at(connection_id, max(soonest, now))


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


async def _new_run(deps: SyncDeps, connection_id: uuid.UUID, trigger: str) -> uuid.UUID:
    async with transaction(deps.sessions) as session:
        run = Run(connection_id=connection_id, trigger=trigger, status=RunStatus.QUEUED)
        session.add(run)
        await session.flush()
        return run.id


async def _start(deps: SyncDeps, run_id: uuid.UUID) -> None:
    async with transaction(deps.sessions) as session:
        await session.execute(
            update(Run).where(Run.id == run_id).values(status=RunStatus.RUNNING, started_at=utcnow())
        )


async def _finish(deps: SyncDeps, run_id: uuid.UUID | None, counts: Counter, *, error: str | None) -> None:
    if run_id is None:
        return
    now = utcnow()
    async with transaction(deps.sessions) as session:
        run = await session.get(Run, run_id)
        if run is None:
            return
        run.status = RunStatus.FAILED if error else RunStatus.FINISHED
        run.error = error
        run.started_at = run.started_at or now
        run.finished_at = now
