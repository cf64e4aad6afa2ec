"""Keeping a job's claims alive while it works, and letting go of them at once when it stops.

A claim's lease is short (POSSYNC_CLAIM_LEASE_S, seconds): a heartbeat renews it while the job
works, so a job that dies (SIGKILL, a lost machine) leaves links that are free again within one
lease. A job that fails or is cancelled releases what it holds straight away.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import timedelta

import structlog
from sqlalchemy import update

from app.db import transaction
from app.models import Link, LinkState, Run
from app.models.base import utcnow
from app.sync.deps import SyncDeps

log = structlog.get_logger(__name__)

_current: ContextVar[LeaseKeeper | None] = ContextVar("possync_lease_keeper", default=None)


def track(token: str) -> None:
    """Called by every claim: the running job's heartbeat keeps this token's links leased."""
    keeper = _current.get()
    if keeper is not None:
        keeper.tokens.add(token)


class LeaseKeeper:
    """The claim tokens of one job and the run it reports to."""

    def __init__(self, deps: SyncDeps, connection_id: uuid.UUID) -> None:
        self.deps = deps
        self.connection_id = connection_id
        self.tokens: set[str] = set()
        self.run_id: uuid.UUID | None = None

    @property
    def lease_s(self) -> int:
        return self.deps.settings.claim_lease_s

    def settled(self) -> None:
        """The batch's outcomes are written (which released its links): nothing left to renew."""
        self.tokens.clear()

    async def renew(self) -> None:
        now = utcnow()
        async with transaction(self.deps.sessions) as session:
            await self.extend_links(session, now)
            if self.run_id is not None:
                await session.execute(update(Run).where(Run.id == self.run_id).values(heartbeat_at=now))

    async def extend_links(self, session, now) -> None:
        """Extend the held links' lease, in the caller's transaction."""
        if self.tokens:
            await session.execute(
                update(Link)
                .where(Link.connection_id == self.connection_id, Link.claim_token.in_(list(self.tokens)),
                       Link.state == LinkState.PENDING)
                .values(claimed_until=now + timedelta(seconds=self.lease_s))
                .execution_options(synchronize_session=False)
            )

    async def release(self) -> None:
        """Give back every link still held: pending as before, retry count unchanged."""
        if not self.tokens:
            return
        tokens = list(self.tokens)
        async with transaction(self.deps.sessions) as session:
            await session.execute(
                update(Link)
                .where(Link.connection_id == self.connection_id, Link.claim_token.in_(tokens))
                .values(claimed_until=None, claim_token=None)
                .execution_options(synchronize_session=False)
            )
        # Forgotten only once written: a release the database cut short is tried again with the same
        # tokens (the first try after a restart often meets a pooled connection the server dropped).
        self.tokens.difference_update(tokens)
        log.info("claims_released", tokens=len(tokens))

    async def _beat(self) -> None:
        interval_s = max(1.0, self.lease_s / 3)
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.renew()
            except Exception as exc:  # noqa: BLE001 - the lease runs out by itself; the job goes on
                log.warning("lease_renewal_failed", error=f"{type(exc).__name__}: {exc}")


@contextlib.asynccontextmanager
async def kept_leases(deps: SyncDeps, connection_id: uuid.UUID) -> AsyncIterator[LeaseKeeper]:
    """Renew this job's claims while the block runs; release them if it ends by an exception."""
    keeper = LeaseKeeper(deps, connection_id)
    reset = _current.set(keeper)
    beat = asyncio.create_task(keeper._beat(), name="lease-heartbeat")
    try:
        yield keeper
    except BaseException:
        # Shielded: a cancelled job (SIGTERM, arq timeout) still hands its batch back before it goes.
        with contextlib.suppress(Exception):
            await asyncio.shield(_release_quietly(keeper))
        raise
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await beat
        _current.reset(reset)


async def _release_quietly(keeper: LeaseKeeper) -> None:
    await retrying(keeper.release, what="claims_release")


async def retrying(step, *, what: str, delays_s: tuple[float, ...] = (0.5, 1.0, 2.0)) -> bool:
    """Run a short database step, trying again a few times: a restarting database is often back
    within a second. False if it never went through (the caller's fallback then applies)."""
    for delay_s in (*delays_s, None):
        try:
            await step()
            return True
        except Exception as exc:  # noqa: BLE001 - the database is away: the short lease runs out instead
            if delay_s is None:
                log.warning(f"{what}_failed", error=f"{type(exc).__name__}: {exc}")
                return False
            await asyncio.sleep(delay_s)
    return False
