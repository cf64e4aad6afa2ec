"""Typed dependencies of the API routes: the session, the authenticated store, the connection of
the path, and the pieces of the process-wide engine a route uses (settings, bell, connectors,
secrets). The engine bundle itself (app.sync.deps.SyncDeps) stays behind these: a route names what
it needs, and only the connection flows that span several of them (OAuth, the program's lists,
credentials) are handed the bundle through `EngineDep`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.problems import Problem
from app.connections import service as connections
from app.connectors.base import Connector
from app.core.opaque import OpaqueIds
from app.core.secrets import SecretBox
from app.models import Connection, Store
from app.settings import Settings
from app.stores.service import Caller
from app.sync.deps import SyncDeps
from app.workers.bell import Bell

bearer = HTTPBearer(auto_error=False, description="The store's API key")


# Every dependency is async: FastAPI runs a plain `def` one in the thread pool, a hop per request.
async def _engine(request: Request) -> SyncDeps:
    return request.app.state.deps


EngineDep = Annotated[SyncDeps, Depends(_engine)]


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


async def get_ids(request: Request, secrets: SecretsDep) -> OpaqueIds:
    ids = getattr(request.app.state, "opaque_ids", None)
    if ids is None:
        ids = OpaqueIds(secrets.derive("opaque-ids"))
        request.app.state.opaque_ids = ids
    return ids


IdsDep = Annotated[OpaqueIds, Depends(get_ids)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.deps.sessions() as session:
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


async def get_store(caller: CallerDep) -> Store:
    return caller.store


StoreDep = Annotated[Store, Depends(get_store)]


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
