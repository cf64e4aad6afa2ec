"""When to sync: on every change, every N minutes, daily at a local time, or manual only."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.connections.schedule import SyncSchedule, next_run_after
from app.models import Connection, Link, Run
from app.models.base import utcnow
from app.workers.periodic import fire_schedules
from tests.conftest import arq_stack


async def _connection(deps, connection_id) -> Connection:
    async with deps.sessions() as session:
        return await session.get(Connection, uuid.UUID(connection_id))


async def _make_due(deps, connection_id) -> None:
    """The tick's moment has come (instead of waiting for it)."""
    async with deps.sessions() as session, session.begin():
        await session.execute(update(Connection).where(Connection.id == uuid.UUID(connection_id))
                              .values(next_run_at=utcnow() - timedelta(seconds=1)))


async def _states(deps) -> dict[str, int]:
    async with deps.sessions() as session:
        return dict((await session.execute(select(Link.state, func.count()).group_by(Link.state))).all())


async def _triggers(deps) -> list[str]:
    async with deps.sessions() as session:
        return list((await session.scalars(select(Run.trigger).order_by(Run.created_at))).all())


def test_every_n_minutes_counts_from_the_tick():
    at = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)
    assert next_run_after(SyncSchedule(mode="every_minutes", every_minutes=15), at) == at + timedelta(minutes=15)


def test_daily_at_is_the_shops_local_time():
    sydney = SyncSchedule(mode="daily_at", daily_at="02:30", time_zone="Australia/Sydney")
    # 2026-06-30 15:00 UTC is 01:00 on 1 July in Sydney (UTC+10): the run is at 02:30 the same local day.
    assert next_run_after(sydney, datetime(2026, 6, 30, 15, 0, tzinfo=UTC)) == datetime(2026, 6, 30, 16, 30, tzinfo=UTC)
    # Just past 02:30 local: tomorrow. In January Sydney keeps daylight time (UTC+11).
    assert next_run_after(sydney, datetime(2026, 1, 9, 15, 31, tzinfo=UTC)) == datetime(2026, 1, 10, 15, 30, tzinfo=UTC)


def test_on_change_and_manual_schedule_nothing():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert next_run_after(SyncSchedule(), now) is None
    assert next_run_after(SyncSchedule(mode="manual"), now) is None


@pytest.mark.parametrize(("schedule", "message"), [
    ({"mode": "every_minutes"}, "needs `every_minutes`"),
    ({"mode": "daily_at", "daily_at": "25:00"}, "daily_at"),
    ({"mode": "daily_at", "daily_at": "07:00", "time_zone": "Mars/Olympus"}, "IANA"),
    ({"mode": "manual", "every_minutes": 5}, "only goes with mode every_minutes"),
    ({"mode": "hourly"}, "mode"),
    ({"mode": "manual", "cron": "* * * * *"}, "cron"),
])
async def test_a_bad_schedule_is_refused_naming_the_field(api, schedule, message):
    connection_id = await api.connect_sandbox()
    response = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"schedule": schedule})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert all(e["path"].startswith("schedule") for e in errors), errors
    assert message in str(errors)


async def test_the_schedule_round_trips_and_sets_the_next_run(api):
    connection_id = await api.connect_sandbox()
    assert (await api.get(f"/v1/connections/{connection_id}/settings")).json()["schedule"]["mode"] == "on_change"
    assert (await _connection(api.deps, connection_id)).next_run_at is None
    schedule = {"mode": "daily_at", "daily_at": "23:15", "time_zone": "Pacific/Auckland"}
    saved = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"schedule": schedule})
    assert saved.status_code == 200, saved.text
    read = (await api.get(f"/v1/connections/{connection_id}/settings")).json()["schedule"]
    assert read == {**schedule, "every_minutes": None}
    due = (await _connection(api.deps, connection_id)).next_run_at
    assert due > utcnow() and due - utcnow() <= timedelta(days=1)
    # Another setting changes: the planned run stays where it was.
    await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"sales_mode": "shift_totals"})
    assert (await _connection(api.deps, connection_id)).next_run_at == due
    # Back to on_change: nothing is scheduled any more.
    await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"schedule": {"mode": "on_change"}})
    assert (await _connection(api.deps, connection_id)).next_run_at is None


async def test_manual_mode_waits_for_sync_now(api):
    connection_id = await api.connect_sandbox({"schedule": {"mode": "manual"}})
    assert (await api.put("/v1/customers/C-1", {"first_name": "Waits"})).status_code == 201
    assert (await api.put("/v1/customers/C-2", {"first_name": "Also waits"})).status_code == 201
    await api.settle()
    assert await _states(api.deps) == {"pending": 2}
    assert await fire_schedules(api.deps) == 0  # nothing is scheduled in manual mode
    pressed = await api.post("/v1/customers/C-1/sync")
    assert pressed.status_code == 202, pressed.text
    await api.settle()
    panel = (await api.get("/v1/customers/C-1/sync")).json()
    assert panel["symbol"] == "green"
    assert {r["trigger"] for r in (await api.get(f"/v1/connections/{connection_id}/runs")).json()["items"]} == {"sync_now"}


async def test_a_due_schedule_fires_once_however_many_ticks_race(api):
    connection_id = await api.connect_sandbox({"schedule": {"mode": "every_minutes", "every_minutes": 30}})
    for i in range(5):
        await api.put(f"/v1/customers/C-{i}", {"first_name": f"Customer {i}"})
    await api.settle()
    assert await _states(api.deps) == {"pending": 5}  # ingest rang nobody
    assert await fire_schedules(api.deps) == 0  # not due yet
    await _make_due(api.deps, connection_id)
    fired = await asyncio.gather(*(fire_schedules(api.deps) for _ in range(4)))
    assert sorted(fired) == [0, 0, 0, 1]
    await api.settle()
    assert await _states(api.deps) == {"synced": 5}
    assert await _triggers(api.deps) == ["schedule"]
    due = (await _connection(api.deps, connection_id)).next_run_at
    assert timedelta(minutes=29) < due - utcnow() <= timedelta(minutes=30)


async def test_a_scheduled_connection_is_left_to_its_tick_by_the_sweeper(api):
    from app.workers.sweeper import sweep

    await api.connect_sandbox({"schedule": {"mode": "every_minutes", "every_minutes": 60}})
    await api.put("/v1/customers/C-1", {"first_name": "Waits for the tick"})
    await api.settle()
    assert await sweep(api.deps) == 0
    await api.settle()
    assert await _states(api.deps) == {"pending": 1}


@pytest.mark.postgres
@pytest.mark.redis
async def test_arq_workers_run_a_due_schedule_once(migrated, monkeypatch):
    # The tick at its default (once a minute, and at start-up): a burst worker ends when the queue is
    # empty, and a tick every second always has its next run queued.
    async with arq_stack(migrated, POSSYNC_SWEEP_INTERVAL_S=3600, POSSYNC_SCHEDULE_TICK_S=60) as stack:
        api = stack.api
        created = await api.post("/v1/connections", {"connector": "sandbox",
                                                     "settings": {"schedule": {"mode": "every_minutes",
                                                                               "every_minutes": 5}}})
        connection_id = created.json()["id"]
        await stack.deps.redis.flushdb()  # forget the connection's first ring: only ingest's would be left
        for i in range(20):
            assert (await api.put(f"/v1/customers/C-{i}", {"first_name": f"Customer {i}"})).status_code == 201
        assert await stack.pool.queued_jobs() == []  # ingest rang nobody
        assert await _states(stack.deps) == {"pending": 20}
        await _make_due(stack.deps, connection_id)
        # Two workers start; each runs the schedule tick at start-up, one of them wins the due run.
        await stack.run_workers(monkeypatch, count=2)
        assert await _states(stack.deps) == {"synced": 20}
        runs = (await api.get(f"/v1/connections/{connection_id}/runs")).json()["items"]
        assert [r["trigger"] for r in runs] == ["schedule"]
        assert runs[0]["created"] == 20
        due = (await _connection(stack.deps, connection_id)).next_run_at
        assert timedelta(minutes=4) < due - utcnow() <= timedelta(minutes=5)
