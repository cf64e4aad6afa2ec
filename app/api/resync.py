"""POST /v1/connections/{id}/resync: re-check a period against the program (app.sync.resync)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import BellDep, ConnectionDep, ConnectorDep, ConnectorsDep, SessionDep
from app.api.problems import PROBLEM_RESPONSES, Problem
from app.entities.common import Moment
from app.entities.registry import EntityTypeName
from app.models import ConnectionStatus
from app.connections.settings import typed_settings
from app.sync.resync import MAX_PERIOD, request_resync, resyncable

router = APIRouter(prefix="/v1", tags=["Integrated Apps"], responses=PROBLEM_RESPONSES)


class ResyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              json_schema_extra={"examples": [{"from": "2026-11-01T00:00:00Z", "to": "2026-11-30T23:59:59Z",
                                                               "entity_types": ["sale"]}]})

    start: Moment = Field(alias="from", description="Start of the period (RFC 3339, with a time zone).")
    end: Moment = Field(alias="to", description="End of the period; at most a year after `from`.")
    entity_types: list[EntityTypeName] | None = Field(
        default=None, description="Which records to check; default: every type the connection syncs. A sale, shift "
        "report or purchase order belongs to the period by its own date (a shift by its close); customers, suppliers "
        "and products by when the POS last sent them.")


class ResyncQueued(BaseModel):
    run_id: uuid.UUID = Field(description="The resync run in the Sync process log (trigger `resync`): once finished, "
                              "`updated` counts the records sent again (missing or different in the program) and "
                              "`skipped` those found the same. The pushes it queues run with trigger `resync` too.")


@router.post("/connections/{connection_id}/resync", status_code=202,
             summary="Re-check a period against the program and send again what is missing or different")
async def resync_period(connection: ConnectionDep, connector: ConnectorDep, body: ResyncRequest,
                        session: SessionDep, connectors: ConnectorsDep, bell: BellDep) -> ResyncQueued:
    """Every record of the period is read back from the program: found and as possync left it →
    untouched; deleted or voided there, or never made → sent again; changed there → the POS version is
    sent over it (a resync asks for the period to match the POS). Answers at once; a worker does it."""
    if body.end <= body.start:
        raise Problem(422, "`to` must be after `from`.",
                      errors=[{"path": "body.to", "message": "must be after from", "type": "value_error"}])
    if body.end - body.start > MAX_PERIOD:
        raise Problem(422, "A resync covers at most a year; split the period.",
                      errors=[{"path": "body.to", "message": "at most a year after from", "type": "value_error"}])
    if connection.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.PAUSED):
        raise Problem(409, f"The connection is {connection.status}: reconnect it before a resync.")
    types = body.entity_types or resyncable(connector, typed_settings(connectors, connection))
    run = await request_resync(session, connection=connection, start=body.start, end=body.end, entity_types=types)
    await session.commit()
    if bell is not None:
        await bell.ring_resync(connection.id, run.id)  # a job of its own, in slices (app.sync.resync)
    return ResyncQueued(run_id=run.id)
