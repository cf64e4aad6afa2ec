"""When a link that failed transiently is tried again."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

BASE_S = 2.0
CAP_S = 3600.0


def next_attempt(now: datetime, retries: int, retry_after_s: float | None = None, *, group: int = 0) -> datetime:
    """Exponential back-off with jitter, never sooner than the program asked (Retry-After).

    Records that failed in one call share `group`, hence one jitter: they come due together and
    are claimed together again, so the retried call carries the same idempotency key.
    """
    ceiling = min(CAP_S, BASE_S * 2 ** min(retries, 20))
    delay = random.Random(group).uniform(ceiling / 2, ceiling) if group else random.uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return now + timedelta(seconds=delay)
