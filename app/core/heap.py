"""The process heap: the collector kept off the start-up heap and off a batch being validated,
free pages given back.

Freezing (`serve`): a process that has imported FastAPI, SQLAlchemy, pydantic and built the app
holds about 200,000 tracked objects that live as long as it does. Every full collection walks all
of them, and a batch write allocates enough (about ten objects per item: models, dicts, lists) to
trigger several: in a 1,000-customer batch, `validate_json` took 15 ms with the collector on and
7.5 ms with the start-up objects frozen (moved to the permanent generation, which collections
skip). Objects made later are collected as before; only what exists at start-up is never examined
again.
"""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection during a synchronous stretch that only builds objects, every one alive
    until the stretch ends (a batch's validation: a model, a dict and a list per item). A
    collection in between walks them all and frees none of them; several ran per 1,000-item batch.
    Nothing else runs meanwhile (no await inside), and the collector is back on at the end."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def freeze_startup_heap() -> int:
    """Collect what start-up left over, then freeze the rest; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


# Draining, a worker's free C heap grew about 0.7 MB a minute, and one trim of its 25 MB heap took
# 0.09-0.25 ms: every 30 s keeps what sits idle small at no measurable cost.
TRIM_EVERY_S = 30.0


def _c_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the process already has loaded
    except (OSError, AttributeError):
        return None  # not glibc (musl, macOS): there is no trim to call, and none is made
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """Hands the C heap's free pages back to the system, at most once every `every_s` seconds.

    glibc only shrinks its heap from the top. A worker allocates buffers of many sizes (rows,
    request and response bodies, Redis replies) outside Python's small-object allocator, and the
    holes they leave in the middle of the heap stay resident: over a million records a worker's RSS
    grew about 1 MB per 100,000 while the bytes in use stayed flat (mallinfo2: 21 MB in use, the
    free part growing). `malloc_trim(0)` releases the free pages wherever they are; with it, a
    worker stayed within 97-102 MB over a million records (docs/PERFORMANCE.md, session 10).
    """

    def __init__(self, every_s: float = TRIM_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._trim = _c_malloc_trim()
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self.trims = 0

    def maybe_trim(self) -> bool:
        """Trim if the last trim is `every_s` old; True when it trimmed."""
        if self._trim is None:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self._every_s:
            return False
        self._last = now
        self._trim(0)
        self.trims += 1
        return True
