"""Reading a connection the way the engine needs it: its connector and typed settings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.schedule import schedule_of
from app.connectors.base import Connector
from app.models import Connection, ConnectionStatus

# Connections that collect work; a paused or broken one pushes it once it is back.
COLLECTING = (ConnectionStatus.ACTIVE, ConnectionStatus.PAUSED, ConnectionStatus.RECONNECT_REQUIRED)


def rings_on_change(connection: Connection) -> bool:
    """Whether new work wakes a job at once; otherwise it waits for the schedule or SYNC NOW."""
    return schedule_of(connection.settings).rings_on_change


def typed_settings(connectors: dict[str, Connector], connection: Connection) -> BaseModel:
    return connectors[connection.connector].settings_model.model_validate(connection.settings or {})


async def collecting_connections(session: AsyncSession, store_id: uuid.UUID) -> Sequence[Connection]:
    rows = await session.scalars(
        select(Connection).where(Connection.store_id == store_id, Connection.status.in_(COLLECTING))
    )
    return rows.all()


def syncing(connectors: dict[str, Connector], connections: Sequence[Connection], entity_type: str) -> list[Connection]:
    return [
        c
        for c in connections
        if c.connector in connectors and connectors[c.connector].syncs(entity_type, typed_settings(connectors, c))
    ]
