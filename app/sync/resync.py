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
by the API (trigger `resync`, its period in `params`) and done by a job of its own (app.workers:
`resync_period`), in slices: a slice pages through the connection's links by id, reads the
period's back in chunks, and after each page keeps its place and counts in the run's `params` and
beats the run's heart. After SLICE_S it hands the run back (queued, its place kept) and rings for
the next slice, so no job outlives its time-out and webhook processing never waits behind a
resync. A slice whose worker died is taken over from its last kept place once its heartbeat is
STALE_S old (the sweeper rings for it), at most MAX_TAKEOVERS times.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import and_, func, or_, select, update

from app.connectors.errors import SyncError, TransientError
from app.db import transaction
from app.entities import ENTITY_TYPES
from app.models import Connection, Link, LinkState, Record, Run, RunStatus, RunTrigger
from app.models.sync import FORGET_LOST_CALL
from app.models.base import utcnow
from app.sync import remote_changes
from app.sync.deps import SyncDeps

log = structlog.get_logger(__name__)
MAX_PERIOD = timedelta(days=366)
CHUNK = 200  # links read back per round (a heartbeat after each)
PAGE = 1000  # links looked at per page; the place is kept after each
SLICE_S = 120.0  # a job works this long, then hands the run to the next slice (see RESYNC_JOB_TIMEOUT_S)
STALE = timedelta(seconds=120)  # a running slice without a heartbeat this long lost its worker
MAX_TAKEOVERS = 5
_MOMENT_FIELDS = {"sale": ("date",), "shift_report": ("closed_at", "opened_at"), "purchase_order": ("date",
                                                                                                      "received_at")}


async def request_resync(session, *, connection: Connection, start: datetime, end: datetime,
                         entity_types: list[str]) -> Run:
    """The resync run, queued (flushed; the caller commits and rings its job: Bell.ring_resync)."""
    run = Run(connection_id=connection.id, trigger=RunTrigger.RESYNC, status=RunStatus.QUEUED,
              params={"from": start.isoformat(), "to": end.isoformat(), "entity_types": entity_types})
    session.add(run)
    await session.flush()
    return run


class LostRun(Exception):
    """Another job took the run over (this one's heartbeat had stopped long enough)."""


async def run_resync(deps: SyncDeps, run_id: uuid.UUID) -> str:
    """One slice of a resync run: "finished", "failed", "more" (handed back and rung again), or
    "not_mine" (already done, or held by a live job)."""
    taken = await _take(deps, run_id)
    if taken is None:
        return "not_mine"
    connection_id, params, beat = taken
    progress = dict(params.get("progress") or {"after": 0, "same": 0, "resent": 0, "slices": 0})
    progress["slices"] = progress.get("slices", 0) + 1
    deadline = time.monotonic() + SLICE_S
    try:
        async with deps.sessions() as session:
            connection = await session.get(Connection, connection_id)
        reading = await remote_changes.program_context(deps, connection)
        while True:
            page = await _page(deps, connection_id, params, after=progress["after"])
            if not page.link_ids:
                break
            resent = 0
            for begin in range(0, len(page.in_period), CHUNK):
                same, again = await _check(deps, reading, page.in_period[begin:begin + CHUNK])
                progress["same"], progress["resent"] = progress["same"] + same, progress["resent"] + again
                resent += again
                beat = await _beat(deps, run_id, beat)
            progress["after"] = page.link_ids[-1]
            beat = await _beat(deps, run_id, beat, params={**params, "progress": progress})
            if resent and deps.bell is not None:
                await deps.bell.ring(connection_id, trigger=RunTrigger.RESYNC)  # re-sends start at once
            if time.monotonic() >= deadline:
                await _hand_back(deps, run_id, beat)
                if deps.bell is not None:
                    await deps.bell.ring_resync(connection_id, run_id)
                log.info("resync_slice_done", run_id=str(run_id), **progress)
                return "more"
    except LostRun:
        log.warning("resync_taken_over", run_id=str(run_id))
        return "not_mine"
    except TransientError as exc:
        # The program is busy or away: hand back with the place kept; the sweeper rings again.
        await _hand_back(deps, run_id, beat)
        log.warning("resync_slice_paused", run_id=str(run_id), error=exc.message)
        return "more"
    except SyncError as exc:
        await _finish(deps, run_id, {**params, "progress": progress}, error=exc.message)
        return "failed"
    await _finish(deps, run_id, {**params, "progress": progress}, error=None)
    return "finished"


@dataclass(frozen=True)
class _Page:
    link_ids: list[int]  # every link of the page, in id order (where the next page starts)
    in_period: list[int]  # those whose record belongs to the period


async def _page(deps: SyncDeps, connection_id: uuid.UUID, params: dict, *, after: int) -> _Page:
    start, end = datetime.fromisoformat(params["from"]), datetime.fromisoformat(params["to"])
    async with deps.sessions() as session:
        rows = (await session.execute(
            select(Link.id, Link.entity_type, Record.payload, Record.updated_at)
            .join(Record, Record.id == Link.record_id)
            .where(Link.connection_id == connection_id, Link.entity_type.in_(params["entity_types"]),
                   Record.deleted_at.is_(None), Link.state != LinkState.SKIPPED, Link.id > after)
            .order_by(Link.id).limit(PAGE))).all()
    return _Page([row[0] for row in rows], [link_id for link_id, entity_type, payload, updated_at in rows
                                            if start <= _moment(entity_type, payload, updated_at) <= end])


def _last_sign():
    return func.coalesce(Run.heartbeat_at, Run.started_at, Run.created_at)


async def _take(deps: SyncDeps, run_id: uuid.UUID) -> tuple[uuid.UUID, dict, datetime] | None:
    """Take the run: queued (new, or handed back by the last slice), or running with a stopped
    heartbeat (its worker died: taken over from its last kept place)."""
    now = utcnow()
    async with transaction(deps.sessions) as session:
        run = await session.scalar(select(Run).where(Run.id == run_id, Run.trigger == RunTrigger.RESYNC)
                                   .with_for_update())
        if run is None:
            return None
        params = dict(run.params or {})
        if run.status == RunStatus.RUNNING and run.heartbeat_at is not None and run.heartbeat_at >= now - STALE:
            return None  # a live job holds it
        if run.status == RunStatus.RUNNING:
            params["takeovers"] = params.get("takeovers", 0) + 1
            if params["takeovers"] > MAX_TAKEOVERS:
                run.status, run.finished_at, run.params = RunStatus.FAILED, now, params
                run.error = f"Its job stopped {MAX_TAKEOVERS + 1} times; start the resync again."
                return None
        elif run.status != RunStatus.QUEUED:
            return None
        run.status, run.heartbeat_at, run.params = RunStatus.RUNNING, now, params
        run.started_at = run.started_at or now
        return run.connection_id, params, now


async def _beat(deps: SyncDeps, run_id: uuid.UUID, last: datetime, params: dict | None = None) -> datetime:
    """Renew the heartbeat (and keep the place), if the run is still this job's; else LostRun."""
    now = utcnow()
    values: dict = {"heartbeat_at": now}
    if params is not None:
        values["params"] = params
    async with transaction(deps.sessions) as session:
        done = await session.execute(update(Run).where(Run.id == run_id, Run.status == RunStatus.RUNNING,
                                                       Run.heartbeat_at == last).values(**values))
    if done.rowcount != 1:
        raise LostRun()
    return now


async def _hand_back(deps: SyncDeps, run_id: uuid.UUID, last: datetime) -> None:
    async with transaction(deps.sessions) as session:
        await session.execute(update(Run).where(Run.id == run_id, Run.status == RunStatus.RUNNING,
                                                Run.heartbeat_at == last).values(status=RunStatus.QUEUED))


async def _finish(deps: SyncDeps, run_id: uuid.UUID, params: dict, *, error: str | None) -> None:
    progress = params["progress"]
    async with transaction(deps.sessions) as session:
        await session.execute(update(Run).where(Run.id == run_id).values(
            status=RunStatus.FAILED if error else RunStatus.FINISHED, error=error, finished_at=utcnow(),
            skipped=progress["same"], updated=progress["resent"], params=params))
    log.info("resync_finished", run_id=str(run_id), same=progress["same"], resent=progress["resent"], error=error)


async def resyncs_to_ring(deps: SyncDeps) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(connection, run) of every resync waiting for a slice, or whose slice's worker died: the
    sweeper rings them (a ring lost to a Redis outage, a job killed mid-slice)."""
    stale = utcnow() - STALE
    async with deps.sessions() as session:
        rows = await session.execute(
            select(Run.connection_id, Run.id).where(
                Run.trigger == RunTrigger.RESYNC,
                or_(Run.status == RunStatus.QUEUED, and_(Run.status == RunStatus.RUNNING, _last_sign() < stale))))
        return [(connection_id, run_id) for connection_id, run_id in rows.all()]


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
                        program_change=mark, updated_at=now, **FORGET_LOST_CALL))
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
