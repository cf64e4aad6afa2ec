"""The doorbells: arq jobs through Redis, or asyncio tasks in the API process (embedded mode).

Rings never reuse a job id a dead worker could still hold: arq keeps a killed job's in-progress
marker for its whole timeout, so fixed ids once stalled a connection for an hour. Each ring's job
has an id of its own; how many jobs push one connection at once is kept by slots that expire with
their holder (app.workers.slots).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix

from app.models import RunTrigger
from app.workers.slots import AGAIN_TTL_S, QUEUED_TTL_S, again_key, queued_key
from app.workers.wakeup import wake_workers

log = structlog.get_logger(__name__)

SYNC_JOB = "sync_connection"
RING_JOB = "ring_later"
WEBHOOK_JOB = "process_webhooks"
RESYNC_JOB = "resync_period"
LATE_S = 5.0  # a wake-up this far past its time is taken as lost (its worker died)
# After a ring fails, rings skip Redis this long instead of each waiting for its own failure: an API
# write must not wait on a Redis that is away, and the sweeper rings for whatever was skipped.
REDIS_PAUSE_S = 5.0


# Marks a job as queued unless the job the marker names still waits in arq's queue: there (a job
# stays in the queue's sorted set until it finishes) and not started. The marker holds for as long
# as its job waits, however deep the queue; one whose job is gone (Redis lost it) or was started (a
# worker killed before the job took its marker down) is replaced at once.
_MARK_UNLESS_QUEUED = """
local queued = redis.call('get', KEYS[1])
if queued and redis.call('zscore', KEYS[2], queued) and redis.call('exists', ARGV[3] .. queued) == 0 then
  return 0
end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# Whether a due job of the queue has not started yet (arq marks a started job in progress), other
# than the asking connection's own (its job ids name it).
_OTHERS_WAITING = """
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job_id in ipairs(due) do
  if not string.find(job_id, ARGV[4], 1, true) and redis.call('exists', ARGV[3] .. job_id) == 0 then
    return 1
  end
end
return 0
"""
# Looked at from the queue's head: more than every job the workers can run at once, so a waiting job
# is found behind the running ones.
WAITING_LOOK = 200


def webhooks_queued_key(connection_id: uuid.UUID | str) -> str:
    """Set while a program-changes job of the connection is queued and not yet started."""
    return f"possync:webhooks-queued:{connection_id}"


def later_key(connection_id: uuid.UUID | str) -> str:
    """The time of the connection's next deferred ring, while one is queued."""
    return f"possync:later:{connection_id}"


class Bell(Protocol):
    """What the engine and the API need to wake workers. Redis is only a doorbell: the pending links
    in the database are the work, so a lost ring costs latency, never data (the sweeper rings again)."""

    async def ring(self, connection_id: uuid.UUID, *, trigger: str, run_id: uuid.UUID | None = None) -> None:
        """Wake the connection's first job slot (or start SYNC NOW's run, with `run_id`)."""

    async def ring_more(self, connection_id: uuid.UUID) -> None:
        """The connection has more than a batch due: its other job slots join in (embedded mode's
        rings start one task; a worker's slots that went idle are woken again)."""

    async def others_waiting(self, connection_id: uuid.UUID) -> bool:
        """Other connections' jobs wait in the queue for a worker: a connection draining a backlog
        lets them go first (app.sync.runner), so one shop's import never holds another shop's sale
        back."""

    async def ring_at(self, connection_id: uuid.UUID, when: datetime) -> None:
        """Ring once more when the soonest back-off ends, instead of waiting for the sweeper."""

    async def ring_webhooks(self, connection_id: uuid.UUID) -> None:
        """Process the connection's stored webhook events (app.webhooks.processing)."""

    async def ring_resync(self, connection_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """Do the next slice of a resync run (app.sync.resync), in a job of its own."""


class ArqBell:
    def __init__(self, redis: ArqRedis, slots: int, *, pause_s: float = REDIS_PAUSE_S) -> None:
        self._redis = redis
        self._slots = slots
        self._pause_s = pause_s
        self._skip_until = 0.0  # time.monotonic() before which rings do not try Redis

    def _paused(self, connection_id: uuid.UUID) -> bool:
        if time.monotonic() < self._skip_until:
            log.info("ring_skipped", connection_id=str(connection_id), reason="redis_failed_recently")
            return True
        return False

    def _failed(self, connection_id: uuid.UUID, exc: Exception) -> None:
        self._skip_until = time.monotonic() + self._pause_s
        log.warning("ring_failed", connection_id=str(connection_id), error=f"{type(exc).__name__}: {exc}",
                    skip_redis_s=self._pause_s)

    async def ring(self, connection_id: uuid.UUID, *, trigger: str, run_id: uuid.UUID | None = None) -> None:
        if self._paused(connection_id):
            return
        try:
            if run_id is not None:
                # SYNC NOW gets its own job, so its run is not swallowed by a job already queued.
                await self._redis.enqueue_job(
                    SYNC_JOB, str(connection_id), str(run_id), trigger, None, _job_id=f"run:{run_id}"
                )
                await wake_workers(self._redis)
                return
            # The first slot only, so a shop's sale costs one job: the other slots join when a claim
            # comes back full (`ring_more`). A first slot whose holder died is free again within its
            # lock's lifetime, and the ring's job waits that long for it (app.workers.slots).
            await self._ring_slots(connection_id, trigger, range(1))
        except Exception as exc:  # noqa: BLE001 - the database already holds the work; the sweeper re-rings
            self._failed(connection_id, exc)

    async def ring_more(self, connection_id: uuid.UUID) -> None:
        if self._slots < 2 or self._paused(connection_id):
            return
        try:
            await self._ring_slots(connection_id, RunTrigger.SCHEDULE, range(1, self._slots))
        except Exception as exc:  # noqa: BLE001 - the first slot pushes on alone meanwhile
            self._failed(connection_id, exc)

    async def others_waiting(self, connection_id: uuid.UUID) -> bool:
        try:
            return bool(await self._redis.eval(_OTHERS_WAITING, 1, self._redis.default_queue_name,
                                               int(time.time() * 1000), WAITING_LOOK, in_progress_key_prefix,
                                               str(connection_id)))
        except Exception:  # noqa: BLE001 - not knowing is no reason to stop pushing
            return False

    async def _mark_queued(self, marker: str, job_id: str) -> bool:
        """True if a job should be queued under this marker (none of its kind waits already)."""
        return bool(await self._redis.eval(_MARK_UNLESS_QUEUED, 2, marker, self._redis.default_queue_name,
                                           job_id, QUEUED_TTL_S, in_progress_key_prefix))

    async def _ring_slots(self, connection_id: uuid.UUID, trigger: str, slots: range) -> None:
        queued = 0
        for slot in slots:
            # The flag first: a job holding the slot sees it when it runs dry and goes round once
            # more, so a record that arrived during its last claim is not left waiting.
            await self._redis.set(again_key(connection_id, slot), 1, ex=AGAIN_TTL_S)
            # One queued job per slot is enough; a job deletes the marker as it starts.
            job_id = f"sync:{connection_id}:{slot}:{uuid.uuid4().hex}"
            if await self._mark_queued(queued_key(connection_id, slot), job_id):
                await self._redis.enqueue_job(SYNC_JOB, str(connection_id), None, trigger, slot, _job_id=job_id)
                queued += 1
        if queued:
            await wake_workers(self._redis, queued)

    async def ring_webhooks(self, connection_id: uuid.UUID) -> None:
        if self._paused(connection_id):
            return
        try:
            # One queued job per connection is enough (deliveries come in bursts): the marker is
            # deleted as the job starts, so a ring after that queues one more, which sees the events
            # the running job may have missed; the marker expires by itself if its job is lost.
            # A fresh id per ring: a job already running may have read the events before these.
            job_id = f"webhooks:{connection_id}:{uuid.uuid4().hex}"
            if not await self._mark_queued(webhooks_queued_key(connection_id), job_id):
                return
            await self._redis.enqueue_job(WEBHOOK_JOB, str(connection_id), _job_id=job_id)
            await wake_workers(self._redis)
        except Exception as exc:  # noqa: BLE001 - the events stay stored; the sweeper rings for them
            self._failed(connection_id, exc)

    async def ring_resync(self, connection_id: uuid.UUID, run_id: uuid.UUID) -> None:
        if self._paused(connection_id):
            return
        try:
            # A fresh id per ring: the run itself says which job holds it (its heartbeat), so a
            # duplicate ring costs one look at the run, and a dead worker's id never blocks it.
            await self._redis.enqueue_job(RESYNC_JOB, str(run_id), _job_id=f"resync:{run_id}:{uuid.uuid4().hex}")
            await wake_workers(self._redis)
        except Exception as exc:  # noqa: BLE001 - the run stays queued; the sweeper rings for it
            self._failed(connection_id, exc)

    async def ring_at(self, connection_id: uuid.UUID, when: datetime) -> None:
        if self._paused(connection_id):
            return
        try:
            at_s = when.timestamp()
            stored = await self._redis.get(later_key(connection_id))
            if stored is not None and time.time() - LATE_S <= float(stored) <= at_s:
                return  # a wake-up at or before this one is already queued
            delay_s = max(0.0, at_s - time.time())
            await self._redis.set(later_key(connection_id), repr(at_s), px=int((delay_s + 60) * 1000))
            await self._redis.enqueue_job(
                RING_JOB, str(connection_id), repr(at_s),
                _job_id=f"later:{connection_id}:{int(at_s * 1000)}", _defer_until=when,
            )
        except Exception as exc:  # noqa: BLE001 - the sweeper rings it anyway
            self._failed(connection_id, exc)


SyncFunction = Callable[[str, str | None, str], Awaitable[object]]
ProcessFunction = Callable[[str], Awaitable[object]]  # takes a connection id (or a resync's run id)
DeferredRing = Callable[[uuid.UUID], Awaitable[object]]


class InProcessBell:
    """Embedded mode: the same job function, run as asyncio tasks in the API process."""

    def __init__(self, sync: SyncFunction, slots: int, process: ProcessFunction | None = None,
                 resync: ProcessFunction | None = None, deferred: DeferredRing | None = None) -> None:
        self._sync = sync
        self._deferred = deferred  # what a ring_at does when its time comes; a plain ring without it
        self._process = process
        self._resync = resync
        self._slots = slots
        self._running: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        self._timers: dict[uuid.UUID, tuple[float, asyncio.TimerHandle]] = {}
        self._deferring: set[asyncio.Task] = set()  # deferred rings under way (kept from garbage collection)

    async def ring(self, connection_id: uuid.UUID, *, trigger: str, run_id: uuid.UUID | None = None) -> None:
        if run_id is not None:
            if f"run:{run_id}" not in self._running:
                self._start(f"run:{run_id}", str(connection_id), str(run_id), trigger)
            return
        self._ring_slots(connection_id, trigger, range(1))

    async def ring_more(self, connection_id: uuid.UUID) -> None:
        self._ring_slots(connection_id, RunTrigger.SCHEDULE, range(1, self._slots))

    async def others_waiting(self, connection_id: uuid.UUID) -> bool:
        return False  # every ring starts its task at once: nothing waits for a worker here

    def _ring_slots(self, connection_id: uuid.UUID, trigger: str, slots: range) -> None:
        for slot in slots:
            job_id = f"sync:{connection_id}:{slot}"
            if job_id in self._running:
                self._again.add(job_id)
            else:
                self._start(job_id, str(connection_id), None, trigger)

    async def ring_webhooks(self, connection_id: uuid.UUID) -> None:
        if self._process is None:
            return  # nothing processes here; the events stay stored for whoever does
        # The running pass may have read the events before these: it goes round once more.
        self._run_again(f"webhooks:{connection_id}", self._process, str(connection_id))

    async def ring_resync(self, connection_id: uuid.UUID, run_id: uuid.UUID) -> None:
        if self._resync is None:
            return  # nothing resyncs here; the run stays queued for whoever does
        # A slice handing the run back rings from inside its own task: that task goes round again.
        self._run_again(f"resync:{run_id}", self._resync, str(run_id))

    def _run_again(self, job_id: str, function: ProcessFunction, argument: str) -> None:
        if job_id in self._running:
            self._again.add(job_id)
            return
        self._running[job_id] = asyncio.create_task(self._process_loop(job_id, function, argument), name=job_id)

    async def _process_loop(self, job_id: str, function: ProcessFunction, argument: str) -> None:
        try:
            while True:
                self._again.discard(job_id)
                try:
                    await function(argument)
                except Exception:  # noqa: BLE001 - logged; the events stay unprocessed; the sweeper rings again
                    log.exception("in_process_job_failed", job_id=job_id)
                if job_id not in self._again:
                    break
        finally:
            self._running.pop(job_id, None)

    async def ring_at(self, connection_id: uuid.UUID, when: datetime) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time() + max(0.0, (when - datetime.now(UTC)).total_seconds())
        current = self._timers.get(connection_id)
        if current is not None:
            if current[0] <= at:
                return  # an earlier wake-up is already set; it rings again if more is due later
            current[1].cancel()

        def wake() -> None:
            self._timers.pop(connection_id, None)
            task = asyncio.ensure_future(self._ring_deferred(connection_id))
            self._deferring.add(task)
            task.add_done_callback(self._deferring.discard)

        self._timers[connection_id] = (at, loop.call_at(at, wake))

    async def _ring_deferred(self, connection_id: uuid.UUID) -> None:
        if self._deferred is None:
            await self.ring(connection_id, trigger=RunTrigger.SCHEDULE)
            return
        try:
            await self._deferred(connection_id)
        except Exception:  # noqa: BLE001 - logged; the sweeper rings for whatever is due
            log.exception("deferred_ring_failed", connection_id=str(connection_id))

    def _start(self, job_id: str, connection_id: str, run_id: str | None, trigger: str) -> None:
        self._running[job_id] = asyncio.create_task(self._run(job_id, connection_id, run_id, trigger), name=job_id)

    async def _run(self, job_id: str, connection_id: str, run_id: str | None, trigger: str) -> None:
        try:
            while True:
                self._again.discard(job_id)
                try:
                    await self._sync(connection_id, run_id, trigger)
                except Exception:  # noqa: BLE001 - logged; the sweeper retries what stayed pending
                    log.exception("in_process_job_failed", job_id=job_id)
                if run_id is not None or job_id not in self._again:
                    break
        finally:
            self._running.pop(job_id, None)

    async def drain(self) -> None:
        """Wait until every running job has ended (tests, shutdown)."""
        while self._running or self._deferring:
            await asyncio.gather(*self._running.values(), *self._deferring, return_exceptions=True)

    async def close(self) -> None:
        for _at, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = [*self._running.values(), *self._deferring]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
