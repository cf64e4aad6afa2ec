"""The list screens: one page of records with each line's symbol and state, in one statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, cast, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.opaque import RECORD, OpaqueIds
from app.core.problem import Problem
from app.entities import EntityType
from app.models import Connection, Link, LinkState, Record
from app.records.schemas import LineConnection, RecordLine, RecordPage
from app.records.states import overall
from app.sync.setting_waits import first_waited, waited_setting
from app.connections.settings import COLLECTING

_WAITING = (LinkState.PENDING, LinkState.FAILED)


@dataclass(frozen=True)
class ListFilters:
    symbol: str | None = None  # green | red | none
    state: str | None = None  # synced | pending | failed | skipped
    connection_id: uuid.UUID | None = None  # the state on this connection only
    updated_since: datetime | None = None
    q: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


def _live_links():
    """Links of connections that still collect (what the symbol is made of)."""
    return (
        select(Link.record_id, Link.connection_id, Link.state, Link.next_attempt_at, Link.retries,
               Connection.connector, Link.waiting_for)
        .join(Connection, Connection.id == Link.connection_id)
        .where(Connection.status.in_(COLLECTING))
    )


def _symbol_filter(symbol: str):
    waiting = _live_links().subquery()
    red = exists().where(waiting.c.record_id == Record.id, waiting.c.state.in_(_WAITING))
    wanted_links = _live_links().subquery()
    wanted = exists().where(wanted_links.c.record_id == Record.id, wanted_links.c.state != LinkState.SKIPPED)
    return {"red": red, "green": and_(wanted, ~red), "none": ~wanted}[symbol]


def _date_compare(session: AsyncSession, field: str, moment: datetime, op: str):
    value = Record.payload[field].as_string()
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import TIMESTAMP

        left, right = cast(value, TIMESTAMP(timezone=True)), literal(moment, TIMESTAMP(timezone=True))
    else:
        left, right = func.julianday(value), func.julianday(moment.isoformat())
    return left >= right if op == ">=" else left < right


def _search(et: EntityType, q: str):
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    columns = [Record.pos_id, *(Record.payload[f].as_string() for f in et.search_fields)]
    return or_(*(c.ilike(pattern, escape="\\") for c in columns))


async def list_records(*, session: AsyncSession, store_id: uuid.UUID, et: EntityType, filters: ListFilters,
                       cursor: str | None, limit: int, ids: OpaqueIds) -> RecordPage:
    page = select(Record.id).where(Record.store_id == store_id, Record.entity_type == et.name)
    if filters.symbol:
        page = page.where(_symbol_filter(filters.symbol))
    if filters.state:
        live = _live_links().subquery()
        match = [live.c.record_id == Record.id, live.c.state == filters.state]
        if filters.connection_id:
            match.append(live.c.connection_id == filters.connection_id)
        page = page.where(exists().where(*match))
    if filters.updated_since:
        page = page.where(Record.updated_at >= filters.updated_since)
    if filters.q:
        page = page.where(_search(et, filters.q))
    if et.date_field and filters.date_from:
        page = page.where(_date_compare(session, et.date_field, filters.date_from, ">="))
    if et.date_field and filters.date_to:
        page = page.where(_date_compare(session, et.date_field, filters.date_to, "<"))
    if cursor:
        after = await _cursor_position(session, store_id, et, cursor, ids)
        page = page.where(or_(Record.updated_at < after[0], and_(Record.updated_at == after[0], Record.id < after[1])))
    page = page.order_by(Record.updated_at.desc(), Record.id.desc()).limit(limit + 1).subquery()

    live = _live_links().subquery()
    rows = (await session.execute(
        select(Record, live.c.connection_id, live.c.connector, live.c.state, live.c.next_attempt_at, live.c.retries,
               live.c.waiting_for)
        .join(page, page.c.id == Record.id)
        .outerjoin(live, live.c.record_id == Record.id)
        .order_by(Record.updated_at.desc(), Record.id.desc(), live.c.connection_id)
    )).all()
    records: dict[int, Record] = {}
    links: dict[int, list] = {}
    for record, connection_id, connector, state, next_at, retries, waiting_for in rows:
        records.setdefault(record.id, record)
        bucket = links.setdefault(record.id, [])
        if connection_id is not None:
            bucket.append((connection_id, connector, state, next_at, retries, waited_setting(state, waiting_for)))
    ordered = list(records.values())
    more = len(ordered) > limit
    ordered = ordered[:limit]
    lines = []
    for record in ordered:
        mine = links[record.id]
        summary = overall([(s, n, r) for _c, _k, s, n, r, _w in mine])
        waits_for = first_waited([(s, w) for _c, _k, s, _n, _r, w in mine]) if summary.state == LinkState.FAILED else None
        lines.append(RecordLine(
            id=record.pos_id, payload=record.payload, updated_at=record.updated_at, symbol=summary.symbol,
            state=summary.state, next_attempt_at=summary.next_attempt_at, retries=summary.retries, waits_for=waits_for,
            connections=[LineConnection(connection_id=c, connector=k, state=s, waits_for=w)
                         for c, k, s, _n, _r, w in mine],
        ))
    next_cursor = ids.encode(RECORD, ordered[-1].id) if more and ordered else None
    return RecordPage(items=lines, next_cursor=next_cursor)


async def _cursor_position(session, store_id, et, cursor: str, ids: OpaqueIds) -> tuple[datetime, int]:
    record_id = ids.decode(RECORD, cursor)
    row = None
    if record_id is not None:
        row = (await session.execute(
            select(Record.updated_at, Record.id).where(
                Record.id == record_id, Record.store_id == store_id, Record.entity_type == et.name)
        )).first()
    if row is None:
        raise Problem(422, "The cursor is not valid; use next_cursor from the previous page.",
                      errors=[{"path": "query.cursor", "message": "not a cursor this API issued", "type": "cursor"}])
    return row[0], row[1]
