"""Named locks across every worker (Redis) or within the process (embedded mode)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis


class Locks:
    def __init__(self, redis: Redis | None) -> None:
        self._redis = redis
        self._local: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, name: str, *, timeout_s: float = 60.0, wait_s: float = 90.0) -> AsyncIterator[None]:
        if self._redis is None:
            lock = self._local.setdefault(name, asyncio.Lock())
            async with asyncio.timeout(wait_s):
                await lock.acquire()
            try:
                yield
            finally:
                lock.release()
            return
        # timeout_s bounds how long a killed holder blocks the others.
        async with self._redis.lock(f"possync:lock:{name}", timeout=timeout_s, blocking_timeout=wait_s):
            yield
