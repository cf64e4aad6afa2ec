"""What a connector says about its program's call limits, and what it holds while calling.

A program may count calls in more than one way (QuickBooks: 500 requests a minute and 10 in
flight per company, *and* 40 batch calls a minute). The organisation's default bucket is spent by
every call; a call may also spend named buckets: `async with ctx.limiter.slot("batch"): ...`.
The engine enforces every bucket per remote organisation, shared by all workers (app.sync.limiter).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Bucket:
    """One counted limit: calls per minute and/or calls in flight."""

    per_minute: int | None = None
    concurrent: int | None = None


@dataclass(frozen=True)
class RateLimits:
    """The default bucket (every call) plus named buckets (calls that name them)."""

    per_minute: int | None = None
    concurrent: int | None = None
    slot_timeout_s: float = 120.0  # an in-flight slot held longer than this is presumed lost
    # A call that ended in an exception (a time-out, a dropped connection) may still be running at the
    # program: its in-flight slot stays taken this much longer, so the next call does not overrun.
    abandoned_call_s: float = 5.0
    buckets: Mapping[str, Bucket] = field(default_factory=dict)

    @property
    def default(self) -> Bucket:
        return Bucket(self.per_minute, self.concurrent)

    def spent_by(self, names: tuple[str, ...]) -> list[tuple[str, Bucket]]:
        """The named buckets (sorted), then ("", default); an unknown name is a connector bug.

        The default comes last so a call waiting for a scarce named bucket does not hold one of
        the organisation's in-flight slots meanwhile.
        """
        spent = []
        for name in sorted(set(names)):
            if name not in self.buckets:
                raise KeyError(f"no rate bucket {name!r}; declared: {', '.join(self.buckets) or 'none'}")
            spent.append((name, self.buckets[name]))
        return [*spent, ("", self.default)]


class CallSlot(Protocol):
    def slot(self, *buckets: str) -> AbstractAsyncContextManager[None]:
        """Wait until the default bucket and the named ones allow one more call; hold it during the call."""


class NoLimits:
    """For programs without limits, and for tests that call a connector directly."""

    @asynccontextmanager
    async def slot(self, *buckets: str) -> AsyncIterator[None]:
        yield
