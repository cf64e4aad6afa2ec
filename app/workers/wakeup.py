"""Waking an idle `possync worker` the moment a job is queued, instead of at its next queue poll.

arq looks at its queue on a timer (`poll_delay`); a SYNC NOW queued just after a look waited for
the next one: 0.5 s by default, and a short timer costs every idle worker CPU all day. Here the
bell, after queueing jobs, pushes as many tokens onto a Redis list; an idle worker waits on that
list with BLPOP (one token wakes one worker), then looks at the queue at once. The timer stays,
as the longest an idle worker waits without a token: deferred jobs (`ring_at`) and the cron sweep
are due by the clock, not by a ring, and a token lost with a Redis restart costs one interval.
"""

from __future__ import annotations

import asyncio

from arq.worker import Worker
from redis.asyncio import Redis

WAKE_KEY = "possync:wake"
# Tokens nobody takes (no worker running) must not pile up: the list keeps the newest few and
# disappears a minute after the last push.
MAX_TOKENS = 64
TOKENS_TTL_S = 60
BUSY_LOOK_S = 0.05


async def wake_workers(redis: Redis, jobs: int = 1) -> None:
    """One token per job just queued: that many idle workers wake up."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.lpush(WAKE_KEY, *([1] * jobs))
        pipe.ltrim(WAKE_KEY, 0, MAX_TOKENS - 1)
        pipe.expire(WAKE_KEY, TOKENS_TTL_S)
        await pipe.execute()


class WakeableWorker(Worker):
    """arq's worker, whose wait between two looks at the queue ends early when a token arrives."""

    def __init__(self, *args, poll_delay: float = 0.5, **kwargs) -> None:
        # arq's own timer is off (a zero sleep); the wait happens in the BLPOP below, bounded by
        # the same interval.
        super().__init__(*args, poll_delay=0, **kwargs)
        self.wake_wait_s = poll_delay

    async def _poll_iteration(self) -> None:
        await super()._poll_iteration()
        if self.burst:
            return
        if self.job_counter >= self.max_jobs:
            # Full: leave the tokens to a worker that can start the job, and look again shortly.
            await asyncio.sleep(min(self.wake_wait_s, BUSY_LOOK_S))
            return
        await self.pool.blpop([WAKE_KEY], timeout=self.wake_wait_s)
