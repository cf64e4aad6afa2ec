"""Which document carries a sale's revenue on one connection: the sale itself or its shift's summary.

Each sale and shift report is judged by the sales mode and entity types in force at its moment
(a shift's close; a sale's shift's close, or the sale's date when it has no shift; an open shift
counts as closing now). What already reached the program wins over the mode, so a change of the
settings never counts revenue twice:

- a sale whose shift summary is in the program stays covered by it;
- a shift whose sales went to the program one by one stays skipped, and the rest of its sales
  follow them one by one;
- a record already in the program keeps being updated there;
- a shift summary waits while one of its sales is being pushed by another job (that push decides
  whether the shift went one by one); the sale's sync wakes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connectors.errors import TransientError
from app.connectors.rules import CommonSettings, ModePeriod
from app.models import Link, LinkState, Record
from app.models.records import SALE, ShiftId
from app.sync import bulk
from app.sync.claim import Claimed


@dataclass
class Coverage:
    skips: dict[int, str] = field(default_factory=dict)  # link id → why it is not to be pushed
    waits: dict[int, tuple[str, TransientError]] = field(default_factory=dict)  # link id → (awaited sale, why)


async def judge(
    sessions: async_sessionmaker[AsyncSession],
    *,
    store_id: uuid.UUID,
    connection_id: uuid.UUID,
    settings: Any,
    entity_type: str,
    items: list[Claimed],
) -> Coverage:
    """Which of these sales or shift reports are not to be pushed, and which must wait a moment."""
    coverage = Coverage()
    if entity_type not in ("sale", "shift_report") or not isinstance(settings, CommonSettings):
        return coverage
    now = datetime.now(UTC)
    if entity_type == "shift_report":
        shift_ids = {item.pos_id for item in items}
    else:
        shift_ids = {item.payload["shift_id"] for item in items if item.payload.get("shift_id")}
    async with sessions() as session:
        shifts = await _shifts(session, store_id, connection_id, shift_ids)
        went_one_by_one = await _shifts_with_sales_in_program(session, store_id, connection_id, shift_ids)
        in_flight = await _sales_in_flight(session, store_id, connection_id, shift_ids, now) if (
            entity_type == "shift_report") else {}
    for item in items:
        if item.external_id:
            continue  # in the program already: keep it up to date there
        if entity_type == "shift_report" and item.pos_id in in_flight and item.pos_id not in went_one_by_one:
            sale = in_flight[item.pos_id]
            coverage.waits[item.link_id] = (sale, TransientError(
                f"Waiting for sale {sale} of this shift, which is being synced right now.",
                code="dependency_pending",
                advice="Nothing to do: whether this summary is sent depends on how its sales went.",
            ))
            continue
        if entity_type == "shift_report":
            reason = _shift_reason(item, settings, went_one_by_one, now)
        else:
            reason = _sale_reason(item, settings, shifts, went_one_by_one, now)
        if reason:
            coverage.skips[item.link_id] = reason
    return coverage


def judged_at(entity_type: str, payload: dict[str, Any], shift_closes: Mapping[str, datetime | None],
              now: datetime) -> datetime:
    """The moment whose settings decide a sale or a shift report (the settings preview uses it too): a
    shift's close; a sale's shift's close (`shift_closes`: shift id → its close), or the sale's date
    when it has no shift; an open shift, or a sale's shift not received yet, counts as closing now."""
    if entity_type == "shift_report":
        return _moment(payload.get("closed_at")) or now
    shift_id = payload.get("shift_id")
    if shift_id:
        return shift_closes.get(shift_id) or now
    return _moment(payload.get("date")) or now


def _shift_reason(item: Claimed, settings: CommonSettings, went_one_by_one: set[str], now: datetime) -> str | None:
    if item.pos_id in went_one_by_one:
        return ("Not sent: sales of this shift already went to this program one by one; a summary "
                "would count their revenue twice. The rest of the shift's sales follow one by one.")
    moment = judged_at("shift_report", item.payload, {}, now)
    period, first = settings.in_force(moment)
    if "shift_report" not in period.entity_types:
        return f"Shift reports are turned off in this connection's sync settings{_since(period, first)}."
    if period.sales_mode == "individual":
        return f"This connection syncs individual sales{_since(period, first)}; shift totals are not sent."
    return None


def _sale_reason(item: Claimed, settings: CommonSettings, shifts: dict[str, tuple[datetime | None, bool]],
                 went_one_by_one: set[str], now: datetime) -> str | None:
    shift_id = item.payload.get("shift_id")
    _closed_at, summary_in_program = shifts.get(shift_id, (None, False)) if shift_id else (None, False)
    if summary_in_program:
        return f"Covered by shift report {shift_id}, whose summary is in this program."
    if shift_id in went_one_by_one:
        return None  # its shift goes sale by sale
    moment = judged_at("sale", item.payload, {pos_id: closed for pos_id, (closed, _in) in shifts.items()}, now)
    period, first = settings.in_force(moment)
    if "sale" not in period.entity_types:
        return f"Sales are turned off in this connection's sync settings{_since(period, first)}."
    if period.sales_mode == "shift_totals":
        where = f"shift report {shift_id}" if shift_id else "its register's shift report"
        return f"Covered by {where}: this connection syncs shift totals{_since(period, first)}, not individual sales."
    return None


def _since(period: ModePeriod, first: bool) -> str:
    if first:
        return ""
    return f" since {period.effective_from.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}"


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _shifts(session: AsyncSession, store_id, connection_id, shift_ids: set[str]) -> dict[str, tuple]:
    """shift id → (its close, whether its summary is in the program on this connection)."""
    if not shift_ids:
        return {}
    if session.bind.dialect.name == "postgresql":
        rows = await bulk.shift_reports(session, store_id=store_id, connection_id=connection_id,
                                        pos_ids=sorted(shift_ids))
    else:
        rows = (await session.execute(
            select(Record.pos_id, Record.payload, Link.external_id)
            .outerjoin(Link, and_(Link.record_id == Record.id, Link.connection_id == connection_id))
            .where(Record.store_id == store_id, Record.entity_type == "shift_report", Record.pos_id.in_(shift_ids))
        )).all()
    return {pos_id: (_moment(payload.get("closed_at")), external_id is not None)
            for pos_id, payload, external_id in rows}


async def _sales_in_flight(session: AsyncSession, store_id, connection_id, shift_ids: set[str], now) -> dict[str, str]:
    """shift id → a sale of it that a job holds right now and that is not in the program yet."""
    if not shift_ids:
        return {}
    rows = await session.execute(
        select(ShiftId(), Record.pos_id)
        .join(Link, and_(Link.record_id == Record.id, Link.connection_id == connection_id))
        .where(Record.store_id == store_id, Record.entity_type == SALE, ShiftId().in_(shift_ids),
               Link.external_id.is_(None), Link.state == LinkState.PENDING, Link.claimed_until > now)
    )
    return {shift_id: pos_id for shift_id, pos_id in rows.all()}


async def _shifts_with_sales_in_program(session: AsyncSession, store_id, connection_id, shift_ids: set[str]) -> set[str]:
    if not shift_ids:
        return set()
    return set((await session.scalars(shifts_with_sales_in_program(store_id, connection_id, shift_ids))).all())


def shifts_with_sales_in_program(store_id, connection_id, shift_ids: set[str]):
    """Which of these shifts have a sale in the program on this connection: a probe a shift, which
    stops at the first such sale (by the shift index, ix_records_sale_shift) instead of reading
    every sale of the shift, or of the shop."""
    probes = [
        select(literal(shift_id)).where(exists(
            select(Link.id).join(Record, Record.id == Link.record_id)
            .where(Record.store_id == store_id, Record.entity_type == SALE, ShiftId() == shift_id,
                   Link.connection_id == connection_id, Link.external_id.is_not(None))
        ))
        for shift_id in sorted(shift_ids)
    ]
    return union_all(*probes) if len(probes) > 1 else probes[0]
