"""Integrated Apps: the connections of one store, reading them, their settings checked, activating them."""

from __future__ import annotations

import uuid

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.problem import Problem, field_errors
from app.connectors.base import Connector
from app.entities import ENTITY_TYPES
from app.models import Connection, ConnectionStatus
from app.connections.schedule import plan_next_run
from app.models.base import utcnow
from app.sync.backfill_gate import hold_for_backfill
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
    await hold_for_backfill(session, connection.store_id)
    connection.status = ConnectionStatus.ACTIVE
    connection.status_reason = None
    await session.flush()
    typed = connector.settings_model.model_validate(connection.settings or {})
    plan_next_run(connection, None, typed.schedule, utcnow())
    return await backfill_links(session, connection, [t for t in ENTITY_TYPES if connector.syncs(t, typed)])
