"""Typed dependencies: the session, the engine's deps and the authenticated store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.problems import Problem
from app.models import Store
from app.stores.service import store_for_key
from app.sync.deps import SyncDeps

bearer = HTTPBearer(auto_error=False, description="The store's API key")


def get_deps(request: Request) -> SyncDeps:
    return request.app.state.deps


DepsDep = Annotated[SyncDeps, Depends(get_deps)]


async def get_session(deps: DepsDep) -> AsyncIterator[AsyncSession]:
    async with deps.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_store(
    deps: DepsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Store:
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "Send the store's API key as 'Authorization: Bearer <key>'.", headers=unauthorized)
    # Its own short session, so the handler's session starts with no transaction open.
    async with deps.sessions() as session:
        store = await store_for_key(session=session, key=credentials.credentials)
    if store is None:
        raise Problem(401, "The API key is not valid.", headers=unauthorized)
    return store


StoreDep = Annotated[Store, Depends(get_store)]
