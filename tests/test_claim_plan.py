"""A claim reads only the links it takes, in the claim index's order, however long the backlog:
no sort of the connection's due links, in the generic plan a pooled prepared statement ends up with."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import asyncpg

from app.models import Link, Record
from app.models.base import utcnow
from app.sync.claim import NO_SORT, claim, due_batch

pytestmark = pytest.mark.postgres

LIMIT = 50
HOUR = timedelta(hours=1)


async def test_a_claim_reads_its_batch_from_the_claim_index_without_sorting_the_backlog(api):
    connection_id = uuid.UUID(await api.connect_sandbox())
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001 - the backlog stays pending
    # Statistics from before a big import, when every link was synced (autovacuum has not come
    # round since): the planner expects one pending link at most, whatever the index.
    synced = [{"id": f"D-{i}", "first_name": "A"} for i in range(1000)]
    assert (await api.post("/v1/customers/batch", {"items": synced})).status_code == 200
    async with api.deps.engine.begin() as conn:
        await conn.execute(update(Link).values(state="synced"))
        await conn.execute(text("ANALYZE links"))
    for start in range(0, 4000, 1000):
        products = [{"id": f"P-{i}", "sku": f"SKU-{i}", "name": "x"} for i in range(start, start + 1000)]
        assert (await api.post("/v1/products/batch", {"items": products})).status_code == 200
    customers = [{"id": f"C-{i}", "first_name": "A"} for i in range(1000)]
    assert (await api.post("/v1/customers/batch", {"items": customers})).status_code == 200

    plan = await _generic_plan(api.deps, due_batch(connection_id, now=utcnow(), limit=LIMIT))
    assert not list(_nodes(plan, lambda node: node["Node Type"] in ("Sort", "Incremental Sort"))), plan
    scans = list(_nodes(plan, lambda node: node.get("Relation Name") == "links"))
    assert scans and all(node.get("Index Name") == "ix_links_claim" for node in scans), scans
    # The batch is read straight off the index, and each type's probe stops at its first due link:
    # the rows read are the batch's and one a probe, not the 5,000 due links.
    assert sum(node["Actual Rows"] for node in scans) <= LIMIT + len(scans), scans

    # The same statement claims in dependency order: customers before products.
    async with api.deps.sessions() as session:
        oldest = (await session.scalars(select(Link.id).where(Link.entity_type == "customer", Link.state == "pending")
                                        .order_by(Link.next_attempt_at, Link.id).limit(LIMIT))).all()
    first = await claim(api.deps.sessions, connection_id=connection_id, limit=LIMIT, lease_s=60)
    assert sorted(c.link_id for c in first) == sorted(oldest)


async def test_a_claim_takes_retries_before_fresh_links_and_skips_links_not_due(api):
    connection_id = uuid.UUID(await api.connect_sandbox())
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001
    customers = [{"id": f"C-{i}", "first_name": "A"} for i in range(200)]
    assert (await api.post("/v1/customers/batch", {"items": customers})).status_code == 200

    def of(names):
        return Link.record_id.in_(select(Record.id).where(Record.pos_id.in_(names)))

    retried, waiting = [f"C-{i}" for i in range(150, 160)], [f"C-{i}" for i in range(100)]
    async with api.deps.sessions() as session, session.begin():
        await session.execute(update(Link).where(of(retried)).values(retries=2))
        await session.execute(update(Link).where(of(waiting)).values(retries=1, next_attempt_at=utcnow() + HOUR))
        fresh = (await session.scalars(select(Link.id).where(Link.retries == 0)
                                       .order_by(Link.next_attempt_at, Link.id).limit(10))).all()
    taken = await claim(api.deps.sessions, connection_id=connection_id, limit=20, lease_s=60)
    assert {c.pos_id for c in taken if c.retries} == set(retried)
    assert {c.link_id for c in taken if not c.retries} == set(fresh)


async def _generic_plan(deps, statement) -> dict:
    compiled = statement.compile(dialect=asyncpg.dialect())
    args = [compiled.params[name] for name in compiled.positiontup]
    async with deps.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        async with driver.transaction():
            await driver.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await driver.execute(NO_SORT.text)  # as the claim's transaction does
            plan = await driver.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled.string}", *args)
    return (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]


def _nodes(node: dict, wanted):
    if wanted(node):
        yield node
    for child in node.get("Plans", []):
        yield from _nodes(child, wanted)
