"""Settings that changed while a batch was being pushed.

A run reads the connection's settings once, then pushes with them. If the shop saves new settings
meanwhile, `apply_settings` re-queues the failed and skipped links it can see, but not those a run
holds at that moment: their outcome is written later, red or green with the old settings. So when
the outcome is written, the settings the batch was pushed with are compared with the connection's
current ones; if they differ, the batch's links go straight back to pending, to be pushed (or
judged) again with the new settings. The attempt keeps what happened with the old ones.

The connection's row is read FOR SHARE: a settings change being saved at the same moment either
commits first (and is seen here) or waits for this write (and then re-queues the failed links itself).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Connection, Link, LinkState
from app.models.sync import FORGET_LOST_CALL


async def repend_if_settings_changed(session: AsyncSession, *, connection_id: uuid.UUID, pushed_with: BaseModel | None,
                                     link_ids: list[int], now: datetime) -> int:
    """Re-queue the batch's links when the connection's settings are no longer those it was pushed with."""
    if pushed_with is None or not link_ids:
        return 0
    current = await session.scalar(
        select(Connection.settings).where(Connection.id == connection_id).with_for_update(read=True)
    )
    now_in_force = type(pushed_with).model_validate(current or {})
    if now_in_force.model_dump(mode="json") == pushed_with.model_dump(mode="json"):
        return 0
    result = await session.execute(
        update(Link)
        .where(Link.id.in_(link_ids), Link.state != LinkState.PENDING, Link.claim_token.is_(None))
        .values(state=LinkState.PENDING, next_attempt_at=now, retries=0, updated_at=now, **FORGET_LOST_CALL)
    )
    return result.rowcount or 0


async def settings_now(session: AsyncSession, connection_id: uuid.UUID, model: type[BaseModel]) -> BaseModel:
    """The connection's settings as they are now: a run reads them again before each batch, so links
    re-queued by a settings change are not pushed once more with the old ones."""
    current = await session.scalar(select(Connection.settings).where(Connection.id == connection_id))
    return model.model_validate(current or {})
