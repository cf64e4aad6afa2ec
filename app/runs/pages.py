"""Pages of runs and attempts: a connection's Sync process log and Error log, a record's REFRESH LOGS."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.opaque import ATTEMPT, OpaqueIds
from app.core.pagination import decode_cursor, encode_cursor, parse_cursor_time, parse_uuid
from app.core.problem import Problem
from app.models import Attempt, AttemptOutcome, Connection, Link, LinkState, Run
from app.runs.schemas import AttemptPage, AttemptPublic
from app.sync.setting_waits import waited_setting


_NOT_COLUMNS = ("id", "waits_for")


def attempt_public(attempt: Attempt, ids: OpaqueIds, waits_for: str | None = None) -> AttemptPublic:
    public = AttemptPublic.model_validate(
        {c: getattr(attempt, c) for c in AttemptPublic.model_fields if c not in _NOT_COLUMNS}
        | {"id": ids.encode(ATTEMPT, attempt.id), "waits_for": waits_for}
    )
    return public


async def settings_waited(session: AsyncSession, attempts: list[Attempt]) -> dict[int, str]:
    """Link id → the setting its record still waits for (one look-up by primary key for the page)."""
    link_ids = {a.link_id for a in attempts if a.outcome == AttemptOutcome.FAILED}
    if not link_ids:
        return {}
    rows = await session.execute(select(Link.id, Link.state, Link.waiting_for).where(Link.id.in_(link_ids)))
    return {link_id: waits for link_id, state, waiting_for in rows.all()
            if (waits := waited_setting(state, waiting_for))}


def attempt_cursor(cursor: str | None, ids: OpaqueIds) -> int | None:
    if not cursor:
        return None
    before = ids.decode(ATTEMPT, cursor)
    if before is None:
        raise Problem(422, "The cursor is not valid; use next_cursor from the previous page.",
                      errors=[{"path": "query.cursor", "message": "not a cursor this API issued", "type": "cursor"}])
    return before


async def attempts_page(*, session: AsyncSession, record_id: int, cursor: str | None, limit: int,
                        ids: OpaqueIds) -> AttemptPage:
    before = attempt_cursor(cursor, ids)
    query = (
        select(Attempt)
        .join(Link, Link.id == Attempt.link_id)
        .where(Link.record_id == record_id)
        .order_by(Attempt.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(Attempt.id < before)
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return AttemptPage(
        items=[attempt_public(a, ids) for a in rows],
        next_cursor=ids.encode(ATTEMPT, rows[-1].id) if more and rows else None,
    )


async def store_run(*, session: AsyncSession, store_id: uuid.UUID, run_id: uuid.UUID) -> Run | None:
    """The run, if it belongs to a connection of this store."""
    run = await session.get(Run, run_id)
    if run is None:
        return None
    connection = await session.get(Connection, run.connection_id)
    return run if connection is not None and connection.store_id == store_id else None


async def runs_page(
    *, session: AsyncSession, connection_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Run], str | None]:
    query = select(Run).where(Run.connection_id == connection_id).order_by(Run.created_at.desc(), Run.id.desc())
    after = decode_cursor(cursor, parts=2)
    if after is not None:
        at, run_id = parse_cursor_time(after[0]), parse_uuid(after[1])
        query = query.where((Run.created_at < at) | ((Run.created_at == at) & (Run.id < run_id)))
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id) if more and rows else None)


def errors_query(
    *,
    connection_id: uuid.UUID,
    limit: int,
    before: int | None = None,
    entity_type: str | None = None,
    since: datetime | None = None,
    code: str | None = None,
    history: bool = False,
):
    """The Error log's SELECT: failed and retried tries, newest first, one page (plus one row)."""
    query = (
        select(Attempt)
        .where(
            Attempt.connection_id == connection_id,
            Attempt.outcome.in_([AttemptOutcome.FAILED, AttemptOutcome.RETRY]),
        )
        .order_by(Attempt.id.desc())
    )
    if not history:
        # What fails now: the latest try of each record that is still failed or waiting to retry.
        # "No later try of its link" (an anti-join) rather than "its id is the link's max(id)": the
        # planner then walks the failures newest first and stops at the page's end, instead of
        # visiting every failing link and sorting (a tenth of the time with 100,000 attempts).
        later = aliased(Attempt)
        no_later_try = ~exists().where(later.link_id == Attempt.link_id, later.id > Attempt.id)
        query = query.join(Link, Link.id == Attempt.link_id).where(
            Link.state.in_([LinkState.FAILED, LinkState.PENDING]), no_later_try
        )
    if entity_type:
        query = query.where(Attempt.entity_type == entity_type)
    if since:
        query = query.where(Attempt.created_at >= since)
    if code:
        query = query.where(Attempt.error_code == code)
    if before is not None:
        query = query.where(Attempt.id < before)
    return query.limit(limit + 1)


async def errors_page(
    *,
    session: AsyncSession,
    connection_id: uuid.UUID,
    entity_type: str | None,
    since: datetime | None,
    code: str | None,
    cursor: str | None,
    limit: int,
    ids: OpaqueIds,
    history: bool = False,
) -> tuple[list[Attempt], str | None]:
    query = errors_query(connection_id=connection_id, limit=limit, before=attempt_cursor(cursor, ids),
                         entity_type=entity_type, since=since, code=code, history=history)
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (ids.encode(ATTEMPT, rows[-1].id) if more and rows else None)
