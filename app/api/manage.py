"""Integrated Apps → Manage: what waits on a mapping, the program's tracking list, dry runs of settings."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from app.api.deps import DepsDep, SessionDep, StoreDep
from app.api.problems import PROBLEM_RESPONSES, Problem
from app.connections import service
from app.connections.manage_schemas import UnmappedList, UnmappedValue
from app.connectors.base import Connector
from app.models import Connection
from app.sync.deps import SyncDeps
from app.sync.setting_waits import waiting_records

router = APIRouter(prefix="/v1", tags=["Integrated Apps"], responses=PROBLEM_RESPONSES)
ConnectionIdPath = Annotated[uuid.UUID, Path(description="The connection's id.")]


async def _connection(session, store, connection_id: uuid.UUID, deps: SyncDeps) -> tuple[Connection, Connector]:
    connection = await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
    connector = deps.connectors.get(connection.connector)
    if connector is None:
        raise Problem(409, f"Connector '{connection.connector}' is not configured on this service.")
    return connection, connector


@router.get("/connections/{connection_id}/unmapped", summary="POS values no setting maps yet")
async def list_unmapped(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep,
                        deps: DepsDep) -> UnmappedList:
    """Each payment type, tax rate and custom-line kind seen in records that its mapping lacks, with
    the records waiting on it. Saving the mapping sends exactly those records again."""
    connection, connector = await _connection(session, store, connection_id, deps)
    kinds = getattr(connector, "pos_mappings", {})
    grouped: dict[tuple[str, str], UnmappedValue] = {}
    for wait in await waiting_records(session, connection.id):
        entry = grouped.setdefault((wait.setting, wait.key), UnmappedValue(
            kind=kinds.get(wait.setting, "setting"), value=wait.key, setting=wait.setting, records=0,
            entity_types={}))
        entry.records += wait.records
        entry.entity_types[wait.entity_type] = wait.records
    return UnmappedList(items=sorted(grouped.values(), key=lambda e: (-e.records, e.setting, e.value)))
