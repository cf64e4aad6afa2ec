"""Integrated Apps: connections, their Sync settings, Error log and Sync process log."""

from __future__ import annotations

import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import (
    BellDep,
    ConnectionDep,
    ConnectorDep,
    ConnectorsDep,
    IdsDep,
    ProgramAccessDep,
    SecretsDep,
    SessionDep,
    SettingsDep,
    StoreDep,
)
from app.api.params import CursorQuery, LimitQuery, time_query
from app.api.problems import PROBLEM_RESPONSES, Problem
from app.connections import oauth, program_lists, service
from app.connections.credentials import load_credentials
from app.connections.merge_patch import merge_settings
from app.connections.schemas import (
    ConnectionCreate,
    ConnectionList,
    ConnectionPublic,
    ConnectionUpdate,
    OrganisationPublic,
    ProgramEntryPublic,
    ProgramListPublic,
)
from app.connections.settings_change import apply_settings, retry_failed
from app.core.pagination import checked_time
from app.entities.registry import EntityTypeName
from app.models import Connection, ConnectionStatus, RunTrigger
from app.runs import pages
from app.runs.schemas import AttemptPage, RunPage, RunPublic

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["Integrated Apps"], responses=PROBLEM_RESPONSES)


def public(connection: Connection, **extra) -> ConnectionPublic:
    offered = connection.offered_organisations
    extra.setdefault("organisations", [OrganisationPublic(**o) for o in offered] if offered else None)
    return ConnectionPublic.model_validate(connection, from_attributes=True).model_copy(update=extra)


@router.get("/connections", summary="Connected programs")
async def list_connections(store: StoreDep, session: SessionDep) -> ConnectionList:
    return ConnectionList(items=[public(c) for c in await service.list_connections(session=session, store_id=store.id)])


@router.post("/connections", status_code=201, summary="Connect a program")
async def create_connection(body: ConnectionCreate, store: StoreDep, session: SessionDep, connectors: ConnectorsDep,
                            settings: SettingsDep, secrets: SecretsDep, bell: BellDep) -> ConnectionPublic:
    connector = connectors.get(body.connector)
    if connector is None:
        offered = ", ".join(sorted(connectors))
        raise Problem(422, f"Unknown or unconfigured connector '{body.connector}'; this service offers: {offered}.",
                      errors=[{"path": "body.connector", "message": f"one of: {offered}", "type": "enum"}])
    sync_settings = service.validated_settings(connector, body.settings)
    return_url = oauth.checked_return_url(settings, str(body.return_url) if body.return_url else None)
    async with session.begin():
        connection = Connection(store_id=store.id, connector=connector.name, settings=sync_settings,
                                status=ConnectionStatus.AUTHORIZING, return_url=return_url)
        session.add(connection)
        await session.flush()
        if connector.needs_oauth:
            authorize_url = oauth.start(settings, secrets, connection, connector)
        else:
            await service.activate(session=session, connection=connection, connector=connector)
    if connector.needs_oauth:
        return public(connection, authorize_url=authorize_url)
    await bell.ring(connection.id, trigger=RunTrigger.MANUAL)
    return public(connection)


@router.post("/connections/{connection_id}/authorize", summary="Sign in to the program again (reconnect)")
async def reauthorize(connection: ConnectionDep, session: SessionDep, connectors: ConnectorsDep,
                      settings: SettingsDep, secrets: SecretsDep) -> ConnectionPublic:
    connector = connectors.get(connection.connector)
    if connector is None or not connector.needs_oauth:
        raise Problem(409, f"Connector '{connection.connector}' does not sign in with OAuth.")
    authorize_url = oauth.start(settings, secrets, connection, connector)
    await session.commit()
    return public(connection, authorize_url=authorize_url)


@router.patch("/connections/{connection_id}", summary="Choose the organisation")
async def choose_organisation(connection: ConnectionDep, connector: ConnectorDep, body: ConnectionUpdate,
                              access: ProgramAccessDep, bell: BellDep) -> ConnectionPublic:
    return public(await oauth.choose_organisation(access, connector, bell, connection, body.tenant_id))


@router.get("/connections/{connection_id}", summary="One connection")
async def get_connection(connection: ConnectionDep) -> ConnectionPublic:
    return public(connection)


@router.delete("/connections/{connection_id}", status_code=204, summary="Disconnect")
async def delete_connection(connection: ConnectionDep, session: SessionDep, connectors: ConnectorsDep,
                            secrets: SecretsDep) -> None:
    credentials = load_credentials(secrets, connection) if connection.credentials_encrypted else None
    connection.status = ConnectionStatus.DISCONNECTED
    connection.credentials_encrypted = None
    connection.oauth_nonce = None
    await session.commit()
    connector = connectors.get(connection.connector)
    if credentials is not None and connector is not None and connector.needs_oauth:
        # Best effort: the tokens are already gone from our side whatever the program answers.
        try:
            await connector.revoke(credentials)
        except Exception as exc:  # noqa: BLE001 - logged, the disconnect stands
            log.warning("revoke_failed", connector=connection.connector, error=type(exc).__name__)


@router.get("/connections/{connection_id}/runs", summary="Sync process log")
async def list_runs(
    connection: ConnectionDep,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> RunPage:
    runs, next_cursor = await pages.runs_page(session=session, connection_id=connection.id, cursor=cursor, limit=limit)
    return RunPage(items=[RunPublic.model_validate(r, from_attributes=True) for r in runs], next_cursor=next_cursor)


@router.get("/runs/{run_id}", summary="One sync run")
async def get_run(run_id: Annotated[uuid.UUID, Path(description="The run's id.")], store: StoreDep, session: SessionDep) -> RunPublic:
    run = await pages.store_run(session=session, store_id=store.id, run_id=run_id)
    if run is None:
        raise Problem(404, f"No run '{run_id}'.")
    return RunPublic.model_validate(run, from_attributes=True)


@router.get("/connections/{connection_id}/errors", summary="Error log")
async def list_errors(
    connection: ConnectionDep,
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
    rows, next_cursor = await pages.errors_page(session=session, connection_id=connection.id,
                                                entity_type=entity_type, since=since, code=code, cursor=cursor,
                                                limit=limit, ids=ids, history=history)
    waits = await pages.settings_waited(session, rows)
    return AttemptPage(items=[pages.attempt_public(a, ids, waits.get(a.link_id)) for a in rows],
                       next_cursor=next_cursor)


@router.get("/connections/{connection_id}/settings", summary="Sync settings")
async def get_settings(connection: ConnectionDep, connector: ConnectorDep) -> dict:
    return connector.settings_model.model_validate(connection.settings or {}).model_dump(mode="json")


async def _change_settings(connection: Connection, connector, session, access, bell, raw: dict, *, merge: bool) -> dict:
    program_lists.refuse_if_reconnect(connection)
    wanted = merge_settings(connector.settings_model, connection.settings or {}, raw) if merge else raw
    checked = service.validated_settings(connector, wanted)  # 422 with field paths before anything changes
    await session.commit()  # nothing held open while the program may be asked for its lists
    await program_lists.check_settings(access, connection, connector, checked)
    await apply_settings(session, connection, connector, wanted)
    settings = connection.settings
    await session.commit()
    await bell.ring(connection.id, trigger=RunTrigger.MANUAL)
    return settings


@router.put("/connections/{connection_id}/settings", summary="Replace the sync settings")
async def put_settings(connection: ConnectionDep, connector: ConnectorDep, body: dict, session: SessionDep,
                       access: ProgramAccessDep, bell: BellDep) -> dict:
    return await _change_settings(connection, connector, session, access, bell, body, merge=False)


@router.patch("/connections/{connection_id}/settings", summary="Change some sync settings (mappings merged)")
async def patch_settings(connection: ConnectionDep, connector: ConnectorDep, body: dict, session: SessionDep,
                         access: ProgramAccessDep, bell: BellDep) -> dict:
    """Change the settings named. A mapping (tax codes, payment types, custom lines: keyed by POS values)
    is merged as a JSON merge patch (RFC 7396) at every depth, so `{"tax_codes": {"GST 10%": "5"}}` adds or
    changes that one entry and keeps the others; every other setting (the schedule, lists, plain values)
    is replaced whole. `null` removes a key: a mapping entry, or a whole setting, which goes back to its
    default. Adding mapping entries sends again only the records waiting on them. `PUT` replaces the
    settings as a whole."""
    return await _change_settings(connection, connector, session, access, bell, body, merge=True)


class RetryFailed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_type: EntityTypeName | None = Field(default=None, description="Only records of this type; default: every type.")


class RetryQueued(BaseModel):
    queued: int = Field(description="Records put back in the queue.")


@router.post("/connections/{connection_id}/retry-failed", status_code=202, summary="Re-queue every failed record")
async def retry_failed_links(connection: ConnectionDep, _connector: ConnectorDep, session: SessionDep, bell: BellDep,
                             body: RetryFailed | None = None) -> RetryQueued:
    queued = await retry_failed(session, connection, body.entity_type if body else None)
    await session.commit()
    await bell.ring(connection.id, trigger=RunTrigger.MANUAL)
    return RetryQueued(queued=queued)


RefreshQuery = Annotated[bool, Query(description="Fetch the list from the program again instead of the kept copy.")]


async def _list(connection: Connection, connector, session, access, kind, refresh: bool) -> ProgramListPublic:
    await session.commit()  # nothing held open while the program is asked (commit keeps it loaded)
    row = await program_lists.program_list(access, connection, connector, kind, refresh=refresh)
    items = [ProgramEntryPublic(id=e["id"], name=e["name"], type=e["type"],
                                status="active" if e["active"] else "archived",
                                fills=program_lists.fills(connector, kind, e), parent=e.get("parent")) for e in row.items]
    return ProgramListPublic(items=items, fetched_at=row.fetched_at)


@router.get("/connections/{connection_id}/accounts", summary="The program's accounts (for the settings form)")
async def list_accounts(connection: ConnectionDep, connector: ConnectorDep, session: SessionDep, access: ProgramAccessDep,
                        refresh: RefreshQuery = False) -> ProgramListPublic:
    return await _list(connection, connector, session, access, "accounts", refresh)


@router.get("/connections/{connection_id}/tax-rates", summary="The program's tax rates or tax codes")
async def list_tax_rates(connection: ConnectionDep, connector: ConnectorDep, session: SessionDep, access: ProgramAccessDep,
                         refresh: RefreshQuery = False) -> ProgramListPublic:
    return await _list(connection, connector, session, access, "tax_rates", refresh)


@router.get("/connections/{connection_id}/payment-methods", summary="The program's payment methods (QuickBooks)")
async def list_payment_methods(connection: ConnectionDep, connector: ConnectorDep, session: SessionDep, access: ProgramAccessDep,
                               refresh: RefreshQuery = False) -> ProgramListPublic:
    return await _list(connection, connector, session, access, "payment_methods", refresh)


@router.get("/connections/{connection_id}/items", summary="The program's items for lines (QuickBooks)")
async def list_items(connection: ConnectionDep, connector: ConnectorDep, session: SessionDep, access: ProgramAccessDep,
                     refresh: RefreshQuery = False) -> ProgramListPublic:
    """QuickBooks' items, active or not: a custom line, a rounding and a shift summary line carry one
    (a Service or Non-inventory item, whose income account takes the amount). Items possync created
    for products are listed too. Xero has no such list (404)."""
    return await _list(connection, connector, session, access, "items", refresh)


@router.get("/connections/{connection_id}/tracking",
            summary="The program's tracking: Xero tracking categories and options, QuickBooks classes and locations")
async def list_tracking(connection: ConnectionDep, connector: ConnectorDep, session: SessionDep, access: ProgramAccessDep,
                        refresh: RefreshQuery = False) -> ProgramListPublic:
    return await _list(connection, connector, session, access, "tracking", refresh)
