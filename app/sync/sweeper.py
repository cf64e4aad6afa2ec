"""What the sweeper looks for each pass: connections whose due pending links nobody picked up
(Redis was down, a worker died), SYNC NOW runs whose ring was lost, and runs whose job died
(their heartbeat stopped). The pass itself (ringing, the loop) is app.workers.sweeper's."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from sqlalchemy import and_, func, or_, select, update

from app.connections.schedule import schedule_of
from app.db import transaction
from app.models import Connection, ConnectionStatus, Link, LinkState, Run, RunStatus, RunTrigger
from app.models.base import utcnow
from app.sync.deps import SyncDeps
from app.sync.runner import interrupt_runs

log = structlog.get_logger(__name__)


async def due_connections(deps: SyncDeps) -> list[uuid.UUID]:
    now = utcnow()
    ready = or_(
        Connection.status == ConnectionStatus.ACTIVE,
        and_(Connection.status == ConnectionStatus.PAUSED, Connection.paused_until <= now),
    )
    query = (
        select(Link.connection_id)
        .join(Connection, Connection.id == Link.connection_id)
        .where(
            Link.state == LinkState.PENDING,
            Link.next_attempt_at <= now,
            or_(Link.claimed_until.is_(None), Link.claimed_until < now),
            ready,
        )
        .distinct()
    )
    async with deps.sessions() as session:
        due = list((await session.scalars(query)).all())
        if not due:
            return []
        settings = (await session.execute(select(Connection.id, Connection.settings).where(Connection.id.in_(due)))).all()
    # A scheduled or manual connection's pending work waits for its tick or SYNC NOW, not the sweeper.
    return [connection_id for connection_id, stored in settings if schedule_of(stored).rings_on_change]


def dead_after_s(deps: SyncDeps) -> float:
    """A running run whose heartbeat is older than this lost its job: heartbeats come every third
    of a lease, so one whole lease is three missed beats. (A job that was only cut off from the
    database a while still finishes its run itself afterwards.)"""
    return max(float(deps.settings.claim_lease_s), 6.0)


async def close_dead_runs(deps: SyncDeps) -> int:
    stale = utcnow() - timedelta(seconds=dead_after_s(deps))
    last_sign = func.coalesce(Run.heartbeat_at, Run.started_at, Run.created_at)
    async with deps.sessions() as session:
        ids = list((await session.scalars(
            # A resync whose slice stopped is taken over from its kept place instead (app.sync.resync).
            select(Run.id).where(Run.status == RunStatus.RUNNING, last_sign < stale, Run.trigger != RunTrigger.RESYNC)
        )).all())
    closed = await interrupt_runs(deps, ids, reason="its job stopped (a worker died or lost its connections)")
    if closed:
        log.warning("runs_interrupted", count=closed)
    return closed


async def unstarted_runs(deps: SyncDeps) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """SYNC NOW runs still queued a sweep interval after they were made: their ring may be lost."""
    since = utcnow() - timedelta(seconds=deps.settings.sweep_interval_s)
    async with deps.sessions() as session:
        rows = await session.execute(
            # A resync run has a job of its own, which the sweeper rings for it apart.
            select(Run.id, Run.connection_id).where(Run.status == RunStatus.QUEUED, Run.created_at < since,
                                                    Run.trigger != RunTrigger.RESYNC)
        )
        return [(run_id, connection_id) for run_id, connection_id in rows.all()]


def never_started_after_s(deps: SyncDeps) -> float:
    """A SYNC NOW run still queued this long will not start: it was re-rung at least once, and a
    job id whose worker died holding it stays taken in arq for the whole job time-out."""
    return dead_after_s(deps) + deps.settings.sweep_interval_s


async def close_unstarted_runs(deps: SyncDeps) -> list[uuid.UUID]:
    """Close as interrupted the SYNC NOW runs that never started; returns their connections, to
    ring as usual: the record's link is pending and due (its reservation ran out long since)."""
    now = utcnow()
    since = now - timedelta(seconds=never_started_after_s(deps))
    async with transaction(deps.sessions) as session:
        # Only runs still queued: one that started meanwhile is its job's to finish.
        rows = (await session.execute(
            # A resync handed back between slices is queued again, not unstarted: rung apart.
            update(Run).where(Run.status == RunStatus.QUEUED, Run.created_at < since,
                              Run.trigger != RunTrigger.RESYNC)
            .values(status=RunStatus.INTERRUPTED, started_at=now, finished_at=now,
                    error="its job never started (its worker died first, or Redis was away)")
            .returning(Run.connection_id)
        )).scalars().all()
    if rows:
        log.warning("unstarted_runs_interrupted", count=len(rows))
    return list(set(rows))
