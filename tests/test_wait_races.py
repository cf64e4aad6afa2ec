"""A record set aside because its dependency was backing off must not miss that dependency's
wake-up when another job pushes the dependency before the set-aside is written."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from app.connectors.errors import TransientError
from app.models import AttemptOutcome, Link
from app.sync.claim import claim
from app.sync.dependencies import RETRYING
from app.sync.outcomes import Outcome
from app.sync.results import record_outcomes


async def _set_aside_after(api, product_kind: str) -> Link:
    connection_id = uuid.UUID(await api.connect_sandbox())
    await api.deps.bell.close()
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001 - the test plays both jobs
    await api.put("/v1/products/P-1", {"sku": "S-1", "name": "Beans"})
    await api.put("/v1/customers/C-1", {"first_name": "Ann"})
    claimed = {}
    for _ in range(2):  # one entity type per claim
        claimed |= {c.pos_id: c for c in await claim(api.deps.sessions, connection_id=connection_id, limit=20, lease_s=60)}
    assert set(claimed) == {"P-1", "C-1"}
    # The other job's product outcome lands first...
    product = Outcome(claimed["P-1"], product_kind, external_id="OBJ-1" if product_kind != AttemptOutcome.RETRY else None,
                      error=TransientError("Sandbox is temporarily unavailable (503).")
                      if product_kind == AttemptOutcome.RETRY else None)
    await record_outcomes(api.deps.sessions, outcomes=[product], connection_id=connection_id, run_id=None, calls=1)
    # ...then this job writes that the customer waits for the product it saw backing off.
    waiting = Outcome(claimed["C-1"], AttemptOutcome.RETRY, waiting_for="product:P-1",
                      error=TransientError("Waiting for product P-1, which is being retried.", code=RETRYING))
    await record_outcomes(api.deps.sessions, outcomes=[waiting], connection_id=connection_id, run_id=None, calls=0)
    async with api.deps.sessions() as session:
        return await session.scalar(select(Link).where(Link.id == claimed["C-1"].link_id))


async def test_a_wait_on_a_dependency_that_synced_meanwhile_is_over_at_once(api):
    link = await _set_aside_after(api, AttemptOutcome.CREATED)
    assert link.state == "pending" and link.retries == 0 and link.next_attempt_at <= link.updated_at


async def test_a_wait_on_a_dependency_still_backing_off_keeps_waiting(api):
    link = await _set_aside_after(api, AttemptOutcome.RETRY)
    assert link.state == "pending" and link.retries == 1 and link.next_attempt_at > link.updated_at
