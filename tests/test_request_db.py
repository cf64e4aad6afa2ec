"""A read takes one pool connection for the key look-up and the route together; writes still commit."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.db import transaction
from app.stores.service import caller_for_key, revoke_keys
from tests.conftest import new_store_key


@contextlib.contextmanager
def checkouts(engine):
    seen: list[int] = []

    def note(*_args) -> None:
        seen.append(1)

    event.listen(engine.sync_engine.pool, "checkout", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine.pool, "checkout", note)


async def test_a_read_checks_out_one_connection(api):
    assert (await api.put("/v1/customers/C-1", {"first_name": "One"})).status_code == 201
    await api.settle()
    for path, params in (("/v1/customers/sync-status", {"ids": "C-1,C-2"}), ("/v1/customers/C-1/sync", None),
                         ("/v1/customers/C-1", None)):
        with checkouts(api.deps.engine) as seen:
            response = await api.get(path, params=params)
        assert response.status_code == 200, response.text
        assert len(seen) == 1, path


async def test_every_read_gives_its_connection_back(api):
    assert (await api.put("/v1/customers/C-1", {"first_name": "One"})).status_code == 201
    await api.settle()
    pool = api.deps.engine.sync_engine.pool
    # The fast lane's two reads, a route's read, one the fast lane hands to the route (an unknown
    # record), then a refused key.
    for path, status in (("/v1/customers/sync-status?ids=C-1", 200), ("/v1/customers/C-1/sync", 200),
                         ("/v1/customers/C-1", 200), ("/v1/customers/C-404/sync", 404)):
        response = await api.client.get(path, headers=api.headers)
        assert response.status_code == status, response.text
        assert pool.checkedout() == 0, path
    response = await api.client.get("/v1/customers/C-1/sync", headers={"Authorization": "Bearer ps_not-a-key"})
    assert response.status_code == 401 and pool.checkedout() == 0


async def test_a_cancelled_request_still_gives_its_connection_back(api):
    from app.api import request_db

    pool = api.deps.engine.sync_engine.pool
    conn = await api.deps.engine.connect()
    await request_db.for_reading(conn)
    assert pool.checkedout() == 1
    giving = asyncio.ensure_future(request_db.give_back(conn, routed=True))
    await asyncio.sleep(0)
    giving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await giving
    assert pool.checkedout() == 0


async def test_writes_through_the_gate_commit_and_are_read_back(api):
    assert (await api.put("/v1/customers/C-9", {"first_name": "Kept"})).status_code == 201
    assert (await api.get("/v1/customers/C-9")).json()["payload"]["first_name"] == "Kept"
    status = (await api.get("/v1/customers/sync-status", params={"ids": "C-9"})).json()["items"][0]
    assert status["state"] != "unknown"


async def test_unknown_and_revoked_keys_are_refused_by_the_look_up(api, deps):
    other = await new_store_key(deps, "Other shop")
    headers = {"Authorization": f"Bearer {other}"}
    assert (await api.client.get("/v1/customers/sync-status?ids=C-1", headers=headers)).status_code == 200
    caller = (await api.client.get("/v1/customers/sync-status?ids=C-1", headers={"Authorization": "Bearer ps_x"}))
    assert caller.status_code == 401
    async with transaction(deps.sessions) as session:
        found = await caller_for_key(session=session, key=other)
        await revoke_keys(session=session, store_id=found.store.id)
    refused = await api.client.get("/v1/customers/sync-status?ids=C-1", headers=headers)
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"


@pytest.mark.postgres
@pytest.mark.parametrize("noticed_s", [0, 0.3], ids=["at-once", "after-the-notice-arrived"])
async def test_connections_the_server_dropped_cost_no_request(api, deps, noticed_s):
    """After a PostgreSQL restart every pooled connection is dead. The key look-up (a statement
    SQLAlchemy never sees) once handed the dead one back to the pool and failed every later request
    with a 500; now each request, the first included, is answered as if nothing had happened —
    whether it comes at once or after the server's termination notice reached the idle connection
    (asyncpg then refuses a new statement with an internal client error instead)."""
    assert (await api.put("/v1/customers/C-1", {"first_name": "Before"})).status_code == 201
    for round_ in range(2):
        # Fill the pool with several connections, as a busy API would have.
        reads = [api.get("/v1/customers/C-1") for _ in range(8)]
        assert {r.status_code for r in await asyncio.gather(*reads)} == {200}
        pooled = deps.engine.sync_engine.pool.checkedin()
        assert pooled >= 2

        admin = create_async_engine(deps.settings.database_url, poolclass=NullPool)
        async with admin.connect() as conn:
            dropped = await conn.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"))
        await admin.dispose()
        assert dropped >= pooled
        await asyncio.sleep(noticed_s)

        for n in range(pooled + 3):  # more requests than dead connections: none of them may reach one
            read = await api.get("/v1/customers/C-1")
            assert read.status_code == 200, read.text
            written = await api.put(f"/v1/customers/C-{round_}-{n}", {"first_name": "After"})
            assert written.status_code == 201, written.text


@pytest.mark.postgres
async def test_a_connection_caught_mid_termination_is_replaced_too(api, deps, monkeypatch):
    """Under load the server's termination notice can reach an idle pooled connection just before
    the look-up is sent on it; asyncpg then refuses the statement with an InternalClientError (seen
    in CI). That connection is replaced like a closed one, and the request still succeeds."""
    import asyncpg

    assert (await api.put("/v1/customers/C-1", {"first_name": "Before"})).status_code == 201
    real_fetchrow = asyncpg.connection.Connection.fetchrow
    refused: list[object] = []

    async def refuse_once(self, *args, **kwargs):
        if not refused:
            refused.append(self)
            raise asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in progress")
        return await real_fetchrow(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "fetchrow", refuse_once)
    read = await api.get("/v1/customers/C-1")
    assert read.status_code == 200, read.text
    assert len(refused) == 1
    assert refused[0].is_closed()  # invalidated: it never goes back to the pool


async def test_reads_run_outside_a_transaction_and_the_pool_gets_its_default_back(api, monkeypatch):
    """GETs on PostgreSQL: autocommit on the gate's connection, so no BEGIN/ROLLBACK round trips;
    the next user of the pooled connection (a write) has its transactions as before."""
    from app.records import service

    assert (await api.put("/v1/customers/C-1", {"first_name": "One"})).status_code == 201
    seen: list[tuple[bool, str]] = []
    statuses, panel = service.statuses, service.panel

    async def driver_state(session) -> tuple[bool, str]:
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        return raw.driver_connection.is_in_transaction(), conn.sync_connection.get_execution_options().get("isolation_level", "")

    async def noted_statuses(*, session, **kwargs):
        result = await statuses(session=session, **kwargs)
        seen.append(await driver_state(session))
        return result

    async def noted_panel(*, session, **kwargs):
        result = await panel(session=session, **kwargs)
        seen.append(await driver_state(session))
        return result

    async def noted_on_driver(driver, **kwargs):
        seen.append((driver.is_in_transaction(), "fast lane"))
        return await statuses_on_driver(driver, **kwargs)

    statuses_on_driver = service.statuses_on_driver
    monkeypatch.setattr(service, "statuses", noted_statuses)
    monkeypatch.setattr(service, "panel", noted_panel)
    monkeypatch.setattr(service, "statuses_on_driver", noted_on_driver)
    # The gate's fast lane (PostgreSQL) answers this one itself; an extra parameter sends it to the route.
    assert (await api.get("/v1/customers/sync-status", params={"ids": "C-1"})).status_code == 200
    assert (await api.get("/v1/customers/sync-status", params={"ids": "C-1", "x": "1"})).status_code == 200
    assert (await api.get("/v1/customers/C-1")).status_code == 200
    if api.deps.engine.dialect.name != "postgresql":
        return  # embedded SQLite keeps its transactions
    assert seen == [(False, "fast lane"), (False, "AUTOCOMMIT"), (False, "AUTOCOMMIT")]
    seen.clear()
    # A write reads its record back through service.panel inside the request: in a transaction.
    assert (await api.put("/v1/customers/C-1", {"first_name": "Two"})).status_code == 200
    assert seen and all(in_tx and isolation != "AUTOCOMMIT" for in_tx, isolation in seen)
    assert (await api.get("/v1/customers/C-1")).json()["payload"]["first_name"] == "Two"


@pytest.mark.postgres
async def test_a_server_with_no_connection_slot_left_answers_503_and_the_next_request_goes_through(api, monkeypatch):
    """PostgreSQL refusing a new connection (max_connections reached, seen when two stacks shared
    one server) is an outage to wait out, like a restart: 503 with Retry-After, never a 500."""
    import asyncpg

    await api.deps.engine.dispose()  # the next checkout connects afresh
    real_connect = asyncpg.connect

    async def full(*_args, **_kwargs):
        raise asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")

    monkeypatch.setattr(asyncpg, "connect", full)
    refused = await api.put("/v1/customers/C-1", {"first_name": "Waits"})
    assert refused.status_code == 503, refused.text
    assert refused.headers.get("Retry-After") and refused.json()["status"] == 503
    monkeypatch.setattr(asyncpg, "connect", real_connect)
    assert (await api.put("/v1/customers/C-1", {"first_name": "Waits"})).status_code == 201
