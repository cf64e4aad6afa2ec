"""Batch writes whose SQL does not depend on the batch size (PostgreSQL).

A multi-row VALUES list is a new statement for every batch size: SQLAlchemy compiles it afresh
(35,000 bound parameters for 1,000 records took longer than the write) and PostgreSQL plans it
afresh. Here each column travels as one array parameter and `unnest` turns the arrays back into
rows, so the statement text is fixed: compiled once, prepared once per connection, and its size
never nears the driver's bound-parameter limit. SQLite has no arrays; app.sync.ingest keeps its
VALUES path there.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, String, Uuid, any_, bindparam, text, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Link, LinkState
from app.models.base import UtcDateTime
from app.models.sync import FORGET_LOST_CALL
from app.sync.backfill_gate import WRITE_HOLDS_SHARED

# One probe of the (store, type, POS id) unique index per id, whatever the planner believes. As
# `pos_id = ANY(:ids)` the ids were only a filter whenever the statistics were older than the
# store: a new shop's first import, or a table not analyzed yet, read every record of the shop's
# type for each batch of 1,000 (3.2 s at 140,000 customers), so the import slowed as it grew. The
# LATERAL subquery with its LIMIT cannot be flattened into a join, so each id is looked up alone.
_LOOKUP = """
SELECT u.pos_id, {outer}
FROM unnest(CAST(:pos_ids AS varchar[])) AS u(pos_id)
CROSS JOIN LATERAL (
    SELECT {inner} FROM records
    WHERE store_id = CAST(:store_id AS uuid) AND entity_type = CAST(:entity_type AS varchar) AND pos_id = u.pos_id
    LIMIT 1
) AS r
"""
# A write's first statement when its records are most likely stored already (app.sync.ingest): it
# takes the store's backfill gate (app.sync.backfill_gate) before it reads a row.
STORED = text(_LOOKUP.format(outer="r.content_hash, r.deleted_at, r.id", inner="content_hash, deleted_at, id")
              + f"WHERE {WRITE_HOLDS_SHARED}\n")
RECORD_IDS = text(_LOOKUP.format(outer="r.id", inner="id"))
# What a batch refers to (a sale's customer and products, a sale's shift report), with its link on
# one connection, if any: looked up by the push, batch after batch, as the shop's records grow.
_WITH_LINK = _LOOKUP + "LEFT JOIN links AS l ON l.record_id = r.id AND l.connection_id = CAST(:connection_id AS uuid)\n"
REFERENCED = text(_WITH_LINK.format(
    outer="l.id, l.state, l.external_id, l.error, l.next_attempt_at, l.claimed_until", inner="id",
)).columns(pos_id=String, id=BigInteger, state=String, external_id=String, error=String,
           next_attempt_at=UtcDateTime, claimed_until=UtcDateTime)
SHIFT_REPORTS = text(_WITH_LINK.format(outer="r.payload, l.external_id", inner="id, payload")).columns(
    pos_id=String, payload=JSONB, external_id=String)

# The links already holding external ids the program returned, one probe of the (connection, type,
# external id) unique index per pair, for the same reason as _LOOKUP: as `external_id IN (...)` the
# ids were a filter over every synced link of the type (60 ms a batch at 80,000 synced customers).
TAKEN_IDS = text("""
SELECT l.id, l.external_id, l.entity_type, records.pos_id
FROM unnest(CAST(:entity_types AS varchar[]), CAST(:external_ids AS varchar[])) AS u(entity_type, external_id)
CROSS JOIN LATERAL (
    SELECT id, external_id, entity_type, record_id FROM links
    WHERE connection_id = CAST(:connection_id AS uuid) AND entity_type = u.entity_type
      AND external_id = u.external_id
    LIMIT 1
) AS l
JOIN records ON records.id = l.record_id
""")

# Inserts what is new and updates what changed or was deleted; a stored record with the same hash
# is left as it is and not returned. `created_at` equals this write's time only on the rows it
# inserted. It takes the store's backfill gate (app.sync.backfill_gate) before any row, so it can be
# a write's first statement. The payload travels as its canonical JSON text (the bytes its hash is
# taken over) and becomes jsonb in the server. Rows keep the arrays' order: the caller's sorted
# order is the lock order.
UPSERT_RECORDS = text(f"""
INSERT INTO records (store_id, entity_type, pos_id, payload, content_hash, created_at, updated_at)
SELECT CAST(:store_id AS uuid), CAST(:entity_type AS varchar), u.pos_id, CAST(u.payload AS jsonb), u.content_hash,
       CAST(:now AS timestamptz), CAST(:now AS timestamptz)
FROM unnest(CAST(:pos_ids AS varchar[]), CAST(:payloads AS text[]), CAST(:hashes AS varchar[]))
     WITH ORDINALITY AS u(pos_id, payload, content_hash, position)
WHERE {WRITE_HOLDS_SHARED}
ORDER BY u.position
ON CONFLICT (store_id, entity_type, pos_id) DO UPDATE
SET payload = excluded.payload, content_hash = excluded.content_hash, updated_at = excluded.updated_at,
    deleted_at = NULL
WHERE records.content_hash <> excluded.content_hash OR records.deleted_at IS NOT NULL
RETURNING pos_id, id, created_at = CAST(:now AS timestamptz)
""")

MARK_PENDING = text(f"""
INSERT INTO links (connection_id, record_id, entity_type, state, next_attempt_at, retries, updated_at)
SELECT u.connection_id, u.record_id, CAST(:entity_type AS varchar), '{LinkState.PENDING}',
       CAST(:now AS timestamptz), 0, CAST(:now AS timestamptz)
FROM unnest(CAST(:connection_ids AS uuid[]), CAST(:record_ids AS bigint[]))
     WITH ORDINALITY AS u(connection_id, record_id, position)
ORDER BY u.position
ON CONFLICT (connection_id, record_id) DO UPDATE
SET state = '{LinkState.PENDING}', next_attempt_at = excluded.next_attempt_at, retries = 0, error_code = NULL,
    error = NULL, advice = NULL, lost_call_key = NULL,
    updated_at = excluded.updated_at
""")


async def stored(session: AsyncSession, store_id: uuid.UUID, entity_type: str, pos_ids: list[str]) -> list:
    """(pos_id, content_hash, deleted_at, record id) of the records already stored."""
    params = {"store_id": store_id, "entity_type": entity_type, "pos_ids": pos_ids}
    return list((await session.execute(STORED, params)).all())


async def record_ids(session: AsyncSession, store_id: uuid.UUID, entity_type: str, pos_ids: list[str]) -> dict[str, int]:
    params = {"store_id": store_id, "entity_type": entity_type, "pos_ids": pos_ids}
    return dict((await session.execute(RECORD_IDS, params)).all())


async def referenced(session: AsyncSession, *, store_id: uuid.UUID, connection_id: uuid.UUID, entity_type: str,
                     pos_ids: list[str]) -> list:
    """(pos_id, link id, state, external id, error, next attempt, claimed until) of the records
    stored; the link's columns are None where the record has no link on the connection."""
    params = {"store_id": store_id, "connection_id": connection_id, "entity_type": entity_type, "pos_ids": pos_ids}
    return list((await session.execute(REFERENCED, params)).all())


async def shift_reports(session: AsyncSession, *, store_id: uuid.UUID, connection_id: uuid.UUID,
                        pos_ids: list[str]) -> list:
    """(pos_id, payload, external id on the connection) of the shift reports stored."""
    params = {"store_id": store_id, "connection_id": connection_id, "entity_type": "shift_report", "pos_ids": pos_ids}
    return list((await session.execute(SHIFT_REPORTS, params)).all())


async def upsert_records(session: AsyncSession, *, store_id: uuid.UUID, entity_type: str, now: datetime,
                         rows: list[tuple[str, str, str]]) -> list[tuple[str, int, bool]]:
    """Write (pos_id, canonical JSON text, hash) rows, sorted by POS id; (pos_id, record id, created)
    of each record it inserted or changed."""
    params = {"store_id": store_id, "entity_type": entity_type, "now": now,
              "pos_ids": [r[0] for r in rows], "payloads": [r[1] for r in rows], "hashes": [r[2] for r in rows]}
    return [tuple(row) for row in (await session.execute(UPSERT_RECORDS, params)).all()]


async def mark_pending(session: AsyncSession, *, entity_type: str, now: datetime,
                       pairs: list[tuple[uuid.UUID, int]]) -> None:
    """Make the (connection id, record id) links pending and due now, inserting the missing ones."""
    await session.execute(MARK_PENDING, {
        "entity_type": entity_type, "now": now,
        "connection_ids": [c for c, _r in pairs], "record_ids": [r for _c, r in pairs],
    })


# One statement: the links waiting on these records become due, and say which connections they are on.
WAKE = (
    update(Link)
    .where(Link.connection_id == any_(bindparam("connection_ids", type_=ARRAY(Uuid))),
           Link.waiting_for == any_(bindparam("keys", type_=ARRAY(String))),
           Link.state.in_([LinkState.PENDING, LinkState.FAILED]))
    .values(state=LinkState.PENDING, next_attempt_at=bindparam("now"), retries=0, waiting_for=None,
            updated_at=bindparam("now"), **FORGET_LOST_CALL)
    .returning(Link.connection_id)
    .execution_options(synchronize_session=False)
)


async def wake_waiting(session: AsyncSession, *, connection_ids: list[uuid.UUID], keys: list[str],
                       now: datetime) -> set[uuid.UUID]:
    result = await session.execute(WAKE, {"connection_ids": connection_ids, "keys": keys, "now": now})
    return set(result.scalars().all())
