"""Reads behind the POS screens: records, sync symbols, the Sync panel, REFRESH LOGS."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import decode_id_cursor, encode_cursor
from app.models import Attempt, Connection, ConnectionStatus, Link, LinkState, Record
from app.records.schemas import AttemptPage, AttemptPublic, PanelConnection, SyncPanel
from app.sync.connections import COLLECTING

def symbol_of(states: list[str]) -> str:
    """green: synced wherever it should be; red: not yet, or refused; none: no program should get it
    (no connection syncs it, or every one skips it: a voided sale, a shift in individual mode)."""
    wanted = [s for s in states if s != LinkState.SKIPPED]
    if not wanted:
        return "none"
    return "green" if all(s == LinkState.SYNCED for s in wanted) else "red"


async def get_record(*, session: AsyncSession, store_id: uuid.UUID, entity_type: str, pos_id: str) -> Record | None:
    return await session.scalar(
        select(Record).where(Record.store_id == store_id, Record.entity_type == entity_type, Record.pos_id == pos_id)
    )


async def symbols(*, session: AsyncSession, store_id: uuid.UUID, entity_type: str, pos_ids: list[str]) -> dict[str, str]:
    rows = await session.execute(
        select(Record.pos_id, Link.state)
        .join(Link, Link.record_id == Record.id)
        .join(Connection, Connection.id == Link.connection_id)
        .where(
            Record.store_id == store_id,
            Record.entity_type == entity_type,
            Record.pos_id.in_(pos_ids),
            Connection.status.in_(COLLECTING),
        )
    )
    states: dict[str, list[str]] = defaultdict(list)
    for pos_id, state in rows.all():
        states[pos_id].append(state)
    return {pos_id: symbol_of(states.get(pos_id, [])) for pos_id in pos_ids}


async def panel(*, session: AsyncSession, record_id: int) -> SyncPanel:
    rows = await session.execute(
        select(Link, Connection)
        .join(Connection, Connection.id == Link.connection_id)
        .where(Link.record_id == record_id, Connection.status.in_(COLLECTING))
        .order_by(Connection.created_at)
    )
    entries = [_panel_entry(link, connection) for link, connection in rows.all()]
    return SyncPanel(symbol=symbol_of([e.state for e in entries]), connections=entries)


def _panel_entry(link: Link, connection: Connection) -> PanelConnection:
    error, advice = link.error, link.advice
    if link.state == LinkState.PENDING and connection.status != ConnectionStatus.ACTIVE:
        # The record waits for the connection, not for itself: say what the shop must do.
        error = {
            ConnectionStatus.RECONNECT_REQUIRED: "Reconnect required.",
            ConnectionStatus.PAUSED: "Sync paused by the program's limits.",
        }.get(connection.status, error)
        advice = connection.status_reason or advice
    return PanelConnection(
        connection_id=connection.id,
        connector=connection.connector,
        state=link.state,
        status=link.action,
        error=error,
        advice=advice,
        last_sync=link.last_synced_at,
        external_id=link.external_id,
    )


async def attempts_page(*, session: AsyncSession, record_id: int, cursor: str | None, limit: int) -> AttemptPage:
    before = decode_id_cursor(cursor)
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
        items=[AttemptPublic.model_validate(a, from_attributes=True) for a in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )
