"""What the bell reads off arq's queue: whether a connection's job still waits there (so a ring
need not queue another, however long the wait), and whether any job waits for a worker at all (so
a connection draining a backlog lets it go first)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from arq.constants import in_progress_key_prefix

from app.models import RunTrigger
from app.models.base import utcnow
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
