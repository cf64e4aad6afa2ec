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
    return status_items(pos_ids, rows.all())


def status_items(pos_ids: list[str], rows) -> list[dict]:
    """The items of a StatusList from rows of (pos_id, state, next_attempt_at, retries, waiting_for),
    one per live link (state None: the record has none)."""
    links: dict[str, list] = defaultdict(list)
    waits: dict[str, list] = defaultdict(list)
    for pos_id, state, next_at, retries, waiting_for in rows:
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


# What one line of the Sync panel is made of, in this order (app.records.fast_reads selects the same).
PANEL_COLUMNS = (Connection.id, Connection.connector, Link.state, Link.action, Link.error, Link.advice,
                 Link.last_synced_at, Link.external_id, Link.next_attempt_at, Link.retries, Connection.status,
                 Connection.status_reason, Link.program_change, Link.program_changed_at, Link.waiting_for)


async def panel(*, session: AsyncSession, record_id: int) -> SyncPanel:
    rows = await session.execute(
        select(*PANEL_COLUMNS)
        .join(Connection, Connection.id == Link.connection_id)
        .where(Link.record_id == record_id, Connection.status.in_(COLLECTING))
        .order_by(Connection.created_at)
    )
    return panel_of(rows.all())


def panel_of(rows) -> SyncPanel:
    """The Sync panel from its lines' rows (PANEL_COLUMNS), in the connections' order."""
    entries = [_panel_entry(*row) for row in rows]
    summary = overall([(e.state, e.next_attempt_at, e.retries) for e in entries])
    waits_for = first_waited([(e.state, e.waits_for) for e in entries])
    return SyncPanel(symbol=summary.symbol, state=summary.state, connections=entries,
                     waits_for=waits_for if summary.state == LinkState.FAILED else None)


def _panel_entry(connection_id, connector, state, action, error, advice, last_synced_at, external_id,
                 next_attempt_at, retries, connection_status, status_reason, program_change, program_changed_at,
                 waiting_for) -> PanelConnection:
    pending = state == LinkState.PENDING
    if pending and connection_status != ConnectionStatus.ACTIVE:
        # The record waits for the connection, not for itself: say what the shop must do.
        error = {
            ConnectionStatus.RECONNECT_REQUIRED: "Reconnect required.",
            ConnectionStatus.PAUSED: "Sync paused by the program's limits.",
        }.get(connection_status, error)
        advice = status_reason or advice
    return PanelConnection(
        connection_id=connection_id,
        connector=connector,
        state=state,
        status=action,
        error=error,
        advice=advice,
        last_sync=last_synced_at,
        external_id=external_id,
        next_attempt_at=next_attempt_at if pending else None,
        retries=retries if pending else None,
        program_change=program_change,
        program_changed_at=program_changed_at,
        waits_for=waited_setting(state, waiting_for),
    )


# The same two reads as SQL on the driver connection, for the gate's fast lane (app.api.fast_reads):
# PostgreSQL only, their text fixed so asyncpg prepares each once per connection. They must select
# exactly what _status_query and panel do; tests/test_fast_reads.py compares the answers byte for byte.
_LIVE = "(" + ", ".join(f"'{status}'" for status in COLLECTING) + ")"
STATUS_SQL = f"""SELECT r.pos_id, l.state, l.next_attempt_at, l.retries, l.waiting_for FROM records r
LEFT JOIN (SELECT links.record_id, links.state, links.next_attempt_at, links.retries, links.waiting_for FROM links
           JOIN connections c ON c.id = links.connection_id WHERE c.status IN {_LIVE}) l ON l.record_id = r.id
WHERE r.store_id = $1 AND r.entity_type = $2 AND r.pos_id = ANY($3::varchar[])"""
# One round trip for the record and its lines: no row, no record; a row of NULLs, no live link.
PANEL_SQL = f"""SELECT c.id AS connection_id, c.connector, l.state, l.action, l.error, l.advice, l.last_synced_at, l.external_id,
       l.next_attempt_at, l.retries, c.status, c.status_reason, l.program_change, l.program_changed_at, l.waiting_for
FROM records r
LEFT JOIN (links l JOIN connections c ON c.id = l.connection_id AND c.status IN {_LIVE}) ON l.record_id = r.id
WHERE r.store_id = $1 AND r.entity_type = $2 AND r.pos_id = $3
ORDER BY c.created_at"""


async def statuses_on_driver(driver, *, store_id: uuid.UUID, entity_type: str, pos_ids: list[str]) -> list[dict]:
    return status_items(pos_ids, await driver.fetch(STATUS_SQL, store_id, entity_type, pos_ids))


async def panel_on_driver(driver, *, store_id: uuid.UUID, entity_type: str, pos_id: str) -> SyncPanel | None:
    """The record's Sync panel, or None when the store has no such record."""
    rows = await driver.fetch(PANEL_SQL, store_id, entity_type, pos_id)
    if not rows:
        return None
    return panel_of(row for row in rows if row[0] is not None)
