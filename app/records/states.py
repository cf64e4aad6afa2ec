"""A record's overall symbol and state from the states of its links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models import LinkState


def symbol_of(states: list[str]) -> str:
    """green: synced wherever it should be; red: not yet, or refused; none: no program should get it
    (no connection syncs it, or every one skips it: a voided sale, a shift in individual mode)."""
    wanted = [s for s in states if s != LinkState.SKIPPED]
    if not wanted:
        return "none"
    return "green" if all(s == LinkState.SYNCED for s in wanted) else "red"


_ALONE = {LinkState.SYNCED: "green", LinkState.FAILED: "red", LinkState.SKIPPED: "none"}


@dataclass(frozen=True)
class Overall:
    symbol: str
    state: str
    next_attempt_at: datetime | None = None
    retries: int | None = None


def overall(links: list[tuple[str, datetime | None, int | None]]) -> Overall:
    """From (state, next_attempt_at, retries) per link: the most pressing state first (failed needs
    the shop, pending needs time, synced needs nothing); skipped when no program should get it."""
    if len(links) == 1:  # one connection, the usual shop: its link's state is the record's
        state, next_at, retries = links[0]
        if state == LinkState.PENDING:
            return Overall("red", state, next_at, retries or 0)
        return Overall(_ALONE[state], state)
    states = [s for s, _n, _r in links]
    symbol = symbol_of(states)
    if LinkState.FAILED in states:
        return Overall(symbol, LinkState.FAILED)
    pending = [(n, r) for s, n, r in links if s == LinkState.PENDING]
    if pending:
        next_at = min((n for n, _r in pending if n is not None), default=None)
        return Overall(symbol, LinkState.PENDING, next_at, max(r or 0 for _n, r in pending))
    if LinkState.SYNCED in states:
        return Overall(symbol, LinkState.SYNCED)
    return Overall(symbol, LinkState.SKIPPED)
