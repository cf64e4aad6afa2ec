"""Catch-up: what the programs changed while their webhooks did not reach possync.

Per connection, every POSSYNC_CATCH_UP_INTERVAL_S, the program is asked what changed since the last
pass (`Reader.changed_since`: QuickBooks' Change Data Capture, at most 30 days back; Xero's
If-Modified-Since over contacts, invoices and credit notes). Each change is stored like a webhook
event and goes through the same processing pass (a run with trigger `webhook`), which reads the
objects back and ignores those possync never made. The time read up to is kept on the connection
(`program_checked_at`). The first pass comes one interval after the connection was made and
looks back to then: a pass on a connection made a moment ago would only find possync's own first
pushes, read back at a cost of several calls to the program's limit.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, func, select, update

from app.connectors.errors import SyncError, TransientError
from app.db import transaction
from app.models import Connection, ConnectionStatus
from app.models.base import utcnow
from app.sync import remote_changes
from app.sync.deps import SyncDeps
from app.webhooks.events import ProgramEvent
from app.webhooks.service import store_events

log = structlog.get_logger(__name__)
# Reads overlap the last pass a little: a change stamped just before it may have been committed after.
OVERLAP = timedelta(seconds=60)


async def connections_due(deps: SyncDeps) -> list[uuid.UUID]:
    """Active connections whose program has not been asked for a catch-up interval."""
    interval = deps.settings.catch_up_interval_s
    readers = [name for name, c in deps.connectors.items() if getattr(c, "changed_since", None) is not None]
    if not interval or not readers:
        return []
    before = utcnow() - timedelta(seconds=interval)
    async with deps.sessions() as session:
        return list((await session.scalars(select(Connection.id).where(
            Connection.status == ConnectionStatus.ACTIVE, Connection.connector.in_(readers),
            func.coalesce(Connection.program_checked_at, Connection.created_at) < before))).all())


async def catch_up(deps: SyncDeps, connection_id: uuid.UUID, *, force: bool = False) -> int:
    """One pass if due (or `force`): the changes found, stored as events for processing."""
    async with deps.sessions() as session:
        connection = await session.get(Connection, connection_id)
    interval = timedelta(seconds=deps.settings.catch_up_interval_s)
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        return 0
    last = connection.program_checked_at
    if not force and (not interval or (last or connection.created_at) > utcnow() - interval):
        return 0
    now = utcnow()
    if not await _take_pass(deps, connection_id, last, now):
        return 0  # another job is doing this pass
    since = (last or connection.created_at) - OVERLAP
    try:
        reading = await remote_changes.program_context(deps, connection)
        if reading is None or getattr(reading[0], "changed_since", None) is None:
            return 0
        changed = await reading[0].changed_since(reading[1], since)
    except SyncError as exc:
        # A passing failure is tried again at the next ring; one that needs the shop (tokens gone)
        # waits for the next interval rather than fail every pass meanwhile.
        if isinstance(exc, TransientError):
            await _give_back(deps, connection_id, now, last)
        log.warning("catch_up_failed", connection_id=str(connection_id), error=exc.message)
        return 0
    events = [_event(connection, kind, object_id, now) for kind, object_id in changed]
    async with transaction(deps.sessions) as session:
        await store_events(session=session, provider=connection.connector, events=events)
    log.info("catch_up_read", connection_id=str(connection_id), since=since.isoformat(), changes=len(events))
    return len(events)


def _event(connection: Connection, kind: str, object_id: str, now: datetime) -> ProgramEvent:
    key = hashlib.sha256(f"{kind}\x1f{object_id}\x1f{now.isoformat()}".encode()).hexdigest()
    return ProgramEvent(event_key=f"catch-up:{key}", tenant_id=connection.tenant_id or "", object_kind=kind,
                        object_id=object_id, operation="update", occurred_at=None, payload={"source": "catch-up"})


async def _take_pass(deps: SyncDeps, connection_id: uuid.UUID, last: datetime | None, now: datetime) -> bool:
    """Move the connection's mark from `last` to `now` unless another job moved it first."""
    same = Connection.program_checked_at.is_(None) if last is None else Connection.program_checked_at == last
    async with transaction(deps.sessions) as session:
        moved = await session.execute(update(Connection).where(and_(Connection.id == connection_id, same))
                                      .values(program_checked_at=now).execution_options(synchronize_session=False))
    return bool(moved.rowcount)


async def _give_back(deps: SyncDeps, connection_id: uuid.UUID, now: datetime, last: datetime | None) -> None:
    async with transaction(deps.sessions) as session:
        await session.execute(update(Connection).where(Connection.id == connection_id,
                                                       Connection.program_checked_at == now)
                              .values(program_checked_at=last).execution_options(synchronize_session=False))
