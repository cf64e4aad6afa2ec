"""What the bell reads off arq's queue: whether a connection's job still waits there (so a ring
need not queue another, however long the wait), and whether any job waits for a worker at all (so
a connection draining a backlog lets it go first). And the job slots a ring's job takes: from a
holder that died, as soon as its lock runs out; never from one that lives."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from arq.constants import in_progress_key_prefix

from app.models import RunTrigger
from app.models.base import utcnow
from app.workers.slots import held_slot, slot_key
from tests.conftest import arq_stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
async def stack(migrated):
    async with arq_stack(migrated, POSSYNC_SWEEP_INTERVAL_S=3600) as stack:
        yield stack


async def _sync_jobs(stack, slot: int | None = None) -> list[str]:
    return sorted(job.job_id for job in await stack.pool.queued_jobs()
                  if job.function == "sync_connection" and slot in (None, job.args[-1]))


async def test_a_ring_queues_no_second_job_while_the_first_waits_and_replaces_one_started_or_lost(stack):
    bell, redis, connection_id = stack.deps.bell, stack.deps.redis, uuid.uuid4()
    await bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    (first,) = await _sync_jobs(stack, 0)
    # The marker once expired after 10 s: under a deep queue every sweep then queued a duplicate.
    for _ in range(3):
        await bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    assert await _sync_jobs(stack, 0) == [first]

    # Started (in progress) by a worker that died before the job took its marker down: not waiting.
    await redis.set(in_progress_key_prefix + first, 1)
    await bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    jobs = await _sync_jobs(stack, 0)
    assert len(jobs) == 2 and first in jobs
    (second,) = set(jobs) - {first}

    # Gone from the queue (Redis lost it): the next ring queues one again.
    await redis.zrem("arq:queue", second)
    await bell.ring(connection_id, trigger=RunTrigger.SCHEDULE)
    assert len(set(await _sync_jobs(stack, 0)) - {first, second}) == 1


async def test_others_wait_only_while_another_connections_due_job_has_not_started(stack):
    bell, redis = stack.deps.bell, stack.deps.redis
    mine, other = uuid.uuid4(), uuid.uuid4()
    assert await bell.others_waiting(mine) is False
    await bell.ring(mine, trigger=RunTrigger.SCHEDULE)
    assert await bell.others_waiting(mine) is False  # its own next job is no reason to stop
    await bell.ring(other, trigger=RunTrigger.SCHEDULE)
    jobs = [job for job in await _sync_jobs(stack) if str(other) in job]
    assert await bell.others_waiting(mine) is True
    for job_id in jobs:
        await redis.set(in_progress_key_prefix + job_id, 1)  # a worker runs them: they wait no more
    assert await bell.others_waiting(mine) is False
    # A deferred ring due later waits for its time, not for a worker.
    await bell.ring_at(uuid.uuid4(), utcnow() + timedelta(minutes=5))
    assert await bell.others_waiting(mine) is False


async def test_a_slot_whose_holder_died_is_taken_once_its_lock_runs_out(stack):
    redis, connection_id = stack.deps.redis, uuid.uuid4()
    # A SIGKILLed holder: its lock stays, and nobody renews it.
    await redis.set(slot_key(connection_id, 0), "a dead job's token", px=600)
    started = time.monotonic()
    async with held_slot(redis, connection_id, 0, ttl_s=1.5) as held:
        waited = time.monotonic() - started
        assert held
    # Taken when the lock ran out (0.6 s), not at the next ring or sweep.
    assert 0.5 <= waited < 1.2


async def test_a_slot_whose_holder_lives_is_left_to_it(stack):
    redis, connection_id = stack.deps.redis, uuid.uuid4()
    async with held_slot(redis, connection_id, 0, ttl_s=0.6) as holder:
        assert holder
        started = time.monotonic()
        # The holder renews its lock (every 0.2 s here) for longer than the lock's lifetime.
        async with held_slot(redis, connection_id, 0, ttl_s=0.6) as second:
            waited = time.monotonic() - started
            assert not second
        assert waited >= 0.55
        await asyncio.sleep(0.7)
        assert await redis.exists(slot_key(connection_id, 0))
    assert not await redis.exists(slot_key(connection_id, 0))  # let go at the end
