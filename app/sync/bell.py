"""Waking workers. Redis is only a doorbell: the pending links in the database are the work.

A lost ring costs latency, never data: the sweeper rings again for whatever is still due.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog
from arq.connections import ArqRedis

log = structlog.get_logger(__name__)

SYNC_JOB = "sync_connection"
AGAIN_TTL_S = 600


def job_ids(connection_id: uuid.UUID | str, slots: int) -> list[str]:
    """A fixed set of job ids per connection: at most `slots` jobs push it at once."""
    return [f"sync:{connection_id}:{slot}" for slot in range(slots)]


def again_key(job_id: str) -> str:
    return f"possync:again:{job_id}"


class Bell(Protocol):
    async def ring(self, connection_id: uuid.UUID, *, trigger: str, run_id: uuid.UUID | None = None) -> None: ...

    async def ring_at(self, connection_id: uuid.UUID, when: datetime) -> None:
        """Ring once more when the soonest back-off ends, instead of waiting for the sweeper."""


class ArqBell:
    def __init__(self, redis: ArqRedis, slots: int) -> None:
        self._redis = redis
        self._slots = slots

    async def ring(self, connection_id: uuid.UUID, *, trigger: str, run_id: uuid.UUID | None = None) -> None:
        try:
            if run_id is not None:
                # SYNC NOW gets its own job, so its run is not swallowed by a job already queued.
                await self._redis.enqueue_job(
                    SYNC_JOB, str(connection_id), str(run_id), trigger, _job_id=f"run:{run_id}"
                )
                return
            for job_id in job_ids(connection_id, self._slots):
                # Set before enqueueing: a job already running sees it when it runs dry and goes
                # round once more, so a record that arrived during its last claim is not left waiting.
                await self._redis.set(again_key(job_id), 1, ex=AGAIN_TTL_S)
                await self._redis.enqueue_job(SYNC_JOB, str(connection_id), None, trigger, _job_id=job_id)
        except Exception as exc:  # noqa: BLE001 - the database already holds the work; the sweeper re-rings
            log.warning("ring_failed", connection_id=str(connection_id), error=str(exc))

    async def ring_at(self, connection_id: uuid.UUID, when: datetime) -> None:
        try:
            await self._redis.enqueue_job(
                SYNC_JOB, str(connection_id), None, "schedule", _job_id=f"later:{connection_id}", _defer_until=when
            )
        except Exception as exc:  # noqa: BLE001 - the sweeper rings it anyway
            log.warning("ring_failed", connection_id=str(connection_id), error=str(exc))


SyncFunction = Callable[[str, str | None, str], Awaitable[object]]


class InProcessBell:
    """Embedded mode: the same job function, run as asyncio tasks in the API process."""

    def __init__(self, sync: SyncFunction, slots: int) -> None:
        self._sync = sync
        self._slots = slots
        self._running: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        self._timers: dict[uuid.UUID, asyncio.TimerHandle] = {}

    async def ring(self, connection_id: uuid.UUID, *, trigger: str, run_id: uuid.UUID | None = None) -> None:
        if run_id is not None:
            self._start(f"run:{run_id}", str(connection_id), str(run_id), trigger)
            return
        for job_id in job_ids(connection_id, self._slots):
            if job_id in self._running:
                self._again.add(job_id)
            else:
                self._start(job_id, str(connection_id), None, trigger)

    async def ring_at(self, connection_id: uuid.UUID, when: datetime) -> None:
        if connection_id in self._timers:
            return  # one pending wake-up per connection is enough; the sweeper covers the rest
        delay_s = max(0.0, (when - datetime.now(UTC)).total_seconds())

        def wake() -> None:
            self._timers.pop(connection_id, None)
            asyncio.ensure_future(self.ring(connection_id, trigger="schedule"))

        self._timers[connection_id] = asyncio.get_running_loop().call_later(delay_s, wake)

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
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
