"""Per-organisation call limits, shared by every worker through Redis (in memory when embedded).

A connector declares its program's limits (app.connectors.limits.RateLimits, with named buckets);
the engine hands it a limiter keyed by the remote organisation, and the connector's HTTP adapter
wraps every call in `async with limiter.slot():` (or `slot("batch")` to spend a named bucket too).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from app.connectors.limits import NoLimits, RateLimits
from app.core.redis_client import timeouts


__all__ = ["CallLimiter", "NoLimits", "RateLimits", "SharedLimits"]


class CallLimiter:
    """Limits for one remote organisation."""

    def __init__(self, key: str, limits: RateLimits, window: "SharedLimits") -> None:
        self._key = key
        self._limits = limits
        self._shared = window

    @asynccontextmanager
    async def slot(self, *buckets: str) -> AsyncIterator[None]:
        held: list[tuple[str, str | None]] = []
        hold_s = 0.0
        try:
            # Buckets in one fixed order, so two calls never wait on each other crosswise.
            for name, bucket in self._limits.spent_by(buckets):
                key = f"{self._key}:{name}" if name else self._key
                limits = RateLimits(bucket.per_minute, bucket.concurrent, self._limits.slot_timeout_s)
                held.append((key, await self._shared.acquire_in_flight(key, limits)))
                await self._shared.wait_for_minute_window(key, limits)
            try:
                yield
            except BaseException:
                hold_s = self._limits.abandoned_call_s  # the program may still be working on it
                raise
        finally:
            for key, token in reversed(held):
                await self._shared.release_in_flight(key, token, hold_s=hold_s)


# Counting semaphore in a sorted set: members are slot tokens scored by their expiry time, so a
# worker killed mid-call frees its slot after slot_timeout_s instead of blocking the tenant.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


# The program counts a call when it arrives, possync when it decides to send it: counted over 61 s,
# the window's first call has surely left the program's own window (it arrived a little after it
# was counted here) when the next window's worth goes, so the program never answers 429 for it.
WINDOW_MARGIN_S = 1


def minute_window(per_minute: int) -> RateLimitItem:
    return RateLimitItemPerSecond(per_minute, 60 + WINDOW_MARGIN_S)


class SharedLimits:
    """Owns the storage; hands out CallLimiters. One per process."""

    def __init__(self, redis: Redis | None, redis_url: str | None) -> None:
        self._redis = redis
        storage: Storage = (
            RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix="possync:limits",
                         **timeouts())
            if redis_url
            else MemoryStorage()
        )
        self._window = MovingWindowRateLimiter(storage)
        # Embedded mode: a semaphore per key while a call holds or waits for a slot, then forgotten,
        # so organisations that come and go leave nothing behind.
        self._local: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}
        self._acquire = redis.register_script(_ACQUIRE) if redis is not None else None

    def for_organisation(self, key: str, limits: RateLimits | None) -> CallLimiter | NoLimits:
        return CallLimiter(key, limits, self) if limits else NoLimits()

    async def wait_for_minute_window(self, key: str, limits: RateLimits) -> None:
        if not limits.per_minute:
            return
        item = minute_window(limits.per_minute)
        while not await self._window.hit(item, "possync", key):
            stats = await self._window.get_window_stats(item, "possync", key)
            await asyncio.sleep(max(0.05, min(5.0, stats.reset_time - time.time())))

    async def acquire_in_flight(self, key: str, limits: RateLimits) -> str | None:
        if not limits.concurrent:
            return None
        token = uuid.uuid4().hex
        if self._acquire is None:
            semaphore = self._local.setdefault(key, asyncio.Semaphore(limits.concurrent))
            self._users[key] = self._users.get(key, 0) + 1
            try:
                await semaphore.acquire()
            except BaseException:
                self._forget(key)
                raise
            return token
        delay = 0.02
        while True:
            now = time.time()
            got = await self._acquire(
                keys=[f"possync:inflight:{key}"],
                args=[now, limits.concurrent, now + limits.slot_timeout_s, token, int(limits.slot_timeout_s) + 60],
            )
            if got == 1:
                return token
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def release_in_flight(self, key: str, token: str | None, *, hold_s: float = 0.0) -> None:
        """Free the slot now, or (hold_s > 0) once that time has passed."""
        if token is None:
            return
        if self._redis is None:
            if hold_s > 0:
                asyncio.get_running_loop().call_later(hold_s, self._release_local, key)
            else:
                self._release_local(key)
        elif hold_s > 0:
            # The acquire script drops members whose score (expiry) has passed.
            await self._redis.zadd(f"possync:inflight:{key}", {token: time.time() + hold_s}, xx=True)
        else:
            await self._redis.zrem(f"possync:inflight:{key}", token)

    def _release_local(self, key: str) -> None:
        self._local[key].release()
        self._forget(key)

    def _forget(self, key: str) -> None:
        self._users[key] -= 1
        if not self._users[key]:
            del self._users[key], self._local[key]
