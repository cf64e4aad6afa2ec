"""What a connector learned about a company (Xero's item codes and tax rates, QuickBooks' tax
preferences and rates), kept where every worker sees it.

Each worker used to learn these for itself, so a worker restarted after a crash (or a second
worker) read them from the program again: calls that count against the program's limits and
add nothing. With Redis they are kept there, with a time to live, and survive a worker's restart;
without Redis (embedded jobs) or while Redis is away, in the process's memory.

Only facts about the company are kept here, never the state of a record: that is the engine's.
Values are JSON.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

KEY_PREFIX = "possync:memo:"


class CompanyMemo(Protocol):
    async def get(self, key: str) -> Any | None:
        """The value kept under `key`, or None when nothing is (or it expired)."""

    async def put(self, key: str, value: Any, ttl_s: float) -> None:
        """Keep `value` for `ttl_s` seconds."""


class LocalMemo:
    """In the process's memory: embedded jobs, tests, and the fallback while Redis is away."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, Any]] = {}  # key → (monotonic expiry, value)

    async def get(self, key: str) -> Any | None:
        kept = self._kept.get(key)
        if kept is None or kept[0] <= time.monotonic():
            self._kept.pop(key, None)
            return None
        return json.loads(kept[1])

    async def put(self, key: str, value: Any, ttl_s: float) -> None:
        # Stored as JSON so a caller never shares a mutable value with a later reader (as with Redis).
        self._kept[key] = (time.monotonic() + ttl_s, json.dumps(value))


class RedisMemo:
    """In Redis, shared by every worker and API process; in memory while Redis does not answer
    (a look-up costs one call to the program, never a failed push)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._fallback = LocalMemo()

    async def get(self, key: str) -> Any | None:
        try:
            raw = await self._redis.get(KEY_PREFIX + key)
        except RedisError as exc:
            log.info("memo_unavailable", key=key, error=type(exc).__name__)
            return await self._fallback.get(key)
        return None if raw is None else json.loads(raw)

    async def put(self, key: str, value: Any, ttl_s: float) -> None:
        try:
            await self._redis.set(KEY_PREFIX + key, json.dumps(value), px=max(1, int(ttl_s * 1000)))
        except RedisError as exc:
            log.info("memo_unavailable", key=key, error=type(exc).__name__)
            await self._fallback.put(key, value, ttl_s)


def company_memo(redis: Redis | None) -> CompanyMemo:
    return RedisMemo(redis) if redis is not None else LocalMemo()
