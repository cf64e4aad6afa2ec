"""Integrated Apps: connections, their Sync settings, Error log and Sync process log."""

from __future__ import annotations

import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import DepsDep, IdsDep, SessionDep, StoreDep
from app.api.problems import PROBLEM_RESPONSES, Problem
from app.connections import oauth, program_lists, service
from app.connections.schemas import (
    ConnectionCreate,
    ConnectionList,
    ConnectionPublic,
    ConnectionUpdate,
    OrganisationPublic,
    ProgramEntryPublic,
    ProgramListPublic,
    RunPage,
    RunPublic,
)
from app.api.params import CursorQuery, LimitQuery, time_query
from app.core.pagination import checked_time
from app.entities.registry import EntityTypeName
from app.models import Connection, ConnectionStatus, Run, RunTrigger
from app.records.schemas import AttemptPage
from app.records.service import attempt_public
from app.sync.credentials import load_credentials
from app.sync.settings_change import apply_settings, retry_failed

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["Integrated Apps"], responses=PROBLEM_RESPONSES)
ConnectionIdPath = Annotated[uuid.UUID, Path(description="The connection's id.")]


def public(connection: Connection, **extra) -> ConnectionPublic:
    offered = connection.offered_organisations
    extra.setdefault("organisations", [OrganisationPublic(**o) for o in offered] if offered else None)
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
    return_url = oauth.checked_return_url(deps.settings, str(body.return_url) if body.return_url else None)
    async with session.begin():
        connection = Connection(store_id=store.id, connector=connector.name, settings=settings,
                                status=ConnectionStatus.AUTHORIZING, return_url=return_url)
        session.add(connection)
        await session.flush()
        if connector.needs_oauth:
            authorize_url = oauth.start(deps, connection, connector)
        else:
            await service.activate(session=session, connection=connection, connector=connector)
    if connector.needs_oauth:
        return public(connection, authorize_url=authorize_url)
    await deps.bell.ring(connection.id, trigger=RunTrigger.MANUAL)
    return public(connection)


@router.post("/connections/{connection_id}/authorize", summary="Sign in to the program again (reconnect)")
async def reauthorize(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep, deps: DepsDep) -> ConnectionPublic:
    async with session.begin():
        connection = await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
        connector = deps.connectors.get(connection.connector)
        if connector is None or not connector.needs_oauth:
            raise Problem(409, f"Connector '{connection.connector}' does not sign in with OAuth.")
        authorize_url = oauth.start(deps, connection, connector)
    return public(connection, authorize_url=authorize_url)


@router.patch("/connections/{connection_id}", summary="Choose the organisation")
async def choose_organisation(
    connection_id: ConnectionIdPath, body: ConnectionUpdate, store: StoreDep, session: SessionDep, deps: DepsDep
) -> ConnectionPublic:
    connection = await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
    return public(await oauth.choose_organisation(deps, connection, body.tenant_id))


@router.get("/connections/{connection_id}", summary="One connection")
async def get_connection(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep) -> ConnectionPublic:
    return public(await service.get_connection(session=session, store_id=store.id, connection_id=connection_id))


@router.delete("/connections/{connection_id}", status_code=204, summary="Disconnect")
async def delete_connection(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep, deps: DepsDep) -> None:
    async with session.begin():
        connection = await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
        credentials = load_credentials(deps, connection) if connection.credentials_encrypted else None
        connection.status = ConnectionStatus.DISCONNECTED
        connection.credentials_encrypted = None
        connection.oauth_nonce = None
    connector = deps.connectors.get(connection.connector)
    if credentials is not None and connector is not None and connector.needs_oauth:
        # Best effort: the tokens are already gone from our side whatever the program answers.
        try:
            await connector.revoke(credentials)
        except Exception as exc:  # noqa: BLE001 - logged, the disconnect stands
            log.warning("revoke_failed", connector=connection.connector, error=type(exc).__name__)


@router.get("/connections/{connection_id}/runs", summary="Sync process log")
async def list_runs(
    connection_id: ConnectionIdPath,
    store: StoreDep,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> RunPage:
    await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
    runs, next_cursor = await service.runs_page(session=session, connection_id=connection_id, cursor=cursor, limit=limit)
    return RunPage(items=[RunPublic.model_validate(r, from_attributes=True) for r in runs], next_cursor=next_cursor)


@router.get("/runs/{run_id}", summary="One sync run")
async def get_run(run_id: Annotated[uuid.UUID, Path(description="The run's id.")], store: StoreDep, session: SessionDep) -> RunPublic:
    run = await session.get(Run, run_id)
    if run is not None:
        connection = await session.get(Connection, run.connection_id)
        if connection is not None and connection.store_id == store.id:
            return RunPublic.model_validate(run, from_attributes=True)
    raise Problem(404, f"No run '{run_id}'.")


@router.get("/connections/{connection_id}/errors", summary="Error log")
async def list_errors(
    connection_id: ConnectionIdPath,
    store: StoreDep,
    session: SessionDep,
    ids: IdsDep,
    entity_type: Annotated[EntityTypeName | None, Query(description="Only records of this type.")] = None,
    since: Annotated[str | None, time_query("Only tries since then.")] = None,
    code: Annotated[str | None, Query(description="Only failures with this error code.", max_length=64)] = None,
    history: Annotated[bool, Query(description="Every failed try ever, not only what fails now.")] = False,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> AttemptPage:
    since = checked_time(since, "query.since")
    await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
    rows, next_cursor = await service.errors_page(session=session, connection_id=connection_id,
                                                  entity_type=entity_type, since=since, code=code, cursor=cursor,
                                                  limit=limit, ids=ids, history=history)
    return AttemptPage(items=[attempt_public(a, ids) for a in rows], next_cursor=next_cursor)


async def _owned(session, store, connection_id, deps):
    connection = await service.get_connection(session=session, store_id=store.id, connection_id=connection_id)
    connector = deps.connectors.get(connection.connector)
    if connector is None:
        raise Problem(409, f"Connector '{connection.connector}' is not configured on this service.")
    return connection, connector


@router.get("/connections/{connection_id}/settings", summary="Sync settings")
async def get_settings(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep, deps: DepsDep) -> dict:
    connection, connector = await _owned(session, store, connection_id, deps)
    return connector.settings_model.model_validate(connection.settings or {}).model_dump(mode="json")


async def _change_settings(connection_id, store, session, deps, raw: dict, *, merge: bool) -> dict:
    async with session.begin():
        connection, connector = await _owned(session, store, connection_id, deps)
        program_lists.refuse_if_reconnect(connection)
        wanted = {**(connection.settings or {}), **raw} if merge else raw
        checked = service.validated_settings(connector, wanted)  # 422 with field paths before anything changes
    # Outside the transaction: this may ask the program for its lists.
    await program_lists.check_settings(deps, connection, connector, checked)
    async with session.begin():
        connection, connector = await _owned(session, store, connection_id, deps)
        wanted = {**(connection.settings or {}), **raw} if merge else raw
        await apply_settings(session, connection, connector, wanted)
        settings = connection.settings
    await deps.bell.ring(connection_id, trigger=RunTrigger.MANUAL)
    return settings


@router.put("/connections/{connection_id}/settings", summary="Replace the sync settings")
async def put_settings(connection_id: ConnectionIdPath, body: dict, store: StoreDep, session: SessionDep,
                       deps: DepsDep) -> dict:
    return await _change_settings(connection_id, store, session, deps, body, merge=False)


@router.patch("/connections/{connection_id}/settings", summary="Change some sync settings (top-level keys)")
async def patch_settings(connection_id: ConnectionIdPath, body: dict, store: StoreDep, session: SessionDep,
                         deps: DepsDep) -> dict:
    return await _change_settings(connection_id, store, session, deps, body, merge=True)


class RetryFailed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_type: EntityTypeName | None = Field(default=None, description="Only records of this type; default: every type.")


class RetryQueued(BaseModel):
    queued: int = Field(description="Records put back in the queue.")


@router.post("/connections/{connection_id}/retry-failed", status_code=202, summary="Re-queue every failed record")
async def retry_failed_links(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep, deps: DepsDep,
                             body: RetryFailed | None = None) -> RetryQueued:
    async with session.begin():
        connection, _connector = await _owned(session, store, connection_id, deps)
        queued = await retry_failed(session, connection, body.entity_type if body else None)
    await deps.bell.ring(connection_id, trigger=RunTrigger.MANUAL)
    return RetryQueued(queued=queued)


RefreshQuery = Annotated[bool, Query(description="Fetch the list from the program again instead of the kept copy.")]


async def _list(connection_id, store, session, deps, kind, refresh: bool) -> ProgramListPublic:
    connection, connector = await _owned(session, store, connection_id, deps)
    await session.commit()  # nothing held open while the program is asked (commit keeps it loaded)
    row = await program_lists.program_list(deps, connection, connector, kind, refresh=refresh)
    items = [ProgramEntryPublic(id=e["id"], name=e["name"], type=e["type"],
                                status="active" if e["active"] else "archived",
                                fills=program_lists.fills(connector, kind, e), parent=e.get("parent")) for e in row.items]
    return ProgramListPublic(items=items, fetched_at=row.fetched_at)


@router.get("/connections/{connection_id}/accounts", summary="The program's accounts (for the settings form)")
async def list_accounts(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep, deps: DepsDep,
                        refresh: RefreshQuery = False) -> ProgramListPublic:
    return await _list(connection_id, store, session, deps, "accounts", refresh)


@router.get("/connections/{connection_id}/tax-rates", summary="The program's tax rates or tax codes")
async def list_tax_rates(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep, deps: DepsDep,
                         refresh: RefreshQuery = False) -> ProgramListPublic:
    return await _list(connection_id, store, session, deps, "tax_rates", refresh)


@router.get("/connections/{connection_id}/payment-methods", summary="The program's payment methods (QuickBooks)")
async def list_payment_methods(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep, deps: DepsDep,
                               refresh: RefreshQuery = False) -> ProgramListPublic:
    return await _list(connection_id, store, session, deps, "payment_methods", refresh)


@router.get("/connections/{connection_id}/tracking",
            summary="The program's tracking: Xero tracking categories and options, QuickBooks classes and locations")
async def list_tracking(connection_id: ConnectionIdPath, store: StoreDep, session: SessionDep, deps: DepsDep,
                        refresh: RefreshQuery = False) -> ProgramListPublic:
    return await _list(connection_id, store, session, deps, "tracking", refresh)
