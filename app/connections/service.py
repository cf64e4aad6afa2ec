"""Integrated Apps: connections of one store, their runs (Sync process log) and errors (Error log)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.problem import Problem, field_errors
from app.connectors.base import Connector
from app.core.opaque import ATTEMPT, OpaqueIds
from app.core.pagination import decode_cursor, encode_cursor, parse_cursor_time, parse_uuid
from app.entities import ENTITY_TYPES
from app.models import Attempt, AttemptOutcome, Connection, ConnectionStatus, Link, LinkState, Run
from app.records.service import attempt_cursor
from app.sync.ingest import backfill_links


async def get_connection(*, session: AsyncSession, store_id: uuid.UUID, connection_id: uuid.UUID) -> Connection:
    connection = await session.get(Connection, connection_id)
    if connection is None or connection.store_id != store_id or connection.status == ConnectionStatus.DISCONNECTED:
        raise Problem(404, f"No connection '{connection_id}'.")
    return connection


async def list_connections(*, session: AsyncSession, store_id: uuid.UUID) -> list[Connection]:
    rows = await session.scalars(
        select(Connection)
        .where(Connection.store_id == store_id, Connection.status != ConnectionStatus.DISCONNECTED)
        .order_by(Connection.created_at)
    )
    return list(rows)


def validated_settings(connector: Connector, raw: dict | None) -> dict:
    try:
        settings = connector.settings_model.model_validate(raw or {}).model_dump(mode="json")
    except ValidationError as exc:
        raise Problem(422, "The sync settings are not valid; see errors.", errors=field_errors(exc.errors())) from exc
    if "effective_from" in settings:
        # A new connection's settings apply from the start; only a change has a moment, and the
        # history is possync's to keep (apply_settings).
        settings["effective_from"] = None
        settings["mode_history"] = []
    return settings


async def activate(*, session: AsyncSession, connection: Connection, connector: Connector) -> int:
    """Make the connection push, starting with every record the store already has."""
    connection.status = ConnectionStatus.ACTIVE
    connection.status_reason = None
    await session.flush()
    typed = connector.settings_model.model_validate(connection.settings or {})
    return await backfill_links(session, connection, [t for t in ENTITY_TYPES if connector.syncs(t, typed)])


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
        later = aliased(Attempt)
        latest = select(func.max(later.id)).where(later.link_id == Link.id).correlate(Link).scalar_subquery()
        query = query.join(Link, Link.id == Attempt.link_id).where(
            Link.state.in_([LinkState.FAILED, LinkState.PENDING]), Attempt.id == latest
        )
    if entity_type:
        query = query.where(Attempt.entity_type == entity_type)
    if since:
        query = query.where(Attempt.created_at >= since)
    if code:
        query = query.where(Attempt.error_code == code)
    before = attempt_cursor(cursor, ids)
    if before is not None:
        query = query.where(Attempt.id < before)
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (ids.encode(ATTEMPT, rows[-1].id) if more and rows else None)
