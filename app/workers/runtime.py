"""Where an API process's jobs go: arq through Redis, or asyncio tasks in the process itself
(embedded mode, with its own periodic loops: sweeper, schedule tick, pruning). Started and stopped by the API's lifespan."""

from __future__ import annotations

import asyncio
import contextlib

from app.sync.deps import SyncDeps
from app.workers.bell import ArqBell, InProcessBell
from app.workers.jobs import deferred_ring, run_resync_slice, run_sync, run_webhooks, through_database_outages
from app.workers.periodic import embedded_loops

API_REDIS_TIMEOUT_S = 1.0  # a local Redis answers in a millisecond; this long means it is away


class JobRuntime:
    """Owns the bell it installs on `deps` (and, embedded, the periodic loops) until close()."""

    def __init__(self) -> None:
        self.bell: InProcessBell | None = None
        self.loops: list[asyncio.Task] = []
        self.arq_redis = None

    async def start(self, deps: SyncDeps) -> None:
        if deps.settings.embedded_jobs:
            self.bell = deps.bell = in_process_bell(deps)
            self.loops = embedded_loops(deps)
            return
        self.arq_redis = arq_pool(deps.settings.redis_url)
        deps.bell = ArqBell(self.arq_redis, deps.settings.jobs_per_connection)
        deps.arq_redis = self.arq_redis

    async def close(self) -> None:
        for loop in self.loops:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if self.bell is not None:
            await self.bell.close()
        if self.arq_redis is not None:
            await self.arq_redis.aclose()


def in_process_bell(deps: SyncDeps) -> InProcessBell:
    """Embedded mode's bell: the same job functions as the arq worker's, as tasks in this process.
    A pass the database cut short goes round again once it answers, as in an arq worker."""
    return InProcessBell(lambda c, r, t: through_database_outages(deps.engine, lambda: run_sync(deps, c, r, t)),
                         deps.settings.jobs_per_connection,
                         process=lambda c: run_webhooks(deps, c),
                         resync=lambda r: run_resync_slice(deps, r),
                         deferred=lambda c: deferred_ring(deps, c))


def arq_pool(redis_url: str):
    """arq's client for enqueuing, connected on first use: arq's create_pool pings Redis first
    and raises after a few seconds when it is down, which kept the API from starting. Without
    Redis the API still stores and acknowledges writes; their rings fail, and the sweeper rings
    again once Redis is back."""
    from arq.connections import ArqRedis, RedisSettings
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    settings = RedisSettings.from_dsn(redis_url)
    # An API write waits on its ring, so a ring to a Redis that is away must fail fast: a short
    # connect and answer time-out, and no retries (the bell then skips Redis for a few seconds,
    # and the sweeper rings for what was skipped). A Redis that accepts but never answers would
    # otherwise hold every write for ever (redis-py has no answer time-out by default).
    return ArqRedis(host=settings.host, port=settings.port, db=settings.database, username=settings.username,
                    password=settings.password, ssl=settings.ssl, socket_connect_timeout=API_REDIS_TIMEOUT_S,
                    socket_timeout=API_REDIS_TIMEOUT_S, retry=Retry(NoBackoff(), 0), retry_on_timeout=False,
                    encoding="utf8")
