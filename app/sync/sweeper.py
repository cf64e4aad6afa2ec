"""Re-rings connections whose due pending links nobody picked up (Redis was down, a worker died)."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, or_, select

from app.models import Connection, ConnectionStatus, Link, LinkState, RunTrigger
from app.models.base import utcnow
from app.observability import metrics
from app.sync.deps import SyncDeps


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
        return list((await session.scalars(query)).all())


async def sweep(deps: SyncDeps) -> int:
    connection_ids = await due_connections(deps)
    for connection_id in connection_ids:
        await deps.bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    if connection_ids:
        metrics.SWEEPS.inc()
    return len(connection_ids)
