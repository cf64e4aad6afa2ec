"""Storing the programs' events once, and finding whose they are."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Connection, WebhookEvent
from app.models.base import new_uuid, utcnow
from app.webhooks.events import ProgramEvent

log = structlog.get_logger(__name__)


async def store_events(*, session: AsyncSession, provider: str, events: list[ProgramEvent]) -> set[uuid.UUID]:
    """Insert the events not seen before; the connections that got new events.

    An event whose tenant no connection holds is kept (for the log) with no connection and logged.
    """
    if not events:
        return set()
    tenants = {e.tenant_id for e in events}
    rows = await session.execute(
        select(Connection.tenant_id, Connection.id)
        .where(Connection.connector == provider, Connection.tenant_id.in_(tenants)))
    owner: dict[str, uuid.UUID] = {}
    for tenant, connection_id in rows:
        owner.setdefault(tenant, connection_id)  # one organisation linked twice: the first holds it
    for tenant in sorted(tenants - owner.keys()):
        log.warning("webhook_unknown_tenant", provider=provider, tenant_id=tenant)
    now = utcnow()
    values = [
        {"id": new_uuid(), "provider": provider, "event_key": e.event_key, "tenant_id": e.tenant_id,
         "connection_id": owner.get(e.tenant_id), "object_kind": e.object_kind, "object_id": e.object_id,
         "operation": e.operation, "occurred_at": e.occurred_at, "payload": e.payload, "received_at": now}
        for e in {e.event_key: e for e in events}.values()  # a delivery may repeat an event itself
    ]
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    inserted = await session.execute(
        dialect.insert(WebhookEvent).values(values)
        .on_conflict_do_nothing(index_elements=["provider", "event_key"])
        .returning(WebhookEvent.connection_id))
    fresh = [row[0] for row in inserted]
    log.info("webhook_stored", provider=provider, events=len(events), new=len(fresh))
    return {c for c in fresh if c is not None}
