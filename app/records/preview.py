"""What SYNC NOW would send for one record, per connection, and what would stop it — without sending.

The document is the connector's own mapper output (its `preview`), built from the same settings and
references the engine would hand `push`; nothing is written and the program is not called. A
reference that has not reached the program yet is shown as a placeholder: the engine pushes that
record first and the document then carries its id.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors.base import PushItem
from app.connectors.errors import SyncError
from app.connections.manage_schemas import ConnectionPreview, PreviewProblem, SyncPreview
from app.entities import ENTITY_TYPES, totals
from app.entities.registry import unique_references
from app.models import Connection, Link, LinkState, Record
from app.connections.settings import COLLECTING


async def sync_preview(*, session: AsyncSession, connectors: dict, record: Record,
                       connection_id: uuid.UUID | None = None) -> SyncPreview:
    query = select(Connection).where(Connection.store_id == record.store_id, Connection.status.in_(COLLECTING))
    if connection_id is not None:
        query = query.where(Connection.id == connection_id)
    connections = list((await session.scalars(query.order_by(Connection.created_at))).all())
    referred = await _referred(session, record)
    previews = []
    for connection in connections:
        connector = connectors.get(connection.connector)
        if connector is not None:
            previews.append(await _one(session, connector, connection, record, referred))
    return SyncPreview(id=record.pos_id, entity_type=record.entity_type, connections=previews)


async def _referred(session: AsyncSession, record: Record) -> dict[tuple[str, str], Record]:
    refs = unique_references(record.entity_type, record.payload)
    found: dict[tuple[str, str], Record] = {}
    for entity_type, pos_id in refs:
        row = await session.scalar(select(Record).where(Record.store_id == record.store_id,
                                                        Record.entity_type == entity_type, Record.pos_id == pos_id))
        if row is not None:
            found[(entity_type, pos_id)] = row
    return found


async def _one(session: AsyncSession, connector, connection: Connection, record: Record,
               referred: dict[tuple[str, str], Record]) -> ConnectionPreview:
    settings = connector.settings_model.model_validate(connection.settings or {})
    link = await session.scalar(select(Link).where(Link.connection_id == connection.id, Link.record_id == record.id))
    out = ConnectionPreview(connection_id=connection.id, connector=connection.connector,
                            action="update" if link is not None and link.external_id else "create",
                            document=None, problems=[])
    if not connector.syncs(record.entity_type, settings):
        out.action = "skip"
        out.problems.append(PreviewProblem(code="not_synced", message="This connection's settings do not sync "
                                           f"{ENTITY_TYPES[record.entity_type].title.lower()}s."))
        return out
    reason = connector.skip_reason(record.entity_type, record.payload, settings)
    if reason:
        out.action = "skip"
        out.problems.append(PreviewProblem(code="skipped", message=reason))
        return out
    if link is not None and link.state == LinkState.SKIPPED and link.attempted_hash == record.content_hash:
        # Judged by the sales mode in force at its moment (app.sync.coverage): the same content stays skipped.
        out.action = "skip"
        out.problems.append(PreviewProblem(code="skipped", message=link.advice or "Not sent to this program.",
                                           source="last_try"))
        return out
    if record.entity_type == "sale":
        out.problems += [PreviewProblem(code="unbalanced", message=f"The sale's amounts do not add up: {why}.")
                         for why in totals.problems(record.payload)]
    references = await _references(session, connection, record, referred, out)
    if link is not None and link.state == LinkState.FAILED:
        out.problems.append(PreviewProblem(code=link.error_code or "failed", message=link.error or "The last try failed.",
                                           advice=link.advice, source="last_try"))
    preview = getattr(connector, "preview", None)
    if preview is None:
        out.problems.append(PreviewProblem(code="no_preview", message=f"The {connector.title} connector cannot "
                                           "show its document before sending it."))
        return out
    item = PushItem(key=0, entity_type=record.entity_type, pos_id=record.pos_id, payload=record.payload,
                    content_hash=record.content_hash, external_id=link.external_id if link else None,
                    idempotency_key="preview", references=references,
                    remote_version=link.remote_version if link else None)
    try:
        out.document = preview(settings, item, {ref: r.payload for ref, r in referred.items()},
                               tenant_id=connection.tenant_id)
    except SyncError as exc:
        setting = getattr(exc, "setting", None)
        out.problems.append(PreviewProblem(code=exc.code, message=exc.message, advice=exc.advice,
                                           setting=f"{setting}.{exc.key}" if setting else None))
    return out


async def _references(session: AsyncSession, connection: Connection, record: Record,
                      referred: dict[tuple[str, str], Record], out: ConnectionPreview) -> dict[tuple[str, str], str]:
    """External ids of what the record refers to; a placeholder (and a problem) for each one missing."""
    references: dict[tuple[str, str], str] = {}
    for entity_type, pos_id in unique_references(record.entity_type, record.payload):
        what = f"{ENTITY_TYPES[entity_type].title.lower()} {pos_id}"
        row = referred.get((entity_type, pos_id))
        external_id = None
        if row is not None:
            external_id = await session.scalar(select(Link.external_id).where(
                Link.connection_id == connection.id, Link.record_id == row.id))
        if external_id:
            references[(entity_type, pos_id)] = external_id
            continue
        references[(entity_type, pos_id)] = f"({what}, once created)"
        if row is None:
            message = f"It refers to {what}, which the POS has not sent: it waits until it arrives."
        else:
            message = f"It refers to {what}, which has not reached the program yet: that goes first."
        out.problems.append(PreviewProblem(code="dependency_missing", message=message,
                                           reference=_ref(entity_type, pos_id)))
    return references


def _ref(entity_type: str, pos_id: str) -> dict[str, Any]:
    return {"entity_type": entity_type, "id": pos_id}
