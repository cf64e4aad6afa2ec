"""The one way possync opens its shared Redis client (limits, locks, the company memo)."""

from __future__ import annotations

from redis.asyncio import Redis

# Each of these calls is one round trip on a local Redis. One that accepts connections and never
# answers must fail the call, not hang the job for ever: the job then fails and hands its batch
# back, and the sweeper rings again once Redis answers.
REDIS_TIMEOUT_S = 5.0


def timeouts() -> dict[str, float]:
    return {"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_timeout": REDIS_TIMEOUT_S}


def shared_redis(redis_url: str) -> Redis:
    return Redis.from_url(redis_url, **timeouts())
