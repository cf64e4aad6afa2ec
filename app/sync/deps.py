"""What the sync engine needs, built once per process (API lifespan or arq on_startup)."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.connectors.base import Connector
from app.connectors.memo import company_memo
from app.connectors.registry import build_connectors
from app.core.secrets import SecretBox, secret_box
from app.db import make_engine, make_autocommit_factory, make_session_factory
from app.connectors.sandbox.program import SandboxProgram
from app.settings import Settings
from app.workers.bell import Bell
from app.core.redis_client import shared_redis
from app.sync.limiter import SharedLimits
from app.sync.locks import Locks


@dataclass
class SyncDeps:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Every statement commits by itself: reads, and writes of one statement (app.db.make_autocommit_factory).
    autocommit: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    connectors: dict[str, Connector]
    limits: SharedLimits
    locks: Locks
    redis: Redis | None
    bell: Bell | None = field(default=None)  # set by whoever owns the job runner
    arq_redis: object | None = field(default=None)  # the API's arq pool, when jobs go through Redis

    async def aclose(self) -> None:
        for connector in self.connectors.values():
            await connector.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def build_deps(settings: Settings, *, fresh_plans: bool = False) -> SyncDeps:
    engine = make_engine(settings, fresh_plans=fresh_plans)
    sessions = make_session_factory(engine)
    redis = shared_redis(settings.redis_url) if settings.redis_url else None
    return SyncDeps(
        settings=settings,
        engine=engine,
        sessions=sessions,
        autocommit=make_autocommit_factory(engine),
        secrets=secret_box(settings),
        connectors=build_connectors(
            settings,
            sandbox_program=SandboxProgram(sessions, latency_s=settings.sandbox_latency_ms / 1000,
                                           fault_rate=settings.sandbox_fault_rate),
            memo=company_memo(redis),
        ),
        limits=SharedLimits(redis, settings.redis_url),
        locks=Locks(redis),
        redis=redis,
    )
