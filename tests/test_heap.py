"""The process heap (app.core.heap): `possync serve` freezes its start-up heap, so the collector's
full passes during a batch write skip the objects that live as long as the process; workers give
the C heap's free pages back."""

from __future__ import annotations

import gc

import pytest

from app.cli import serving_app
from app.core.heap import HeapTrimmer, collector_paused


def test_serve_freezes_the_heap_after_building_the_app(settings):
    gc.unfreeze()
    try:
        app = serving_app(settings)
        frozen = gc.get_freeze_count()
        assert app.openapi_schema is not None  # built before the freeze, so frozen with the rest
        assert frozen > 10_000
        # What is made afterwards is collected as usual.
        garbage = []
        garbage.append(garbage)
        del garbage
        assert gc.collect() >= 1
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()  # the test process's heap goes back to normal collection


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024


def test_the_trimmer_gives_back_free_pages_in_the_middle_of_the_heap():
    trimmer = HeapTrimmer()
    # 48 MB in blocks below glibc's mmap threshold, then one more on top that stays: freeing the
    # first leaves free pages under a live block, which glibc keeps resident until trimmed.
    blocks = [bytearray(100_000) for _ in range(480)]
    top = bytearray(100_000)
    del blocks
    before = _rss_mb()
    assert trimmer.maybe_trim()  # CI runs on glibc, which has malloc_trim
    assert before - _rss_mb() > 30
    assert len(top) == 100_000


def test_the_trimmer_trims_at_most_once_an_interval():
    now = [100.0]
    trimmer = HeapTrimmer(every_s=30.0, clock=lambda: now[0])
    assert trimmer.maybe_trim()
    now[0] += 29.0
    assert not trimmer.maybe_trim()
    now[0] += 1.0
    assert trimmer.maybe_trim()
    assert trimmer.trims == 2


def test_the_collector_is_paused_for_the_stretch_and_back_on_after_it():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("a refused batch")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
