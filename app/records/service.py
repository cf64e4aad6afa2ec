"""Reads behind the POS screens: records, sync symbols, the Sync panel, REFRESH LOGS."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Connection, ConnectionStatus, Link, LinkState, Record
from app.records.schemas import PanelConnection, SyncPanel
from app.records.states import overall
from app.sync.setting_waits import first_waited, waited_setting
from app.connections.settings import COLLECTING


async def get_record(*, session: AsyncSession, store_id: uuid.UUID, entity_type: str, pos_id: str) -> Record | None:
    return await session.scalar(
        select(Record).where(Record.store_id == store_id, Record.entity_type == entity_type, Record.pos_id == pos_id)
    )


def _status_query(ids_match):
    live = (
        select(Link.record_id, Link.state, Link.next_attempt_at, Link.retries, Link.waiting_for)
        .join(Connection, Connection.id == Link.connection_id)
        .where(Connection.status.in_(COLLECTING))
        .subquery()
    )
    return (
        select(Record.pos_id, live.c.state, live.c.next_attempt_at, live.c.retries, live.c.waiting_for)
        .outerjoin(live, live.c.record_id == Record.id)
        .where(Record.store_id == bindparam("store_id"), Record.entity_type == bindparam("entity_type"), ids_match)
    )


# Built once: the POS polls this for every list screen. On PostgreSQL the ids go as one array
# parameter (`= ANY($3)`), so the SQL text is the same whatever the number of ids and the server's
# prepared statement is reused; SQLite has no arrays and gets an expanding IN.
_STATUS_PG = _status_query(Record.pos_id == any_(bindparam("pos_ids", type_=ARRAY(String))))
_STATUS_OTHER = _status_query(Record.pos_id.in_(bindparam("pos_ids", expanding=True)))


async def statuses(*, session: AsyncSession, store_id: uuid.UUID, entity_type: str,
                   pos_ids: list[str]) -> list[dict]:
    """Symbol and state of each id, in the order asked; `unknown` for an id the store lacks."""
    query = _STATUS_PG if session.get_bind().dialect.name == "postgresql" else _STATUS_OTHER
    rows = await session.execute(query, {"store_id": store_id, "entity_type": entity_type, "pos_ids": pos_ids})
    links: dict[str, list] = defaultdict(list)
    waits: dict[str, list] = defaultdict(list)
    for pos_id, state, next_at, retries, waiting_for in rows.all():
        bucket = links[pos_id]
        if state is not None:
            bucket.append((state, next_at, retries))
            waits[pos_id].append((state, waited_setting(state, waiting_for)))
    # Plain dicts: the response model (StatusList) validates and serialises the whole list in one
    # pydantic call; a model per id (validated or constructed) cost more than the query.
    items = []
    for pos_id in pos_ids:
        found = links.get(pos_id)
        if found is None:
            items.append({"id": pos_id, "symbol": "none", "state": "unknown", "next_attempt_at": None, "retries": None,
                          "waits_for": None})
            continue
        summary = overall(found)
        items.append({"id": pos_id, "symbol": summary.symbol, "state": summary.state,
                      "next_attempt_at": summary.next_attempt_at, "retries": summary.retries,
                      "waits_for": first_waited(waits[pos_id]) if summary.state == LinkState.FAILED else None})
    return items


async def panel(*, session: AsyncSession, record_id: int) -> SyncPanel:
    rows = await session.execute(
        select(Link, Connection)
        .join(Connection, Connection.id == Link.connection_id)
        .where(Link.record_id == record_id, Connection.status.in_(COLLECTING))
        .order_by(Connection.created_at)
    )
    entries = [_panel_entry(link, connection) for link, connection in rows.all()]
    summary = overall([(e.state, e.next_attempt_at, e.retries) for e in entries])
    waits_for = first_waited([(e.state, e.waits_for) for e in entries])
    return SyncPanel(symbol=summary.symbol, state=summary.state, connections=entries,
                     waits_for=waits_for if summary.state == LinkState.FAILED else None)


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
        next_attempt_at=link.next_attempt_at if link.state == LinkState.PENDING else None,
        retries=link.retries if link.state == LinkState.PENDING else None,
        program_change=link.program_change,
        program_changed_at=link.program_changed_at,
        waits_for=waited_setting(link.state, link.waiting_for),
    )
