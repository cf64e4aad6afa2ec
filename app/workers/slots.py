"""At most N jobs push one connection at once, by slots that expire with their holder.

A slot is a Redis lock with a short time to live, renewed by the holding job every second.
A SIGKILLed job stops renewing, and its slot is free again within SLOT_TTL_S: nothing else (no arq
job id, no in-progress marker) stands between a ring and a worker. A job that finds its slot taken
waits up to that long for it, so the work of a holder that died is taken up as soon as its lock
runs out, not at the next sweep; a holder that lives renews its lock and answers the ring itself.
Exclusivity of the work lives in the database (leases, SKIP LOCKED); the slots only keep the
number of jobs sensible.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import structlog
from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

log = structlog.get_logger(__name__)

SLOT_TTL_S = 3.0
AGAIN_TTL_S = 600
QUEUED_TTL_S = 3600  # only tidies a marker whose job Redis lost; a marker naming a waiting job holds


def slot_key(connection_id: uuid.UUID | str, slot: int) -> str:
    return f"possync:slot:{connection_id}:{slot}"


def again_key(connection_id: uuid.UUID | str, slot: int) -> str:
    """Set by every ring: the slot's holder goes round once more before it lets go."""
    return f"possync:again:{connection_id}:{slot}"


def queued_key(connection_id: uuid.UUID | str, slot: int) -> str:
    """Set while a ring's job for this slot waits in the queue: further rings need not add one."""
    return f"possync:queued:{connection_id}:{slot}"


@contextlib.asynccontextmanager
async def held_slot(redis: Redis, connection_id: uuid.UUID | str, slot: int,
                    *, ttl_s: float = SLOT_TTL_S) -> AsyncIterator[bool]:
    """Yield True while this job holds the slot (renewed in the background); False if another job
    held it throughout one lock lifetime (it is alive, and sees the ring's flag)."""
    lock = redis.lock(slot_key(connection_id, slot), timeout=ttl_s, sleep=0.05)
    if not await lock.acquire(blocking=True, blocking_timeout=ttl_s):
        yield False
        return
    beat = asyncio.create_task(_renew(lock, ttl_s), name=f"slot-{slot}")
    try:
        yield True
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        try:
            await lock.release()
        except (LockError, RedisError) as exc:  # expired or Redis away: it frees itself within ttl_s
            log.info("slot_release_failed", slot=slot, error=f"{type(exc).__name__}")


async def _renew(lock, ttl_s: float) -> None:
    while True:
        await asyncio.sleep(ttl_s / 3)
        try:
            await lock.reacquire()
        except LockError:
            # Lost (Redis restarted empty, or a long stall): another job may push beside this one,
            # which the database leases make safe; keep working.
            log.warning("slot_lost")
            return
        except (RedisError, OSError) as exc:
            log.warning("slot_renewal_failed", error=f"{type(exc).__name__}")
