"""Dependencies wake what waits on them.

A record held back by a dependency (a sale by its product, a shift summary by a sale of its
shift being pushed) remembers which one on its link (`waiting_for`). When that record is stored,
or its push on the connection settles (synced, failed or skipped), the links waiting on it are due at once, with no back-off left, whether they were still pending or shown
red because the dependency was missing or refused.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Link, LinkState
from app.models.sync import FORGET_LOST_CALL
from app.models.base import utcnow
from app.sync import bulk

CHUNK = 1000


def wait_key(entity_type: str, pos_id: str) -> str:
    return f"{entity_type}:{pos_id}"


async def wake_waiting(session: AsyncSession, connection_ids: list[uuid.UUID], keys: list[str]) -> set[uuid.UUID]:
    """Make the links of these connections that wait on these records due now; return the connections woken."""
    if not connection_ids or not keys:
        return set()
    now = utcnow()
    if session.bind.dialect.name == "postgresql":
        return await bulk.wake_waiting(session, connection_ids=connection_ids, keys=keys, now=now)
    woken: set[uuid.UUID] = set()
    for start in range(0, len(keys), CHUNK):
        where = (
            Link.connection_id.in_(connection_ids),
            Link.waiting_for.in_(keys[start : start + CHUNK]),
            Link.state.in_([LinkState.PENDING, LinkState.FAILED]),
        )
        woken |= set((await session.scalars(select(Link.connection_id).where(*where).distinct())).all())
        await session.execute(
            update(Link).where(*where)
            .values(state=LinkState.PENDING, next_attempt_at=now, retries=0, waiting_for=None, updated_at=now,
                    **FORGET_LOST_CALL)
            .execution_options(synchronize_session=False)
        )
    return woken
