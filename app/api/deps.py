"""Typed dependencies: the session, the engine's deps and the authenticated store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.problems import Problem
from app.api.request_db import session_for
from app.core.opaque import OpaqueIds
from app.models import Store
from app.stores.service import Caller
from app.sync.deps import SyncDeps

bearer = HTTPBearer(auto_error=False, description="The store's API key")


# Every dependency is async: FastAPI runs a plain `def` one in the thread pool, a hop per request.
async def get_deps(request: Request) -> SyncDeps:
    return request.app.state.deps


DepsDep = Annotated[SyncDeps, Depends(get_deps)]


async def get_ids(request: Request) -> OpaqueIds:
    ids = getattr(request.app.state, "opaque_ids", None)
    if ids is None:
        ids = OpaqueIds(request.app.state.deps.secrets.derive("opaque-ids"))
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


async def get_store(caller: CallerDep) -> Store:
    return caller.store


StoreDep = Annotated[Store, Depends(get_store)]
