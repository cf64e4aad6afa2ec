"""Named locks across every worker (Redis) or within the process (embedded mode)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis


class Locks:
    def __init__(self, redis: Redis | None) -> None:
        self._redis = redis
        # Within the process: a lock per name while someone holds or waits for it, then forgotten,
        # so names that come and go (a refresh per connection) leave nothing behind.
        self._local: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, name: str, *, timeout_s: float = 60.0, wait_s: float = 90.0) -> AsyncIterator[None]:
        if self._redis is None:
            lock = self._local.setdefault(name, asyncio.Lock())
            self._users[name] = self._users.get(name, 0) + 1
            try:
                async with asyncio.timeout(wait_s):
                    await lock.acquire()
                try:
                    yield
                finally:
                    lock.release()
            finally:
                self._users[name] -= 1
                if not self._users[name]:
                    del self._users[name], self._local[name]
            return
        # timeout_s bounds how long a killed holder blocks the others.
        async with self._redis.lock(f"possync:lock:{name}", timeout=timeout_s, blocking_timeout=wait_s):
            yield
