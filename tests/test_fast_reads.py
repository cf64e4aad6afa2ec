"""The gate's fast lane (app.api.fast_reads) answers sync-status and the Sync panel with the very
bytes the FastAPI routes answer, in every state a record can be in, and leaves everything else to
the routes."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete, update

from app.db import transaction
from app.main import create_app
from app.models import Connection, ConnectionStatus, Link, LinkState, Record
from app.models.base import utcnow
from tests.conftest import make_settings

pytestmark = [pytest.mark.postgres]

IDS = ["C-1", "C-2", "C-3", "C-4", "C-5", "NOT-THERE"]


@pytest.fixture
async def routes_only(migrated, deps):
    """The same app on the same database with the fast lane off: what the routes answer."""
    app = create_app(make_settings(migrated, POSSYNC_FAST_READS=False), deps)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://possync.test") as client:
            yield client


async def records_in_every_state(api) -> None:
    first = await api.connect_sandbox()
    second = await api.connect_sandbox()
    await api.post("/v1/customers/batch", {"items": [{"id": i, "first_name": "Ana"} for i in IDS[:5]]})
    await api.settle()
    now = utcnow()
    async with transaction(api.deps.sessions) as session:
        ids = dict((await session.execute(
            Record.__table__.select().with_only_columns(Record.pos_id, Record.id))).all())

        async def link(pos_id, connection, **values):
            await session.execute(update(Link).where(Link.record_id == ids[pos_id], Link.connection_id == connection)
                                  .values(**values))

        # C-1 green on both; C-2 pending with a back-off on one; C-3 failed waiting for a setting on
        # one and refused on the other; C-4 skipped on one; C-5 has no live link at all.
        await link("C-2", first, state=LinkState.PENDING, retries=3, next_attempt_at=now + timedelta(minutes=5),
                   error="Xero answered 503", advice="It is tried again by itself.")
        await link("C-3", first, state=LinkState.FAILED, waiting_for="setting:payment_types:Gift card",
                   error="No account for Gift card", advice="Map it in the settings.")
        await link("C-3", second, state=LinkState.FAILED, error="Refused", advice="Fix the email.")
        await link("C-4", second, state=LinkState.SKIPPED, advice="Covered by shift report S-1")
        await session.execute(delete(Link).where(Link.record_id == ids["C-5"]))
        # The second connection is paused: a pending line says so instead of its own error.
        await link("C-2", second, state=LinkState.PENDING, retries=0, next_attempt_at=now)
        await session.execute(update(Connection).where(Connection.id == second).values(
            status=ConnectionStatus.PAUSED, status_reason="Xero's daily limit; resumes at midnight UTC."))


async def test_the_fast_lane_answers_what_the_routes_answer(api, routes_only, monkeypatch):
    await records_in_every_state(api)
    asked = [("/v1/customers/sync-status", {"ids": ",".join(IDS)}),
             ("/v1/customers/sync-status", {"ids": " C-3 , C-1,C-3 "}),
             *[(f"/v1/customers/{pos_id}/sync", None) for pos_id in IDS[:5]]]
    slow = [await routes_only.get(path, params=params, headers=api.headers) for path, params in asked]

    # The ORM reads are the routes' only: with them broken the fast lane must still answer.
    from app.records import service

    async def not_here(**_kwargs):
        raise AssertionError("answered by the route, not the fast lane")

    monkeypatch.setattr(service, "statuses", not_here)
    monkeypatch.setattr(service, "panel", not_here)
    fast = [await api.get(path, params=params) for path, params in asked]
    for (path, _params), f, s in zip(asked, fast, slow, strict=True):
        assert (f.status_code, s.status_code) == (200, 200), (path, f.text, s.text)
        assert f.content == s.content, path
        assert f.headers["content-type"] == s.headers["content-type"] == "application/json"
    states = [item["state"] for item in fast[0].json()["items"]]
    assert states == ["synced", "pending", "failed", "synced", "skipped", "unknown"]
    panel = {p.url.path.split("/")[3]: p.json() for p in fast[2:]}
    assert panel["C-2"]["connections"][1]["error"] == "Sync paused by the program's limits."
    assert panel["C-3"]["waits_for"] is None and panel["C-3"]["connections"][0]["waits_for"] == "payment_types.Gift card"
    assert panel["C-5"] == {"symbol": "none", "state": "skipped", "waits_for": None, "connections": []}


async def test_what_the_fast_lane_does_not_take_the_routes_answer(api, routes_only):
    await api.connect_sandbox()
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    too_many = ",".join(f"C-{i}" for i in range(201))
    asked = [("/v1/customers/sync-status", {"ids": too_many}, 422),
             ("/v1/customers/sync-status", {"ids": ""}, 422),
             ("/v1/customers/sync-status", {"ids": "C-1;DROP"}, 422),
             ("/v1/customers/sync-status", None, 422),
             ("/v1/customers/NOT-THERE/sync", None, 404),
             ("/v1/customers/-bad/sync", None, 422),
             ("/v1/suppliers/C-1/sync", None, 404)]
    for path, params, status in asked:
        fast = await api.get(path, params=params)
        slow = await routes_only.get(path, params=params, headers=api.headers)
        assert fast.status_code == slow.status_code == status, (path, params, fast.text)
        assert fast.json() == slow.json()


async def test_another_stores_records_stay_unknown_to_the_fast_lane(api, routes_only):
    from tests.conftest import new_store_key

    await api.connect_sandbox()
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await api.settle()
    other = {"Authorization": f"Bearer {await new_store_key(api.deps, 'Other shop')}"}
    status = await api.client.get("/v1/customers/sync-status", params={"ids": "C-1"}, headers=other)
    panel = await api.client.get("/v1/customers/C-1/sync", headers=other)
    assert status.json()["items"][0]["state"] == "unknown"
    assert panel.status_code == 404


async def test_a_connection_dropped_under_the_fast_lane_leaves_the_pool(api, monkeypatch):
    # The key look-up has just run on the request's connection; if the server drops it before the
    # lane's statement, that request answers 503 and the dead connection is not handed out again.
    import asyncpg

    from app.records import service

    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    dropped: list[object] = []
    real = service.panel_on_driver

    async def drop_once(driver, **kwargs):
        if not dropped:
            dropped.append(driver)
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        return await real(driver, **kwargs)

    monkeypatch.setattr(service, "panel_on_driver", drop_once)
    first = await api.get("/v1/customers/C-1/sync")
    answers = [await api.get("/v1/customers/C-1/sync") for _ in range(3)]
    assert first.status_code == 503 and first.headers.get("retry-after")
    assert [a.status_code for a in answers] == [200] * 3
    assert dropped[0].is_closed()  # invalidated: it never goes back to the pool
