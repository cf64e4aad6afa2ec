"""Storing what the POS sends, and turning changes into pending links (the durable work)."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, Uuid, and_, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors.base import Connector
from app.entities.canonical import canonical_json, hash_of
from app.models import Connection, Link, LinkState, Record
from app.models.records import SALE, ShiftId
from app.models.sync import FORGET_LOST_CALL
from app.models.base import UtcDateTime, utcnow
from app.connections.settings import collecting_connections, rings_on_change, syncing
from app.sync import bulk
from app.sync.backfill_gate import hold_for_backfill
from app.sync.wake import wait_key, wake_waiting


ROWS_PER_STATEMENT = 2000


class Ingested(NamedTuple):
    """What became of one stored payload (a tuple: a batch makes one per item)."""

    pos_id: str
    record_id: int
    created: bool
    changed: bool


def _upsert(session: AsyncSession, table):
    return (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert(table)


async def upsert_records(
    session: AsyncSession,
    *,
    store_id: uuid.UUID,
    entity_type: str,
    payloads: dict[str, dict[str, Any]],
    connectors: dict[str, Connector],
) -> tuple[list[Ingested], set[uuid.UUID]]:
    """Store the payloads (keyed by POS id); return what happened and which connections got work.

    An unchanged payload causes no write and no work.
    """
    canonical = {pos_id: canonical_json(p) for pos_id, p in payloads.items()}
    hashes = {pos_id: hash_of(text) for pos_id, text in canonical.items()}
    now = utcnow()
    if session.bind.dialect.name == "postgresql":
        created, changed, ids = await _write_on_postgresql(session, store_id, entity_type, now, canonical, hashes)
    else:
        created, changed, ids = await _write_elsewhere(session, store_id, entity_type, now, payloads, hashes)
    rung: set[uuid.UUID] = set()
    collecting = await collecting_connections(session, store_id)
    if collecting:
        # Whatever waited for these records (a sale for its product) is due now.
        rung |= await wake_waiting(session, [c.id for c in collecting], [wait_key(entity_type, p) for p in payloads])
    if changed:
        connections = syncing(connectors, collecting, entity_type)
        await mark_pending(session, connections, entity_type, [ids[p] for p in changed])
        rung |= {c.id for c in connections}
        if entity_type == "shift_report":
            await _rejudge_sales_of(session, store_id, [c.id for c in collecting], changed)
            rung |= {c.id for c in collecting}
    rung &= {c.id for c in collecting if rings_on_change(c)}
    changed_set = set(changed)
    results = [Ingested(p, ids[p], p in created, p in changed_set) for p in payloads]
    return results, rung


class _LastBatches:
    """Whether the last write of each (store, entity type) in this process was mostly new records.

    A shop's first sync sends batch after batch of new records; a POS that sends its catalogue
    again sends records the store has. Each kind has its cheaper statements (`_write_on_postgresql`),
    and the batch before is the best guess of which kind comes next. Only the choice of statements
    depends on it, never what is stored or answered. The oldest guesses are dropped beyond a bound."""

    def __init__(self, bound: int = 4096) -> None:
        self._mostly_new: OrderedDict[tuple[uuid.UUID, str], bool] = OrderedDict()
        self._bound = bound

    def mostly_new(self, store_id: uuid.UUID, entity_type: str) -> bool:
        return self._mostly_new.get((store_id, entity_type), False)

    def remember(self, store_id: uuid.UUID, entity_type: str, *, created: int, sent: int) -> None:
        key = (store_id, entity_type)
        self._mostly_new[key] = created * 2 > sent
        self._mostly_new.move_to_end(key)
        if len(self._mostly_new) > self._bound:
            self._mostly_new.popitem(last=False)


LAST_BATCHES = _LastBatches()


async def _write_on_postgresql(session: AsyncSession, store_id: uuid.UUID, entity_type: str, now,
                               canonical: dict[str, str], hashes: dict[str, str]) -> tuple[set[str], list[str], dict]:
    """Returns (the ids created, the ids written (sorted), the record id of every POS id).

    New records: one statement inserts them, comparing any stored record's hash as it goes
    (app.sync.bulk.UPSERT_RECORDS); the ids of those left unchanged are looked up after. Records the
    store has: their hashes and ids are looked up first, and only the changed ones written. Each way
    costs its kind one statement; the wrong way costs a statement, or the insert's conflict checks
    (7 ms for 1,000 unchanged customers, measured), never a different answer."""
    # Sorted: concurrent batches holding the same records lock them in one order, never a deadlock.
    order = sorted(canonical)
    ids: dict[str, int] = {}
    to_write = order
    if not LAST_BATCHES.mostly_new(store_id, entity_type):
        found = {pos_id: (content, deleted_at, record_id)
                 for pos_id, content, deleted_at, record_id in await bulk.stored(session, store_id, entity_type, order)}
        # A record sent again after a DELETE is back in the POS: stored (and pushed) even if unchanged.
        to_write = [p for p in order if p not in found or found[p][0] != hashes[p] or found[p][1] is not None]
        ids = {pos_id: row[2] for pos_id, row in found.items()}
    written = await bulk.upsert_records(session, store_id=store_id, entity_type=entity_type, now=now,
                                        rows=[(p, canonical[p], hashes[p]) for p in to_write]) if to_write else []
    ids.update((pos_id, record_id) for pos_id, record_id, _ in written)
    unchanged = [pos_id for pos_id in order if pos_id not in ids]
    if unchanged:
        ids.update(await bulk.record_ids(session, store_id, entity_type, unchanged))
    created = {pos_id for pos_id, _, was_created in written if was_created}
    LAST_BATCHES.remember(store_id, entity_type, created=len(created), sent=len(order))
    return created, sorted(p for p, _, _ in written), ids


async def _write_elsewhere(session: AsyncSession, store_id: uuid.UUID, entity_type: str, now,
                           payloads: dict[str, dict[str, Any]], hashes: dict[str, str]) -> tuple[set[str], list[str], dict]:
    """SQLite (embedded mode): the stored hashes looked up first, then a VALUES list of the records
    to write. The same answer as `_write_on_postgresql`."""
    rows = (
        await session.execute(
            select(Record.pos_id, Record.content_hash, Record.deleted_at).where(
                Record.store_id == store_id, Record.entity_type == entity_type, Record.pos_id.in_(list(payloads))
            )
        )
    ).all()
    stored = {pos_id: content for pos_id, content, _ in rows}
    deleted = {pos_id for pos_id, _, deleted_at in rows if deleted_at is not None}
    # A record sent again after a DELETE is back in the POS: store it (and push it) even if unchanged.
    changed = sorted(pos_id for pos_id in payloads if stored.get(pos_id) != hashes[pos_id] or pos_id in deleted)
    ids: dict[str, int] = {}
    if changed:
        values = [
            {
                "store_id": store_id,
                "entity_type": entity_type,
                "pos_id": pos_id,
                "payload": payloads[pos_id],
                "content_hash": hashes[pos_id],
                "created_at": now,
                "updated_at": now,
            }
            for pos_id in changed
        ]
        stmt = _upsert(session, Record).values(values)
        # ON CONFLICT makes two concurrent first PUTs of one id an update, not a 500.
        stmt = stmt.on_conflict_do_update(
            index_elements=["store_id", "entity_type", "pos_id"],
            set_={"payload": stmt.excluded.payload, "content_hash": stmt.excluded.content_hash, "updated_at": now,
                  "deleted_at": None},
        ).returning(Record.pos_id, Record.id)
        ids.update(dict((await session.execute(stmt)).all()))
    unchanged = [pos_id for pos_id in payloads if pos_id not in ids]
    if unchanged:
        ids.update(dict((await session.execute(
            select(Record.pos_id, Record.id).where(Record.store_id == store_id, Record.entity_type == entity_type,
                                                   Record.pos_id.in_(unchanged))
        )).all()))
    return set(payloads) - stored.keys(), changed, ids


async def mark_deleted(session: AsyncSession, *, record: Record, connectors: dict[str, Connector]) -> set[uuid.UUID]:
    """The record is gone from the POS: keep it (history, panel) and make each program undo it.

    Returns the connections that got work; deleting twice changes nothing.
    """
    if record.deleted_at is not None:
        return set()
    now = utcnow()
    record.deleted_at = now
    record.updated_at = now
    collecting = await collecting_connections(session, record.store_id)
    linked = set((await session.scalars(select(Link.connection_id).where(Link.record_id == record.id))).all())
    connections = [c for c in collecting if c.id in linked]
    await mark_pending(session, connections, record.entity_type, [record.id])
    return {c.id for c in connections if rings_on_change(c)}


async def _rejudge_sales_of(session: AsyncSession, store_id: uuid.UUID, connection_ids: list[uuid.UUID],
                            shift_ids: list[str]) -> None:
    """A shift that closes (or changes) fixes the moment its skipped sales are judged by: judge them again."""
    if not connection_ids or not shift_ids:
        return
    sales = select(Record.id).where(Record.store_id == store_id, Record.entity_type == SALE, ShiftId().in_(shift_ids))
    now = utcnow()
    await session.execute(
        update(Link)
        .where(Link.connection_id.in_(connection_ids), Link.state == LinkState.SKIPPED, Link.record_id.in_(sales))
        .values(state=LinkState.PENDING, next_attempt_at=now, retries=0, updated_at=now, **FORGET_LOST_CALL)
    )


async def mark_pending(
    session: AsyncSession, connections: list[Connection], entity_type: str, record_ids: list[int]
) -> None:
    """Make (or re-make) the links of these records pending, due now, with no old error."""
    if not connections or not record_ids:
        return
    now = utcnow()
    # One lock order for every writer (see upsert_records).
    pairs = [(c.id, rid) for c in sorted(connections, key=lambda c: c.id) for rid in sorted(record_ids)]
    if session.bind.dialect.name == "postgresql":
        await bulk.mark_pending(session, entity_type=entity_type, now=now, pairs=pairs)
        return
    rows = [
        {"connection_id": cid, "record_id": rid, "entity_type": entity_type, "state": LinkState.PENDING,
         "next_attempt_at": now, "retries": 0, "updated_at": now}
        for cid, rid in pairs
    ]
    # Chunks keep each statement under the drivers' bound-parameter limit (SQLite's 32,766)
    # whatever the number of connections times records.
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        stmt = _upsert(session, Link).values(rows[start : start + ROWS_PER_STATEMENT])
        stmt = stmt.on_conflict_do_update(
            index_elements=["connection_id", "record_id"],
            set_={
                "state": LinkState.PENDING,
                "next_attempt_at": now,
                "retries": 0,
                **FORGET_LOST_CALL,
                "error_code": None,
                "error": None,
                "advice": None,
                "updated_at": now,
            },
        )
        await session.execute(stmt)


async def backfill_links(session: AsyncSession, connection: Connection, entity_types: list[str]) -> int:
    """Give a new (or newly widened) connection a pending link for every existing record it syncs.

    The caller took the store's backfill gate before any row lock (app.sync.backfill_gate); taken
    again here (one round trip, no wait), it keeps the link guarantee for a caller that forgot."""
    if not entity_types:
        return 0
    await hold_for_backfill(session, connection.store_id)
    now = utcnow()
    missing = (
        select(
            literal(connection.id, Uuid).label("connection_id"),
            Record.id,
            Record.entity_type,
            literal(LinkState.PENDING, String),
            literal(now, UtcDateTime),
            literal(0, Integer),
            literal(now, UtcDateTime),
        )
        .outerjoin(Link, and_(Link.record_id == Record.id, Link.connection_id == connection.id))
        .where(Record.store_id == connection.store_id, Record.entity_type.in_(entity_types), Link.id.is_(None))
    )
    stmt = insert(Link).from_select(
        ["connection_id", "record_id", "entity_type", "state", "next_attempt_at", "retries", "updated_at"], missing
    )
    result = await session.execute(stmt)
    return result.rowcount or 0



