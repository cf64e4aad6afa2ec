"""What a change of a connection's sync settings does to its links.

Failed and skipped links of the types it syncs are tried again (new account codes or a new sales
mode may be exactly what they waited for); types it no longer syncs are marked skipped, keeping
their external ids so that turning them back on updates the program's objects instead of
duplicating them.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors.base import Connector
from app.entities import ENTITY_TYPES
from app.models import Connection, Link, LinkState
from app.models.base import utcnow
from app.sync.ingest import backfill_links


async def apply_settings(session: AsyncSession, connection: Connection, connector: Connector, raw: dict) -> list[str]:
    """Store validated settings on the connection; return the entity types it now syncs."""
    typed = connector.settings_model.model_validate(raw)
    connection.settings = typed.model_dump(mode="json")
    synced = [t for t in ENTITY_TYPES if connector.syncs(t, typed)]
    dropped = [t for t in ENTITY_TYPES if t not in synced]
    now = utcnow()
    if synced:
        await session.execute(
            update(Link)
            .where(Link.connection_id == connection.id, Link.entity_type.in_(synced),
                   Link.state.in_([LinkState.FAILED, LinkState.SKIPPED]))
            .values(state=LinkState.PENDING, next_attempt_at=now, retries=0, updated_at=now)
        )
        await backfill_links(session, connection, synced)
    if dropped:
        await session.execute(
            update(Link)
            .where(Link.connection_id == connection.id, Link.entity_type.in_(dropped),
                   Link.state != LinkState.SKIPPED)
            .values(state=LinkState.SKIPPED, error_code="not_synced", error=None, updated_at=now,
                    advice="This type of record is turned off in this connection's sync settings.")
        )
    return synced


async def retry_failed(session: AsyncSession, connection: Connection, entity_type: str | None) -> int:
    now = utcnow()
    stmt = update(Link).where(Link.connection_id == connection.id, Link.state == LinkState.FAILED)
    if entity_type:
        stmt = stmt.where(Link.entity_type == entity_type)
    result = await session.execute(stmt.values(state=LinkState.PENDING, next_attempt_at=now, retries=0, updated_at=now))
    return result.rowcount or 0
