"""Per-store request limit: shared through Redis when REDIS_URL is set (every API process counts
together), in process memory when embedded.

Redis is not needed to store a record, so a Redis outage must not refuse writes: the limit then
lets requests through (logged) until Redis answers again.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import structlog
from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from app.settings import Settings

log = structlog.get_logger(__name__)
CHECK_TIMEOUT_S = 0.5  # a limit that cannot be counted this fast is skipped for this request
# After a failed count, requests go uncounted this long instead of each waiting out its own failure.
PAUSE_AFTER_FAILURE_S = 5.0


class StoreRequestLimit:
    def __init__(self, settings: Settings) -> None:
        self.item = parse(settings.store_rate_limit)
        # Counting in memory cannot hang, and a timeout per request cost more than the count itself
        # (6 of 9 us, measured): only a count in Redis, over the network, is bounded.
        self._bounded = bool(settings.redis_url)
        storage: Storage = (
            RedisStorage(f"async+{settings.redis_url}", implementation="redispy", key_prefix="possync:store-limit")
            if self._bounded
            else MemoryStorage()
        )
        self._limiter = FixedWindowRateLimiter(storage)
        self._skip_until = 0.0  # time.monotonic() before which requests are not counted

    async def retry_after_s(self, store_id: uuid.UUID) -> int | None:
        """Count one request; None if it may go ahead, else how many seconds to wait."""
        if not self._bounded:
            return await self._count(str(store_id))
        if time.monotonic() < self._skip_until:
            return None
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                return await self._count(str(store_id))
        except Exception as exc:  # noqa: BLE001 - Redis away or slow: serve the request uncounted
            log.warning("store_rate_limit_unavailable", error=type(exc).__name__, skip_s=PAUSE_AFTER_FAILURE_S)
            self._skip_until = time.monotonic() + PAUSE_AFTER_FAILURE_S
            return None

    async def _count(self, store: str) -> int | None:
        if await self._limiter.hit(self.item, "store", store):
            return None
        stats = await self._limiter.get_window_stats(self.item, "store", store)
        return max(1, math.ceil(stats.reset_time - time.time()))
