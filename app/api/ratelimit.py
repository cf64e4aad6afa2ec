"""Per-store request limit: shared through Redis when REDIS_URL is set (every API process counts
together), in process memory when embedded."""

from __future__ import annotations

import math
import time
import uuid

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from app.settings import Settings


class StoreRequestLimit:
    def __init__(self, settings: Settings) -> None:
        self.item = parse(settings.store_rate_limit)
        storage: Storage = (
            RedisStorage(f"async+{settings.redis_url}", implementation="redispy", key_prefix="possync:store-limit")
            if settings.redis_url
            else MemoryStorage()
        )
        self._limiter = FixedWindowRateLimiter(storage)

    async def retry_after_s(self, store_id: uuid.UUID) -> int | None:
        """Count one request; None if it may go ahead, else how many seconds to wait."""
        if await self._limiter.hit(self.item, "store", str(store_id)):
            return None
        stats = await self._limiter.get_window_stats(self.item, "store", str(store_id))
        return max(1, math.ceil(stats.reset_time - time.time()))
