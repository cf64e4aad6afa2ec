"""Sporadic faults for the fake programs: a seeded share of calls goes wrong, each in one of the
ways a real program's calls go wrong.

    fake = FakeXero(chaos=Chaos(rate=0.2, seed=1))

Each call the fake accepts (inside its limits) draws once. A refusal (500, 502, 429 with
Retry-After) does nothing. A time-out or a reset may have done the work first, as a real program
may have stored a request whose answer never arrived; a malformed answer always comes after the
work. The draws are seeded, so a run can be repeated; `counts` says what was injected.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("500", "502", "429", "timeout", "reset", "malformed")
REFUSALS = {"500": 500, "502": 502, "429": 429}
MALFORMED_BODY = b'{"Status": "OK", "Id": "'  # cut off mid-string: not JSON


@dataclass(frozen=True)
class Fault:
    kind: str
    work_done: bool  # whether the program did the work before going wrong

    @property
    def refusal_status(self) -> int | None:
        return REFUSALS.get(self.kind)


@dataclass
class Chaos:
    rate: float
    seed: int = 0
    kinds: tuple[str, ...] = KINDS
    retry_after_s: int = 1  # what an injected 429 asks for
    hang_s: float = 40.0  # how long a time-out hangs: longer than any client waits
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not 0 <= self.rate <= 1:
            raise ValueError(f"rate in [0, 1] and kinds from {KINDS}, not {self.rate} / {sorted(unknown)}")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()  # served over TCP, the fake runs in its own thread

    def draw(self) -> Fault | None:
        """The fault for the next call, or None for a call that goes right."""
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            done = kind == "malformed" or (kind in ("timeout", "reset") and self._rng.random() < 0.5)
            self.counts[kind] += 1
            if done:
                self.counts[f"{kind} (work done)"] += 1
            return Fault(kind, done)
