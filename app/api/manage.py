"""Integrated Apps → Manage: what waits on a mapping, the program's tracking list, dry runs of settings."""

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.api.deps import ConnectionDep, ConnectorDep, ConnectorsDep, ProgramAccessDep, SessionDep, StoreDep
from app.api.problems import PROBLEM_RESPONSES, Problem
from app.api import records as _records  # noqa: F401 - registers the pos_id path convertor first
from app.connections.manage_schemas import PreviewRequest, SettingsPreview, SyncPreview, UnmappedList, UnmappedValue
from app.connections.settings_preview import preview_settings
from app.entities import ENTITY_TYPES, EntityType
from app.entities.common import PosId
from app.records import preview
from app.records import service as records
from app.sync.setting_waits import waiting_records

router = APIRouter(prefix="/v1", tags=["Integrated Apps"], responses=PROBLEM_RESPONSES)


@router.get("/connections/{connection_id}/unmapped", summary="POS values no setting maps yet")
async def list_unmapped(connection: ConnectionDep, connector: ConnectorDep, session: SessionDep) -> UnmappedList:
    """Each payment type, tax rate and custom-line kind seen in records that its mapping lacks, with
    the records waiting on it. Saving the mapping sends exactly those records again."""
    kinds = getattr(connector, "pos_mappings", {})
    grouped: dict[tuple[str, str], UnmappedValue] = {}
    for wait in await waiting_records(session, connection.id):
        entry = grouped.setdefault((wait.setting, wait.key), UnmappedValue(
            kind=kinds.get(wait.setting, "setting"), value=wait.key, setting=wait.setting, records=0,
            entity_types={}))
        entry.records += wait.records
        entry.entity_types[wait.entity_type] = wait.records
    return UnmappedList(items=sorted(grouped.values(), key=lambda e: (-e.records, e.setting, e.value)))


PROPOSAL_EXAMPLES = {
    "shift_totals": {"summary": "switch to shift totals from tomorrow",
                     "value": {"sales_mode": "shift_totals", "effective_from": "2026-11-28T00:00:00Z"}},
    "types": {"summary": "stop syncing purchase orders",
              "value": {"entity_types": ["customer", "supplier", "product", "sale", "shift_report"]}},
}


@router.post("/connections/{connection_id}/settings/preview", summary="Dry run of a settings change")
async def settings_preview(connection: ConnectionDep, connector: ConnectorDep, session: SessionDep, access: ProgramAccessDep,
                           body: Annotated[dict, Body(openapi_examples=PROPOSAL_EXAMPLES)]) -> SettingsPreview:
    """What saving these settings (read as PATCH reads them: mappings merged, other settings replaced) would change: records
    sent again, no longer sent or starting to sync, per entity type; for a sales-mode change, the records
    it affects by id. Nothing is saved and the program is not asked."""
    await session.commit()  # the preview works in its own transaction
    return await preview_settings(access, connection, connector, body)


def build_preview_router() -> APIRouter:
    """`POST /v1/{collection}/{pos_id}/sync/preview` for every collection of the registry."""
    preview_router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
    for et in ENTITY_TYPES.values():
        _add_preview(preview_router, et)
    return preview_router


def _add_preview(preview_router: APIRouter, et: EntityType) -> None:
    noun = et.title.lower()
    PosIdHere = Annotated[PosId, Path(description="The record's id in the POS.", examples=[et.example["id"]])]

    async def sync_preview(pos_id: PosIdHere, store: StoreDep, session: SessionDep, connectors: ConnectorsDep,
                           body: Annotated[PreviewRequest | None, Body()] = None) -> SyncPreview:
        record = await records.get_record(session=session, store_id=store.id, entity_type=et.name, pos_id=pos_id)
        if record is None:
            raise Problem(404, f"No {noun} with id '{pos_id}'.")
        return await preview.sync_preview(session=session, connectors=connectors, record=record,
                                          connection_id=body.connection_id if body else None)

    preview_router.add_api_route(
        f"/{et.collection}/{{pos_id:pos_id}}/sync/preview", sync_preview, methods=["POST"], tags=[et.title + "s"],
        name=f"sync_preview_{et.name}",
        summary=f"Dry run of SYNC NOW: the document each program would get for this {noun}, and what stops it",
        description="Nothing is sent or saved: the connector's translation of the record with the connection's "
        "settings, and the problems possync already knows (a record it refers to that is not in the program yet, "
        "an unmapped payment type or tax rate, amounts that do not add up, the last try's refusal).")
