"""One database connection per API request, checked out by the gate and shared with the route.

Before, the gate's key look-up and the route's session each checked a connection out of the pool,
and the look-up ran inside a transaction of its own (BEGIN, SELECT, ROLLBACK). Now the gate checks
one connection out for the whole request; on PostgreSQL the look-up is a single prepared statement
on the driver connection (no transaction, one round trip, its text fixed so asyncpg prepares it
once per connection), and the route's session is bound to that same connection (`session_for`).
SQLite (embedded mode) does the look-up through a short session on the connection instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import is_database_outage
from app.models.base import utcnow
from app.stores.service import Caller, StoreRef, caller_for_key, hash_key

STATE_KEY = "db_connection"

# The same rule as app.stores.service.caller_for_key: a key works until its revocation time.
KEY_LOOKUP = """SELECT s.id, s.name, s.created_at, k.id FROM stores s JOIN api_keys k ON k.store_id = s.id
WHERE k.key_hash = $1 AND (k.revoked_at IS NULL OR k.revoked_at > $2)"""


async def caller_on(conn: AsyncConnection, key: str) -> Caller | None:
    if conn.dialect.name != "postgresql":
        async with AsyncSession(bind=conn) as session:  # its transaction ends (rolls back) with it
            return await caller_for_key(session=session, key=key)
    row = await _fetch_key_row(conn, hash_key(key))
    if row is None:
        return None
    store_id, name, created_at, key_id = row
    return Caller(StoreRef(store_id, name, created_at), key_id)


async def _fetch_key_row(conn: AsyncConnection, key_hash: str):
    """The look-up on the driver connection, once more on a fresh one if the server had dropped it.

    SQLAlchemy never sees this statement, so it cannot notice a dropped connection by itself: after a
    PostgreSQL restart the dead connection went back to the pool and every later request failed on
    it. Here the dead one is invalidated together with every pooled connection older than it (what
    SQLAlchemy does for its own statements), and the look-up runs again on a new connection."""
    raw = await conn.get_raw_connection()
    try:
        return await raw.driver_connection.fetchrow(KEY_LOOKUP, key_hash, utcnow())
    except Exception as exc:
        if not forget_if_dropped(conn, raw, exc):
            raise
        await conn.invalidate(exc)
    raw = await conn.get_raw_connection()  # a new connection: an invalidated one reconnects on use
    return await raw.driver_connection.fetchrow(KEY_LOOKUP, key_hash, utcnow())


def forget_if_dropped(conn: AsyncConnection, raw, exc: BaseException) -> bool:
    """If `exc` says the server dropped the connection, take it and every pooled connection older
    than it out of the pool (what SQLAlchemy does for its own statements); True if it did."""
    if not is_database_outage(exc):
        return False
    conn.sync_engine.pool._invalidate(raw, exc, _checkin=False)
    return True


async def give_back(conn: AsyncConnection, *, routed: bool) -> None:
    """Return the gate's connection to the pool.

    SQLAlchemy's `async with engine.connect()` closes in a task of its own, so that a cancelled
    request cannot abandon a close that is waiting on the server; the task cost 30 of the 73 us a
    checkout and return took (measured). On PostgreSQL, when only the driver-level statements ran
    (the key look-up, the fast lane), SQLAlchemy began no transaction: closing sends nothing, has
    no await to be cancelled at, and is done directly. After a route, or on SQLite, as SQLAlchemy
    does it."""
    if not routed and conn.dialect.name == "postgresql" and not conn.in_transaction():
        await conn.close()
        return
    closing = asyncio.ensure_future(conn.close())
    try:
        await asyncio.shield(closing)
    except asyncio.CancelledError:
        await closing  # the connection is back in the pool before the cancellation goes on
        raise


async def for_reading(conn: AsyncConnection) -> AsyncConnection:
    """The gate's connection made ready for a GET: on PostgreSQL in autocommit, so the route's
    statements go without BEGIN and ROLLBACK (two of a `sync-status` call's four round trips).

    Safe because no GET route under the gate writes through its session: each one only reads (the
    program-list and token writes of the settings screens go through sessions of their own,
    `app.connections.program_lists`), and at READ COMMITTED, PostgreSQL's default and this
    project's, a transaction gives a read no snapshot across statements that autocommit would take
    away. asyncpg has no autocommit switch on the server: SQLAlchemy's driver simply stops
    sending BEGIN, and the pool puts the connection back to its default level on return without
    a round trip. SQLite (embedded mode) keeps its transactions."""
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


@asynccontextmanager
async def session_for(state, sessions) -> AsyncIterator[AsyncSession]:
    """A session on the request's connection when the gate opened one (`state`: the request's
    state), else a fresh one from `sessions`."""
    conn = getattr(state, STATE_KEY, None)
    if conn is None:
        async with sessions() as session:
            yield session
        return
    # Not in a transaction when handed over, so the session begins and commits its own on it.
    async with AsyncSession(bind=conn, expire_on_commit=False) as session:
        yield session
