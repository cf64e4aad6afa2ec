"""When a link that failed transiently is tried again."""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timedelta

BASE_S = 2.0
CAP_S = 3600.0
# A program that answered another call of the connection a moment ago is up: a call of it that
# failed without saying when to come back (a 500, a reset, a garbled answer) was unlucky, not a sign
# of an outage, and waiting longer each time it happens again only delays the records.
SPORADIC_CAP_S = 2.0
ANSWERING_WINDOW_S = 30.0
PRUNE_FLOOR = 512


def next_attempt(now: datetime, retries: int, retry_after_s: float | None = None, *, group: int = 0,
                 program_answering: bool = False) -> datetime:
    """Exponential back-off with jitter, never sooner than the program asked (Retry-After).

    Records that failed in one call share `group`, hence one jitter: they come due together and
    are claimed together again, so the retried call carries the same idempotency key. While the
    program answers other calls (`program_answering`) the back-off stops growing at a few seconds.
    """
    ceiling = min(CAP_S, BASE_S * 2 ** min(retries, 20))
    if program_answering:
        ceiling = min(ceiling, SPORADIC_CAP_S)
    delay = random.Random(group).uniform(ceiling / 2, ceiling) if group else random.uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return now + timedelta(seconds=delay)


class ProgramAnswers:
    """When this process last saw each connection's program answer a call well.

    Kept in memory on purpose: each worker judges from its own calls, and a restarted worker simply
    starts with the full back-off until it sees an answer.
    """

    def __init__(self, window_s: float = ANSWERING_WINDOW_S) -> None:
        self.window_s = window_s
        self._last: dict[uuid.UUID, float] = {}
        self._pruned_at = PRUNE_FLOOR

    def saw_answer(self, connection_id: uuid.UUID) -> None:
        now = time.monotonic()
        self._last[connection_id] = now
        if len(self._last) > self._pruned_at * 2:
            # What is older than the window says nothing any more: dropped, so connections that
            # come and go leave nothing behind (checked when the map has doubled: rarely).
            self._last = {c: seen for c, seen in self._last.items() if now - seen <= self.window_s}
            self._pruned_at = max(len(self._last), PRUNE_FLOOR)

    def answering(self, connection_id: uuid.UUID) -> bool:
        seen = self._last.get(connection_id)
        return seen is not None and time.monotonic() - seen <= self.window_s


program_answers = ProgramAnswers()
