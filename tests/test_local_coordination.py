"""Embedded mode's in-process locks and call slots: they still exclude while in use, and a name
nobody holds or waits for is forgotten, so connections and organisations that come and go leave
nothing behind in a long-running process."""

from __future__ import annotations

import asyncio

import pytest

from app.connectors.limits import RateLimits
from app.sync.limiter import SharedLimits
from app.sync.locks import Locks


async def test_a_local_lock_excludes_while_held_and_is_forgotten_after():
    locks = Locks(None)
    order: list[str] = []
    entered = asyncio.Event()

    async def first() -> None:
        async with locks.hold("refresh:A"):
            entered.set()
            await asyncio.sleep(0.01)
            order.append("first out")

    async def second() -> None:
        await entered.wait()
        async with locks.hold("refresh:A"):
            order.append("second in")

    await asyncio.gather(first(), second())
    assert order == ["first out", "second in"]
    assert locks._local == {} and locks._users == {}  # noqa: SLF001 - what is kept is the point


async def test_a_local_lock_waited_for_in_vain_is_forgotten_too():
    locks = Locks(None)
    async with locks.hold("refresh:B"):
        with pytest.raises(TimeoutError):
            async with locks.hold("refresh:B", wait_s=0.01):
                pass
    assert locks._local == {} and locks._users == {}  # noqa: SLF001


async def test_local_call_slots_limit_concurrency_and_are_forgotten_once_free():
    shared = SharedLimits(None, None)
    limits = RateLimits(None, 1, 30)
    first = await shared.acquire_in_flight("org-1", limits)
    waiting = asyncio.create_task(shared.acquire_in_flight("org-1", limits))
    await asyncio.sleep(0)
    assert not waiting.done()  # one call at a time
    await shared.release_in_flight("org-1", first)
    second = await waiting
    await shared.release_in_flight("org-1", second, hold_s=0.01)  # held a moment after an abandoned call
    assert "org-1" in shared._local  # noqa: SLF001
    await asyncio.sleep(0.05)
    assert shared._local == {} and shared._users == {}  # noqa: SLF001


async def test_a_cancelled_wait_for_a_call_slot_is_forgotten():
    shared = SharedLimits(None, None)
    limits = RateLimits(None, 1, 30)
    held = await shared.acquire_in_flight("org-2", limits)
    waiting = asyncio.create_task(shared.acquire_in_flight("org-2", limits))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await shared.release_in_flight("org-2", held)
    assert shared._local == {} and shared._users == {}  # noqa: SLF001
