"""What a change of a connection's sync settings does to its links.

A change of the sales mode or of the dated entity types (sales, shift reports) takes effect from a
moment (now, or a given future moment) and is kept in the settings' `mode_history`: records are
judged by the period in force at their own moment (see app.sync.coverage), so a change never
re-decides what the books already hold. Failed and skipped links of the types it syncs are tried
again (new account codes may be exactly what they waited for; the judgement keeps covered sales
skipped); undated types it no longer syncs are marked skipped, keeping their external ids so that
turning them back on updates the program's objects instead of duplicating them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors.base import Connector
from app.connectors.rules import DATED_TYPES, ModePeriod
from app.core.problem import Problem
from app.entities import ENTITY_TYPES
from app.models import Connection, Link, LinkState
from app.models.sync import FORGET_LOST_CALL
from app.models.base import utcnow
from app.connections.schedule import plan_next_run
from app.sync.backfill_gate import hold_for_backfill
from app.sync.ingest import backfill_links
from app.sync.setting_waits import changed_fields, changed_values, open_choices, wake_mapped

# A client's "now" reaches us a moment later; within this it still counts as now, not the past.
CLOCK_SKEW = timedelta(seconds=60)


async def apply_settings(session: AsyncSession, connection: Connection, connector: Connector, raw: dict) -> list[str]:
    """Store validated settings on the connection; return the entity types it now syncs.

    Raises a 422 Problem for a change dated in the past.
    """
    await hold_for_backfill(session, connection.store_id)
    before = connector.settings_model.model_validate(connection.settings or {})
    typed = connector.settings_model.model_validate(raw)
    before_json = before.model_dump(mode="json")
    changed = changed_fields(before_json, typed.model_dump(mode="json"))
    history = _history(before, typed, now=datetime.now(UTC))
    typed = typed.model_copy(update={"mode_history": history, "effective_from": None})
    connection.settings = typed.model_dump(mode="json")
    plan_next_run(connection, before.schedule, typed.schedule, utcnow())
    synced = [t for t in ENTITY_TYPES if connector.syncs(t, typed)]
    dropped = [t for t in ENTITY_TYPES if t not in synced]
    now = utcnow()
    # Keys added to a POS-value mapping (a payment type, a tax rate) concern only the records that
    # waited on them: those are woken below, and no other record is sent again.
    only_added = (bool(changed) and changed <= set(getattr(connector, "pos_mappings", {}))
                  and not changed_values(before_json, connection.settings, changed))
    if synced and not only_added:
        await session.execute(
            update(Link)
            .where(Link.connection_id == connection.id, Link.entity_type.in_(synced),
                   Link.state.in_([LinkState.FAILED, LinkState.SKIPPED]))
            .values(state=LinkState.PENDING, next_attempt_at=now, retries=0, updated_at=now, **FORGET_LOST_CALL)
        )
        await backfill_links(session, connection, synced)
    if dropped:
        await session.execute(
            update(Link)
            .where(Link.connection_id == connection.id, Link.entity_type.in_(dropped),
                   Link.state != LinkState.SKIPPED)
            .values(state=LinkState.SKIPPED, error_code="not_synced", error=None, updated_at=now,
                    advice="This type of record is turned off in this connection's sync settings.")
        )
    await wake_mapped(session, connection.id, connection.settings)
    connection.needs_choice = open_choices(connection.needs_choice, changed, connection.settings)
    return synced


def _history(before, after, *, now: datetime) -> list[ModePeriod]:
    """The periods after this change: earlier ones kept, later scheduled ones replaced."""
    periods = list(before.mode_history) or [
        ModePeriod(effective_from=now, sales_mode=before.sales_mode, entity_types=list(before.entity_types))
    ]
    wanted = ModePeriod(effective_from=now, sales_mode=after.sales_mode, entity_types=list(after.entity_types))
    last = periods[-1]
    if _same(last, wanted):
        if after.effective_from is not None and after.effective_from != last.effective_from:
            raise Problem(422, "effective_from is given but neither sales_mode nor the sale / shift_report "
                          "entity types change.",
                          errors=[{"path": "body.effective_from", "message": "nothing changes at this moment",
                                   "type": "no_change"}])
        return periods
    start = after.effective_from or now
    if start < now - CLOCK_SKEW:
        raise Problem(422, f"effective_from {start.isoformat()} is in the past: a change of the sales mode or of "
                      "the synced sale / shift report types applies from now or a future moment, never backwards.",
                      errors=[{"path": "body.effective_from", "message": "must not be in the past",
                               "type": "past_date"}])
    start = max(start, now)
    # A change supersedes what was scheduled after its own start.
    kept = [p for p in periods if p.effective_from < start] or periods[:1]
    return [*kept, wanted.model_copy(update={"effective_from": start})]


def _same(a: ModePeriod, b: ModePeriod) -> bool:
    dated = lambda p: sorted(t for t in p.entity_types if t in DATED_TYPES)  # noqa: E731
    return a.sales_mode == b.sales_mode and dated(a) == dated(b)


async def retry_failed(session: AsyncSession, connection: Connection, entity_type: str | None) -> int:
    now = utcnow()
    stmt = update(Link).where(Link.connection_id == connection.id, Link.state == LinkState.FAILED)
    if entity_type:
        stmt = stmt.where(Link.entity_type == entity_type)
    result = await session.execute(stmt.values(state=LinkState.PENDING, next_attempt_at=now, retries=0, updated_at=now,
                                                **FORGET_LOST_CALL))
    return result.rowcount or 0
