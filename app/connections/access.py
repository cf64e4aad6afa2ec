"""What asking the program for one connection outside a sync run takes (reading its lists, choosing
defaults at connect time, refreshing its tokens): the database, the secrets that open the
credentials, the lock that serialises a token refresh across workers, and the shared rate limits.

Workers pass their engine bundle (app.sync.deps.SyncDeps has these four and more); API routes get
`ProgramAccessParts` through `ProgramAccessDep` (app.api.deps), so a route that reads a list cannot
reach the bell, the connectors or the settings it did not ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.secrets import SecretBox
from app.sync.limiter import SharedLimits
from app.sync.locks import Locks


class ProgramAccess(Protocol):
    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def secrets(self) -> SecretBox: ...

    @property
    def locks(self) -> Locks: ...

    @property
    def limits(self) -> SharedLimits: ...


@dataclass(frozen=True)
class ProgramAccessParts:
    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    locks: Locks
    limits: SharedLimits
