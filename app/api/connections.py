"""Integrated Apps: connections, their Sync settings, Error log and Sync process log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import DepsDep, SessionDep, StoreDep
from app.api.problems import PROBLEM_RESPONSES, Problem
from app.connections import service
from app.connections.schemas import (
    ConnectionCreate,
    ConnectionList,
    ConnectionPublic,
    RunPage,
    RunPublic,
)
from app.core.pagination import MAX_LIMIT
from app.entities import ENTITY_TYPES
from app.models import Connection, ConnectionStatus, Run, RunTrigger
from app.records.schemas import AttemptPage, AttemptPublic

router = APIRouter(prefix="/v1", tags=["Integrated Apps"], responses=PROBLEM_RESPONSES)


def public(connection: Connection, **extra) -> ConnectionPublic:
    return ConnectionPublic.model_validate(connection, from_attributes=True).model_copy(update=extra)


@router.get("/connections", summary="Connected programs")
async def list_connections(store: StoreDep, session: SessionDep) -> ConnectionList:
    return ConnectionList(items=[public(c) for c in await service.list_connections(session=session, store_id=store.id)])


@router.post("/connections", status_code=201, summary="Connect a program")
async def create_connection(body: ConnectionCreate, store: StoreDep, session: SessionDep, deps: DepsDep) -> ConnectionPublic:
    connector = deps.connectors.get(body.connector)
    if connector is None:
        offered = ", ".join(sorted(deps.connectors))
        raise Problem(422, f"Unknown or unconfigured connector '{body.connector}'; this service offers: {offered}.",
                      errors=[{"path": "body.connector", "message": f"one of: {offered}", "type": "enum"}])
    settings = service.validated_settings(connector, body.settings)
    if connector.needs_oauth:
        raise Problem(422, f"Connecting '{body.connector}' needs OAuth, which this build does not offer yet.")
    async with session.begin():
        connection = Connection(store_id=store.id, connector=connector.name, settings=settings,
                                status=ConnectionStatus.AUTHORIZING,
                                return_url=str(body.return_url) if body.return_url else None)
        session.add(connection)
        await session.flush()
        typed = connector.settings_model.model_validate(settings)
        await service.activate(session=session, connection=connection,
                               entity_types=[t for t in ENTITY_TYPES if connector.syncs(t, typed)])
    await deps.bell.ring(connection.id, trigger=RunTrigger.MANUAL)
    return public(connection)


@router.get("/connections/{connection_id}", summary="One connection")
async def get_connection(connection_id: uuid.UUID, store: StoreDep, session: SessionDep) -> ConnectionPublic:
    return public(await service.get_connection(session=session, store_id=store.id, connection_id=connection_id))


@router.delete("/connections/{connection_id}", status_code=204, summary="Disconnect")
async def delete_connection(connection_id: uuid.UUID, store: StoreDep, session: SessionDep) -> None:
    async with session.begin():
        connection = await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
        connection.status = ConnectionStatus.DISCONNECTED
        connection.credentials_encrypted = None


@router.get("/connections/{connection_id}/runs", summary="Sync process log")
async def list_runs(
    connection_id: uuid.UUID,
    store: StoreDep,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> RunPage:
    await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
    runs, next_cursor = await service.runs_page(session=session, connection_id=connection_id, cursor=cursor, limit=limit)
    return RunPage(items=[RunPublic.model_validate(r, from_attributes=True) for r in runs], next_cursor=next_cursor)


@router.get("/runs/{run_id}", summary="One sync run")
async def get_run(run_id: uuid.UUID, store: StoreDep, session: SessionDep) -> RunPublic:
    run = await session.get(Run, run_id)
    if run is not None:
        connection = await session.get(Connection, run.connection_id)
        if connection is not None and connection.store_id == store.id:
            return RunPublic.model_validate(run, from_attributes=True)
    raise Problem(404, f"No run '{run_id}'.")


@router.get("/connections/{connection_id}/errors", summary="Error log")
async def list_errors(
    connection_id: uuid.UUID,
    store: StoreDep,
    session: SessionDep,
    entity_type: Annotated[str | None, Query(description="customer, supplier, product, …")] = None,
    since: datetime | None = None,
    code: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> AttemptPage:
    if entity_type is not None and entity_type not in ENTITY_TYPES:
        raise Problem(422, f"Unknown entity type '{entity_type}'.",
                      errors=[{"path": "query.entity_type", "message": f"one of: {', '.join(ENTITY_TYPES)}",
                               "type": "enum"}])
    if since is not None and since.tzinfo is None:
        raise Problem(422, "'since' needs a time zone (for example 2026-11-27T00:00:00Z).")
    await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
    rows, next_cursor = await service.errors_page(session=session, connection_id=connection_id,
                                                  entity_type=entity_type, since=since, code=code, cursor=cursor,
                                                  limit=limit)
    return AttemptPage(items=[AttemptPublic.model_validate(a, from_attributes=True) for a in rows],
                       next_cursor=next_cursor)
