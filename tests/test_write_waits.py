"""What a write of records waits for, and what it must not.

A write and a connection's activation, interleaved: every record ends up linked. Each such test
holds one side's transaction open at the moment the race needs, lets the other side run until it
either finishes or waits for the store's gate (app.sync.backfill_gate), then lets the first side
commit. Without the gate the second side never waits, and the record ends with no link.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import func, select, text

from app.connections import service
from app.connections.credentials import seal_credentials, usable_credentials
from app.connectors.base import Credentials
from app.db import transaction
from app.entities.canonical import stored_payload
from app.entities import ENTITY_TYPES
from app.models import Connection, ConnectionStatus, Link, Record
from app.stores.service import create_store
from app.sync.backfill_gate import locked_for_backfill
from app.sync.ingest import upsert_records

pytestmark = pytest.mark.postgres

CUSTOMER = ENTITY_TYPES["customer"]


async def _store_with_idle_connection(deps) -> tuple[uuid.UUID, uuid.UUID]:
    async with transaction(deps.sessions) as session:
        store, _key = await create_store(session=session, name="Race shop")
        connection = Connection(store_id=store.id, connector="sandbox", settings={},
                                status=ConnectionStatus.AUTHORIZING)
        session.add(connection)
        await session.flush()
        return store.id, connection.id


def _payload(pos_id: str) -> dict:
    return stored_payload(CUSTOMER.schema.model_validate(dict(CUSTOMER.example, id=pos_id)), pos_id)


async def _write(session, deps, store_id, pos_id) -> None:
    await upsert_records(session, store_id=store_id, entity_type="customer", payloads={pos_id: _payload(pos_id)},
                         connectors=deps.connectors)


async def _activate(session, deps, connection_id) -> None:
    connection = await locked_for_backfill(session, connection_id)
    await service.activate(session=session, connection=connection, connector=deps.connectors["sandbox"])


async def _waits_on_a_lock_or_ends(deps, task: asyncio.Task, events: tuple[str, ...] = ("advisory",)) -> bool:
    """True once a backend waits on a lock of these kinds (advisory: the store's gate; a row's:
    transactionid); False if the task ended first."""
    deadline = time.monotonic() + 10
    async with deps.engine.connect() as probe:
        while time.monotonic() < deadline:
            if task.done():
                return False
            waiting = await probe.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = ANY(:events) "
                "AND datname = current_database()"), {"events": list(events)})
            await probe.commit()
            if waiting:
                return True
            await asyncio.sleep(0.01)
    raise AssertionError("the other side neither ended nor waited within 10 s")


async def _links_of(deps, store_id, connection_id) -> int:
    async with deps.sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(Link).join(Record, Record.id == Link.record_id)
            .where(Record.store_id == store_id, Link.connection_id == connection_id))


async def test_a_connection_activated_while_a_write_is_in_flight_links_that_write(deps):
    store_id, connection_id = await _store_with_idle_connection(deps)
    async with deps.sessions() as writer:
        async with writer.begin():
            await _write(writer, deps, store_id, "C-1")  # read the connections: none collects yet

            async def activation() -> None:
                async with transaction(deps.sessions) as session:
                    await _activate(session, deps, connection_id)

            activating = asyncio.create_task(activation())
            waited = await _waits_on_a_lock_or_ends(deps, activating)
        await activating  # the write has committed: the backfill now sees its record
    assert await _links_of(deps, store_id, connection_id) == 1
    assert waited, "the activation did not wait for the write in flight"


async def test_a_write_arriving_while_a_connection_activates_is_linked(deps):
    store_id, connection_id = await _store_with_idle_connection(deps)
    async with deps.sessions() as activator:
        async with activator.begin():
            await _activate(activator, deps, connection_id)  # backfilled: the store has no record yet

            async def write() -> None:
                async with transaction(deps.sessions) as session:
                    await _write(session, deps, store_id, "C-2")

            writing = asyncio.create_task(write())
            waited = await _waits_on_a_lock_or_ends(deps, writing)
        await writing  # the activation has committed: the write now reads the connection as collecting
    assert await _links_of(deps, store_id, connection_id) == 1
    assert waited, "the write did not wait for the activation in flight"


async def test_writes_of_one_store_do_not_wait_for_each_other(deps):
    store_id, _connection_id = await _store_with_idle_connection(deps)
    async with deps.sessions() as first:
        async with first.begin():
            await _write(first, deps, store_id, "C-3")

            async def second_write() -> None:
                async with transaction(deps.sessions) as session:
                    await _write(session, deps, store_id, "C-4")

            second = asyncio.create_task(second_write())
            assert not await _waits_on_a_lock_or_ends(deps, second)
            await second


async def test_a_token_refresh_in_flight_does_not_hold_back_a_write(deps, monkeypatch):
    """The refresh locks the connection's row while it asks the program for tokens; a write that
    adds links on that connection checks the row's key, which that lock must leave free."""
    store_id, connection_id = await _store_with_idle_connection(deps)
    async with transaction(deps.sessions) as session:
        await _activate(session, deps, connection_id)
        connection = await session.get(Connection, connection_id)
        connection.credentials_encrypted = seal_credentials(
            deps.secrets, Credentials(access_token="old", refresh_token="r-1", expires_at=time.time()))
    connector = deps.connectors["sandbox"]
    asking, answer = asyncio.Event(), asyncio.Event()

    async def slow_refresh(credentials: Credentials) -> Credentials:
        asking.set()
        await answer.wait()  # the program has not answered yet
        return replace(credentials, access_token="new", expires_at=time.time() + 1800)

    monkeypatch.setattr(connector, "needs_oauth", True)
    monkeypatch.setattr(connector, "refresh_credentials", slow_refresh)
    async with deps.sessions() as session:
        connection = await session.get(Connection, connection_id)
    refreshing = asyncio.create_task(usable_credentials(deps, connector, connection))
    await asking.wait()

    async def write() -> None:
        async with transaction(deps.sessions) as session:
            await _write(session, deps, store_id, "C-5")

    writing = asyncio.create_task(write())
    try:
        held_back = await _waits_on_a_lock_or_ends(deps, writing, events=("transactionid", "tuple"))
    finally:
        answer.set()
    await writing
    assert (await refreshing).access_token == "new"
    assert not held_back, "the write waited for the token refresh"
    assert await _links_of(deps, store_id, connection_id) == 1
