"""A dry run of a settings change: what saving it would do to the connection's records, saving nothing.

The change is applied by the very code a save runs (app.sync.settings_change.apply_settings) inside a
transaction that is rolled back, and the links are compared before and after: so the preview cannot
drift from what a save does. A change of the sales mode (or of the synced sale / shift report types)
is judged further: which stored sales and shift reports not yet in the program would be sent, or
no longer sent, under the settings in force at their own moment.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.connections import program_lists, service
from app.connections.merge_patch import merge_settings
from app.connections.manage_schemas import EntityChanges, ModeChange, SettingsPreview
from app.connectors.base import Connector
from app.connectors.rules import DATED_TYPES, CommonSettings
from app.models import Connection, Link, LinkState, ProgramList, Record
from app.connections.access import ProgramAccess
from app.connections.settings_change import apply_settings
from app.sync.backfill_gate import locked_for_backfill
from app.sync.coverage import judged_at
from app.sync.setting_waits import changed_fields

MAX_IDS = 500  # record ids named per entity type; the counts are always complete


async def preview_settings(deps: ProgramAccess, connection: Connection, connector: Connector,
                           raw: dict[str, Any]) -> SettingsPreview:
    """What saving `raw` (read as PATCH reads it: mappings merged, other settings replaced) would change."""
    wanted = merge_settings(connector.settings_model, connection.settings or {}, raw)
    checked = service.validated_settings(connector, wanted)  # a 422 exactly as the save would answer
    refused = [error for _kind, error in program_lists.refusals(
        connector, checked, await _kept_lists(deps, connection))]
    async with deps.sessions() as session:
        async with session.begin():
            fresh = await locked_for_backfill(session, connection.id)
            before_settings = connector.settings_model.model_validate(fresh.settings or {})
            before = await _link_states(session, connection.id)
            await apply_settings(session, fresh, connector, wanted)
            await session.flush()
            after = await _link_states(session, connection.id)
            after_settings = connector.settings_model.model_validate(fresh.settings)
            mode = await _mode_change(session, fresh, before_settings, after_settings)
            await session.rollback()  # a preview: nothing of it is kept
    changes = changed_fields(before_settings.model_dump(mode="json"), after_settings.model_dump(mode="json"))
    return SettingsPreview(changed=sorted(changes), refused=refused, by_entity_type=_diff(before, after),
                           sales_mode_change=mode)


async def _kept_lists(deps: ProgramAccess, connection: Connection) -> dict[str, list[dict[str, Any]]]:
    """The kept copies of the program's lists (a preview never asks the program)."""
    async with deps.sessions() as session:
        rows = await session.scalars(select(ProgramList).where(ProgramList.connection_id == connection.id))
        return {row.kind: row.items for row in rows}


async def _link_states(session, connection_id) -> dict[int, tuple[str, str, bool]]:
    rows = await session.execute(
        select(Link.id, Link.entity_type, Link.state, Link.next_attempt_at).where(Link.connection_id == connection_id))
    now = datetime.now(UTC)
    return {link_id: (entity_type, state, due is not None and due <= now) for link_id, entity_type, state, due in rows}


def _diff(before: dict[int, tuple[str, str, bool]], after: dict[int, tuple[str, str, bool]]) -> dict[str, EntityChanges]:
    counts: dict[str, Counter] = {}
    for link_id, (entity_type, state, due) in after.items():
        old = before.get(link_id)
        if old is None:
            what = "start_syncing"
        elif state == LinkState.PENDING and (old[1] != LinkState.PENDING or (due and not old[2])):
            what = "resent"
        elif state == LinkState.SKIPPED and old[1] != LinkState.SKIPPED:
            what = "skipped"
        else:
            continue
        counts.setdefault(entity_type, Counter())[what] += 1
    return {t: EntityChanges(**c) for t, c in sorted(counts.items())}


async def _mode_change(session, connection: Connection, before: CommonSettings,
                       after: CommonSettings) -> ModeChange | None:
    old, new = before.periods()[-1], after.periods()[-1]
    asked_at = datetime.now(UTC)  # an open shift closes "now", as the engine judges it
    dated = lambda p: sorted(t for t in p.entity_types if t in DATED_TYPES)  # noqa: E731
    if old.sales_mode == new.sales_mode and dated(old) == dated(new):
        return None
    start = new.effective_from
    rows = (await session.execute(
        select(Record.entity_type, Record.pos_id, Record.payload, Record.deleted_at, Link.state)
        .outerjoin(Link, (Link.record_id == Record.id) & (Link.connection_id == connection.id))
        .where(Record.store_id == connection.store_id, Record.entity_type.in_(DATED_TYPES))
    )).all()
    # A sale is judged by its shift's close, as the engine judges it (app.sync.coverage.judged_at).
    closes = {pos_id: judged_at(entity_type, payload, {}, asked_at) if payload.get("closed_at") else None
              for entity_type, pos_id, payload, _deleted, _state in rows if entity_type == "shift_report"}
    will_sync: dict[str, list[str]] = {}
    will_skip: dict[str, list[str]] = {}
    for entity_type, pos_id, payload, deleted_at, state in rows:
        if state == LinkState.SYNCED or deleted_at is not None:
            continue  # what the books hold is never re-decided; a deleted record is not sent
        moment = judged_at(entity_type, payload, closes, asked_at)
        if moment < start:
            continue
        was, now = _goes(entity_type, before, moment), _goes(entity_type, after, moment)
        if was != now:
            (will_sync if now else will_skip).setdefault(entity_type, []).append(pos_id)
    return ModeChange(
        effective_from=start, sales_mode_before=before.sales_mode, sales_mode_after=after.sales_mode,
        will_sync={t: sorted(ids)[:MAX_IDS] for t, ids in will_sync.items()},
        will_skip={t: sorted(ids)[:MAX_IDS] for t, ids in will_skip.items()},
        counts={t: len(will_sync.get(t, [])) + len(will_skip.get(t, [])) for t in will_sync.keys() | will_skip.keys()},
    )


def _goes(entity_type: str, settings: CommonSettings, moment: datetime) -> bool:
    period, _first = settings.in_force(moment)
    mode = "individual" if entity_type == "sale" else "shift_totals"
    return entity_type in period.entity_types and period.sales_mode == mode


