"""SYNC NOW: the record's links pending and due at once, with a run per connection to report on."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors.base import Connector
from app.models import Record, Run, RunStatus, RunTrigger
from app.sync.claim import reserve
from app.connections.settings import collecting_connections, syncing
from app.sync.ingest import mark_pending
from app.sync.remote_changes import answer_program_changes


async def request_sync_now(
    session: AsyncSession,
    *,
    record: Record,
    connectors: dict[str, Connector],
    connection_id: uuid.UUID | None,
    lease_s: int,
) -> list[Run]:
    """Flush the returned runs, then commit and ring each with its run id. Empty: nothing syncs it."""
    connections = syncing(connectors, await collecting_connections(session, record.store_id), record.entity_type)
    if connection_id is not None:
        connections = [c for c in connections if c.id == connection_id]
    await mark_pending(session, connections, record.entity_type, [record.id])
    await answer_program_changes(session, record_id=record.id, connection_ids=[c.id for c in connections])
    runs = [Run(connection_id=c.id, trigger=RunTrigger.SYNC_NOW, status=RunStatus.QUEUED) for c in connections]
    session.add_all(runs)
    await session.flush()
    for run in runs:
        await reserve(session, connection_id=run.connection_id, record_id=record.id, run_id=run.id, lease_s=lease_s)
    return runs
