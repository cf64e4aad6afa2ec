"""Scheduled runs: which connections are due, claimed once across all workers.

Each scheduled connection holds its next due moment in `connections.next_run_at`. A tick moves a
due connection's moment on with a compare-and-set (the UPDATE only matches while the moment is the
one this tick read), so however many workers tick at once, one of them wins each due moment and
rings once. It works the same on PostgreSQL and SQLite (embedded mode has one process anyway).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from app.connections.schedule import next_run_after, schedule_of
from app.connections.settings import COLLECTING
from app.db import transaction
from app.models import Connection
from app.models.base import utcnow
from app.sync.deps import SyncDeps


async def claim_due_runs(deps: SyncDeps, *, now: datetime | None = None) -> list[uuid.UUID]:
    """Connections whose scheduled run is due, each moved on to its next moment; ring these."""
    now = now or utcnow()
    async with transaction(deps.sessions) as session:
        due = (await session.execute(
            select(Connection.id, Connection.next_run_at, Connection.settings)
            .where(Connection.next_run_at <= now, Connection.status.in_(COLLECTING))
            .order_by(Connection.next_run_at)
        )).all()
        claimed = []
        for connection_id, due_at, settings in due:
            moved = await session.execute(
                update(Connection)
                .where(Connection.id == connection_id, Connection.next_run_at == due_at)
                .values(next_run_at=next_run_after(schedule_of(settings), now))
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount:
                claimed.append(connection_id)
    return claimed
