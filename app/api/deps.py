"""Typed dependencies of the API routes: the session, the authenticated store, the connection of
the path and its connector, and the pieces of the process-wide engine a route uses (settings, bell,
connectors, secrets, and what asking the program takes: `ProgramAccessDep`). The engine bundle
itself (app.sync.deps.SyncDeps) stays behind these: a route names what it needs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.problems import Problem
from app.api.request_db import session_for
from app.connections import service as connections
from app.connections.access import ProgramAccess, ProgramAccessParts
from app.connectors.base import Connector, OAuthConnector
from app.core.opaque import OpaqueIds
from app.core.secrets import SecretBox
from app.models import Connection
from app.settings import Settings
from app.stores.service import Caller, StoreRef
from app.workers.bell import Bell

bearer = HTTPBearer(auto_error=False, description="The store's API key")


# Every dependency is async: FastAPI runs a plain `def` one in the thread pool, a hop per request.
async def get_settings(request: Request) -> Settings:
    return request.app.state.deps.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_bell(request: Request) -> Bell | None:
    return request.app.state.deps.bell


BellDep = Annotated[Bell | None, Depends(get_bell)]


async def get_connectors(request: Request) -> dict[str, Connector]:
    return request.app.state.deps.connectors


ConnectorsDep = Annotated[dict[str, Connector], Depends(get_connectors)]


async def get_secrets(request: Request) -> SecretBox:
    return request.app.state.deps.secrets


SecretsDep = Annotated[SecretBox, Depends(get_secrets)]


async def get_database(request: Request) -> AsyncEngine:
    return request.app.state.deps.engine


DatabaseDep = Annotated[AsyncEngine, Depends(get_database)]


async def get_redis(request: Request) -> Redis | None:
    return request.app.state.deps.redis


RedisDep = Annotated[Redis | None, Depends(get_redis)]


async def get_program_access(request: Request) -> ProgramAccess:
    access = getattr(request.app.state, "program_access", None)
    if access is None:
        deps = request.app.state.deps
        access = ProgramAccessParts(sessions=deps.sessions, secrets=deps.secrets, locks=deps.locks, limits=deps.limits)
        request.app.state.program_access = access
    return access


ProgramAccessDep = Annotated[ProgramAccess, Depends(get_program_access)]


async def get_ids(request: Request, secrets: SecretsDep) -> OpaqueIds:
    ids = getattr(request.app.state, "opaque_ids", None)
    if ids is None:
        ids = OpaqueIds(secrets.derive("opaque-ids"))
        request.app.state.opaque_ids = ids
    return ids


IdsDep = Annotated[OpaqueIds, Depends(get_ids)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # On the connection the gate checked out for a read, else a fresh one (app.api.request_db).
    async with session_for(request.state, request.app.state.deps.sessions) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_caller(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    # The gate middleware checked the key before the body was read; `bearer` only documents it.
    caller = getattr(request.state, "caller", None)
    if caller is None:
        raise Problem(401, "Send the store's API key as 'Authorization: Bearer <key>'.",
                      headers={"WWW-Authenticate": "Bearer"})
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_store(caller: CallerDep) -> StoreRef:
    return caller.store


StoreDep = Annotated[StoreRef, Depends(get_store)]


async def get_connection(
    connection_id: Annotated[uuid.UUID, Path(description="The connection's id.")], store: StoreDep, session: SessionDep
) -> Connection:
    """The connection of the path, if the authenticated store owns it and it is not disconnected;
    404 otherwise. Read in the request's session (its transaction begins here)."""
    return await connections.get_connection(session=session, store_id=store.id, connection_id=connection_id)


ConnectionDep = Annotated[Connection, Depends(get_connection)]


async def get_connector(connection: ConnectionDep, connectors: ConnectorsDep) -> Connector:
    connector = connectors.get(connection.connector)
    if connector is None:
        raise Problem(409, f"Connector '{connection.connector}' is not configured on this service.")
    return connector


ConnectorDep = Annotated[Connector, Depends(get_connector)]


async def get_oauth_connector(
    connector: Annotated[str, Path(description="The program: xero or quickbooks.", max_length=32)],
    connectors: ConnectorsDep,
) -> OAuthConnector:
    """The OAuth connector the path names; 404 for any other."""
    found = connectors.get(connector)
    if found is None or not found.needs_oauth:
        raise Problem(404, f"No OAuth connector '{connector}'.")
    return found


OAuthConnectorDep = Annotated[OAuthConnector, Depends(get_oauth_connector)]
