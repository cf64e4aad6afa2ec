"""The order between a write of records and a connection's backfill (PostgreSQL).

A write of records reads which connections collect them before it commits; a backfill (a
connection activated, or its settings widened) links every record committed before it. Left
unordered, a write that read the connections just before an activation committed, and committed
just after that activation's backfill ran, would leave its records with no link on the new
connection, and nothing would ever push them.

So each store has one advisory lock. Every write holds it shared from its first statement to its
commit, so writes never wait for each other. A backfill's transaction holds it exclusively from
before its first lock of a row to its commit: it runs either before a write reads the
connections (and the write then sees the connection collecting) or after the write has committed
(and the backfill then sees its records). Taking it before any row lock keeps a write, which
holds nothing when it asks for the lock, out of every wait cycle with a backfill.

SQLite runs one writing transaction at a time, so it needs no lock.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Connection


def store_key(store_id_sql: str) -> str:
    """The advisory lock's bigint key, as SQL over a uuid expression: the uuid's first 64 bits.
    Two stores that share them only wait for each other's backfills, which are rare."""
    return f"('x' || translate(left(CAST({store_id_sql} AS text), 18), '-', ''))::bit(64)::bigint"


# For the write's first statement (app.sync.bulk): one evaluation before any row is read.
WRITE_HOLDS_SHARED = f"(SELECT true FROM pg_advisory_xact_lock_shared({store_key('CAST(:store_id AS uuid)')}))"

_BACKFILL_HOLDS = text(f"SELECT pg_advisory_xact_lock({store_key('CAST(:store_id AS uuid)')})")


async def hold_for_backfill(session: AsyncSession, store_id: uuid.UUID) -> None:
    """Wait for the store's writes in flight to commit, and hold back new ones until this
    transaction ends. Call it before the transaction locks any row (a connection's included)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_BACKFILL_HOLDS, {"store_id": store_id})


async def locked_for_backfill(session: AsyncSession, connection_id: uuid.UUID) -> Connection | None:
    """The connection, its row locked for a change that may backfill, the store's gate held first."""
    store_id = await session.scalar(select(Connection.store_id).where(Connection.id == connection_id))
    if store_id is None:
        return None
    await hold_for_backfill(session, store_id)
    return await session.get(Connection, connection_id, with_for_update=True)
