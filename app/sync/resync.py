"""Re-sync a period: every record of it checked against the program, and only what is missing or
different there sent again (the repair tool for books edited by hand).

A record belongs to the period by its own moment: a sale's date, a shift's close, a purchase
order's date; customers, suppliers and products (no moment of their own) by when the POS last sent
them. For each, the program's object is read back (Reader.fetch_remote, in batches):

- found and as possync left it: untouched (counted as `skipped` on the resync run);
- gone there (deleted, voided by the bookkeeper) or never made: sent again (`updated`);
- changed there since possync's last push: the POS version is sent over it (`updated`) — the shop
  asked for the period to match the POS, which answers `when_changed_in_program` like SYNC NOW.

The re-sends go through the usual pushes (their runs show what they did). The resync run is made
by the API (trigger `resync`, its period in `params`) and done by the worker that processes the
connection's program changes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select, update

from app.connectors.errors import SyncError
from app.db import transaction
from app.entities import ENTITY_TYPES
from app.models import Connection, Link, LinkState, Record, Run, RunStatus, RunTrigger
from app.models.base import utcnow
from app.sync import remote_changes
from app.sync.deps import SyncDeps

log = structlog.get_logger(__name__)
MAX_PERIOD = timedelta(days=366)
CHUNK = 200  # links read back per round
_MOMENT_FIELDS = {"sale": ("date",), "shift_report": ("closed_at", "opened_at"), "purchase_order": ("date",
                                                                                                      "received_at")}


async def request_resync(session, *, connection: Connection, start: datetime, end: datetime,
                         entity_types: list[str]) -> Run:
    """The resync run, queued (flushed; the caller commits and rings the program-changes job)."""
    run = Run(connection_id=connection.id, trigger=RunTrigger.RESYNC, status=RunStatus.QUEUED,
              params={"from": start.isoformat(), "to": end.isoformat(), "entity_types": entity_types})
    session.add(run)
    await session.flush()
    return run


async def run_queued_resyncs(deps: SyncDeps, connection_id: uuid.UUID) -> int:
    """Do the connection's queued resync runs, oldest first; how many were done."""
    done = 0
    while True:
        async with transaction(deps.sessions) as session:
            run = await session.scalar(
                select(Run).where(Run.connection_id == connection_id, Run.trigger == RunTrigger.RESYNC,
                                  Run.status == RunStatus.QUEUED)
                .order_by(Run.created_at).limit(1).with_for_update(skip_locked=True))
            if run is None:
                return done
            run.status, run.started_at, run.heartbeat_at = RunStatus.RUNNING, utcnow(), utcnow()
            run_id, params = run.id, dict(run.params or {})
        error = None
        try:
            same, resent = await _resync(deps, connection_id, run_id, params)
        except SyncError as exc:
            same, resent, error = 0, 0, exc.message
        async with transaction(deps.sessions) as session:
            await session.execute(update(Run).where(Run.id == run_id).values(
                status=RunStatus.FAILED if error else RunStatus.FINISHED, error=error, finished_at=utcnow(),
                skipped=same, updated=resent))
        if resent and deps.bell is not None:
            await deps.bell.ring(connection_id, trigger=RunTrigger.RESYNC)
        log.info("resync_finished", connection_id=str(connection_id), run_id=str(run_id), same=same, resent=resent,
                 error=error)
        done += 1


async def _resync(deps: SyncDeps, connection_id: uuid.UUID, run_id: uuid.UUID, params: dict) -> tuple[int, int]:
    start, end = datetime.fromisoformat(params["from"]), datetime.fromisoformat(params["to"])
    async with deps.sessions() as session:
        connection = await session.get(Connection, connection_id)
        rows = (await session.execute(
            select(Link.id, Link.entity_type, Record.payload, Record.updated_at)
            .join(Record, Record.id == Link.record_id)
            .where(Link.connection_id == connection_id, Link.entity_type.in_(params["entity_types"]),
                   Record.deleted_at.is_(None), Link.state != LinkState.SKIPPED))).all()
    in_period = [link_id for link_id, entity_type, payload, updated_at in rows
                 if start <= _moment(entity_type, payload, updated_at) <= end]
    reading = await remote_changes.program_context(deps, connection)
    same = resent = 0
    for begin in range(0, len(in_period), CHUNK):
        chunk_same, chunk_resent = await _check(deps, reading, in_period[begin:begin + CHUNK])
        same, resent = same + chunk_same, resent + chunk_resent
        async with transaction(deps.sessions) as session:
            await session.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow()))
    return same, resent


async def _check(deps: SyncDeps, reading, link_ids: list[int]) -> tuple[int, int]:
    """Read one chunk back and queue what is missing or different; (same, re-queued)."""
    async with deps.sessions() as session:
        rows = (await session.execute(select(Link, Record).join(Record, Record.id == Link.record_id)
                                      .where(Link.id.in_(link_ids)))).all()
    remote = {} if reading is None else await remote_changes.read_back(reading[0], reading[1], rows)
    marks: dict[int, str | None] = {}
    for link, _record in rows:
        found = remote.get(link.id)
        if link.external_id is None:
            if link.state != LinkState.SYNCED:
                marks[link.id] = None  # never made there: send it
        elif found is not None and found.status in ("deleted", "voided") and link.action not in (
                "voided", "deleted", "archived"):
            marks[link.id] = remote_changes.RECREATE
        elif found is not None and found.status == "active" and remote_changes.changed_there(link, found):
            marks[link.id] = remote_changes.OVERWRITE
    now = utcnow()
    async with transaction(deps.sessions) as session:
        for link_id, mark in marks.items():
            await session.execute(
                update(Link).where(Link.id == link_id)
                .values(state=LinkState.PENDING, next_attempt_at=now, retries=0, waiting_for=None,
                        program_change=mark, updated_at=now))
    return len(rows) - len(marks), len(marks)


def _moment(entity_type: str, payload: dict, updated_at: datetime) -> datetime:
    for name in _MOMENT_FIELDS.get(entity_type, ()):
        value = payload.get(name)
        if value:
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return updated_at


def resyncable(connector, settings) -> list[str]:
    """The entity types a resync of this connection checks by default: those it syncs."""
    return [name for name in ENTITY_TYPES if connector.syncs(name, settings)]
