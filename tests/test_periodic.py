"""The sweeper's and the schedule tick's intervals become arq cron fields that fire that often."""

from __future__ import annotations

from datetime import datetime

import pytest
from arq.cron import next_cron

from app.workers.periodic import cron_times


def gaps(interval_s: int, count: int = 6) -> list[float]:
    at, fired = datetime(2026, 11, 27, 10, 0, 3), []
    for _ in range(count):
        at = next_cron(at, **cron_times(interval_s))
        fired.append(at)
    return [(later - earlier).total_seconds() for earlier, later in zip(fired, fired[1:], strict=False)]


@pytest.mark.parametrize("interval_s", [1, 10, 30, 60, 300, 900, 3600, 7200])
def test_an_interval_that_divides_its_unit_fires_evenly(interval_s):
    assert gaps(interval_s) == [float(interval_s)] * 5


def test_an_interval_that_does_not_divide_the_minute_never_waits_longer_than_it():
    found = gaps(7, count=20)
    assert max(found) == 7 and min(found) == 4  # …, 49, 56, then 0 of the next minute


def test_intervals_of_minutes_no_longer_fire_every_minute():
    # The sweep interval was once mapped to "second 0 of every minute" whatever its length.
    assert cron_times(600) == {"minute": {0, 10, 20, 30, 40, 50}, "second": {0}}
