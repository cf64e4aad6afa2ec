"""Engine guarantees that the flow tests do not reach directly."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from app.connectors.base import PushResult
from app.models import Attempt, Link, Record
from app.models.base import utcnow
from app.sync.claim import claim
from app.sync.runner import sync_connection


async def _links(deps):
    async with deps.sessions() as session:
        return (await session.scalars(select(Link).order_by(Link.id))).all()


async def test_claims_of_two_jobs_never_overlap(api):
    connection_id = uuid.UUID(await api.connect_sandbox({"entity_types": ["product"]}))
    items = [{"id": f"P-{i}", "sku": f"S-{i}", "name": "x"} for i in range(30)]
    await api.post("/v1/customers/batch", {"items": [{"id": "C-1", "first_name": "not synced"}]})
    await api.deps.bell.close()  # keep the jobs from taking the work before the claims below
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001 - the test claims by hand
    await api.post("/v1/products/batch", {"items": items})
    first, second = await asyncio.gather(
        claim(api.deps.sessions, connection_id=connection_id, limit=20, lease_s=60),
        claim(api.deps.sessions, connection_id=connection_id, limit=20, lease_s=60),
    )
    a, b = {c.link_id for c in first}, {c.link_id for c in second}
    assert not a & b and len(a | b) == 30
    assert await claim(api.deps.sessions, connection_id=connection_id, limit=20, lease_s=60) == []
    # The customer was never linked: this connection syncs products only.
    assert all(link.entity_type == "product" for link in await _links(api.deps))


async def test_a_record_changed_during_its_push_is_pushed_again(api, monkeypatch):
    connection_id = uuid.UUID(await api.connect_sandbox())
    sandbox = api.deps.connectors["sandbox"]
    original_push = sandbox.push
    edits = []

    async def push_while_the_pos_edits(ctx, entity_type, items):
        results = await original_push(ctx, entity_type, items)
        if not edits:  # the POS sends a new version while the first one is on the wire
            edits.append(1)
            async with api.deps.sessions() as session, session.begin():
                await session.execute(
                    update(Record).values(content_hash="f" * 64, payload={"id": "C-1", "first_name": "New"})
                )
        return results

    monkeypatch.setattr(sandbox, "push", push_while_the_pos_edits)
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001 - run the job by hand below
    await api.put("/v1/customers/C-1", {"first_name": "Old"})
    counts = await sync_connection(api.deps, connection_id)
    # The first result would have said "synced" for stale content; the link went back to pending
    # and the same run pushed the new version as an update of the same object.
    assert counts == {"created": 1, "updated": 1}
    (link,) = await _links(api.deps)
    assert link.state == "synced" and link.action == "updated" and link.attempted_hash == "f" * 64
    (obj,) = await api.deps.connectors["sandbox"]._program.objects(connection_id)  # noqa: SLF001
    assert obj.data["first_name"] == "New" and obj.version == 2


async def test_an_expired_lease_cannot_overwrite_the_newer_result(api):
    connection_id = uuid.UUID(await api.connect_sandbox())
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001
    await api.put("/v1/customers/C-1", {"first_name": "A"})
    (stale,) = await claim(api.deps.sessions, connection_id=connection_id, limit=10, lease_s=60)
    async with api.deps.sessions() as session, session.begin():  # the first job's lease runs out
        await session.execute(update(Link).values(claimed_until=utcnow() - timedelta(seconds=1)))
    await sync_connection(api.deps, connection_id)  # a second job takes it and succeeds

    from app.sync.outcomes import from_error
    from app.sync.results import record_outcomes
    from app.connectors.errors import PermanentError

    late = from_error(stale, PermanentError("late failure of the first job"))
    async with api.deps.sessions() as session:
        run_id = (await session.scalar(select(Attempt.run_id)))
    await record_outcomes(api.deps.sessions, outcomes=[late], connection_id=connection_id, run_id=run_id, calls=1)
    (link,) = await _links(api.deps)
    assert link.state == "synced"  # the late writer's lease token no longer matches


async def test_connector_crash_fails_visibly_instead_of_looping(api, monkeypatch):
    connection_id = uuid.UUID(await api.connect_sandbox())
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001

    async def broken(ctx, entity_type, items):
        raise KeyError("bug")

    monkeypatch.setattr(api.deps.connectors["sandbox"], "push", broken)
    await api.put("/v1/customers/C-1", {"first_name": "A"})
    await sync_connection(api.deps, connection_id)
    entry = (await api.get("/v1/customers/C-1/sync")).json()["connections"][0]
    assert entry["state"] == "failed" and "possync" in entry["advice"]


async def test_missing_result_from_a_connector_is_a_failure_not_a_silent_success(api, monkeypatch):
    connection_id = uuid.UUID(await api.connect_sandbox())
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001

    async def forgetful(ctx, entity_type, items):
        return [PushResult(items[0].key, action="created", external_id="X-1")]

    monkeypatch.setattr(api.deps.connectors["sandbox"], "push", forgetful)
    await api.post("/v1/customers/batch", {"items": [{"id": "C-1", "first_name": "A"}, {"id": "C-2", "first_name": "B"}]})
    await sync_connection(api.deps, connection_id)
    status = (await api.get("/v1/customers/sync-status", params={"ids": "C-1,C-2"})).json()["items"]
    assert [(i["id"], i["symbol"], i["state"]) for i in status] == [("C-1", "green", "synced"), ("C-2", "red", "failed")]


async def test_redis_down_loses_nothing_the_sweeper_picks_it_up(api):
    from arq.connections import ArqRedis

    from app.workers.bell import ArqBell
    from app.workers.sweeper import sweep

    await api.connect_sandbox()
    in_process = api.deps.bell
    dead = ArqRedis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    api.deps.bell = ArqBell(dead, slots=2)  # every ring fails: nothing listens on that port
    response = await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    assert response.status_code == 201  # stored: Redis is only the doorbell
    assert (await api.get("/v1/customers/C-1/sync")).json()["connections"][0]["state"] == "pending"
    await dead.aclose()

    api.deps.bell = in_process  # Redis is back; the sweeper rings for what was left
    assert await sweep(api.deps) == 1
    await api.settle()
    assert (await api.get("/v1/customers/C-1/sync")).json()["symbol"] == "green"
