"""Restrictions every accounting program shares, as reasons a record is not pushed.

Connectors call these from `skip_reason` so the POS sees the same words whatever the program.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.connectors.program_changes import WhenChangedInProgram
from app.connections.schedule import SyncSchedule
from app.entities import ENTITY_TYPES
from app.entities.common import Moment
from app.entities.registry import EntityTypeName

SalesMode = Literal["individual", "shift_totals"]
# Types whose records carry a moment (a sale's date, a shift's close): a change of the settings
# judges them by the settings in force at that moment, never backwards.
DATED_TYPES = ("sale", "shift_report")


class ModePeriod(BaseModel):
    """The sales mode and entity types in force from one moment on."""

    model_config = ConfigDict(extra="forbid")

    effective_from: Moment = Field(description="From when this period is in force.")
    sales_mode: SalesMode = Field(description="individual or shift_totals during this period.")
    entity_types: list[EntityTypeName] = Field(description="The entity types synced during this period.")


class CommonSettings(BaseModel):
    """Settings every connector has; connectors extend this model."""

    # A misspelt setting is refused with its name rather than silently ignored.
    model_config = ConfigDict(extra="forbid")

    entity_types: list[EntityTypeName] = Field(
        default_factory=lambda: list(ENTITY_TYPES), description="Which entity types this connection syncs."
    )
    sales_mode: SalesMode = Field(
        default="individual", description="Push each sale, or one summary per register shift."
    )
    effective_from: Moment | None = Field(
        default=None,
        description="When a change of `sales_mode` or of the sale / shift_report entity types takes effect; "
        "omitted: now. A future moment lets the switch happen at a shift boundary; a past one is refused "
        "(the books are never changed backwards). Not kept: the change is recorded in `mode_history`.",
    )
    when_changed_in_program: WhenChangedInProgram = Field(
        default_factory=WhenChangedInProgram,
        description="What the next push does with an object the bookkeeper changed in the program since possync "
        "last sent it, per kind of record (defaults: ask for documents, pos_wins for contacts and items).",
    )
    schedule: SyncSchedule = Field(
        default_factory=SyncSchedule,
        description="When this connection syncs: on every change (default), every N minutes, daily at a local "
        "time, or manual only. SYNC NOW works in every mode.",
    )
    mode_history: list[ModePeriod] = Field(
        default_factory=list,
        description="Read-only, kept by possync: the sales mode and entity types in force from each moment "
        "on. A sale is judged by the period in force at its shift's close (or at its date without a shift), "
        "a shift report by the period in force at its close.",
    )

    def periods(self) -> list[ModePeriod]:
        """The history, or (for settings stored before it existed) the current values since ever."""
        if self.mode_history:
            return self.mode_history
        return [ModePeriod(effective_from=EVER, sales_mode=self.sales_mode, entity_types=list(self.entity_types))]

    def in_force(self, moment: datetime) -> tuple[ModePeriod, bool]:
        """The period in force at `moment`, and whether it is the first one (in force since ever)."""
        periods = self.periods()
        current = periods[0]
        for period in periods[1:]:
            if period.effective_from <= moment:
                current = period
        return current, current is periods[0]


EVER = datetime(1970, 1, 1, tzinfo=UTC)


def syncs(entity_type: str, settings: CommonSettings) -> bool:
    """Whether any record of this type may go to the program.

    A dated type counts when any period of the history syncs it (a late sale dated while sales
    were on must still go); which of its records go is the engine's judgement (app.sync.coverage).
    """
    if entity_type in DATED_TYPES:
        return any(entity_type in p.entity_types for p in settings.periods())
    return entity_type in settings.entity_types


def common_skip_reason(entity_type: str, payload: dict[str, Any], settings: CommonSettings) -> str | None:
    """Reasons that depend on the record alone. Sales mode and on/off periods are judged by the
    engine (app.sync.coverage), which knows the shift's close and what already reached the program."""
    if entity_type == "sale":
        if payload.get("status") == "voided":
            return "Voided sales are not synced."
        if payload.get("status") == "parked":
            return "Parked sales are synced once they are completed."
    if entity_type == "purchase_order" and payload.get("status") != "received":
        return "Purchase orders are synced once they are received."
    return None


def negative_payment_totals(payload: dict[str, Any]) -> list[str]:
    """Payment types whose shift total is negative (programs' APIs refuse such payments)."""
    return [
        t["payment_type"] for t in payload.get("totals_by_payment_type", []) if Decimal(str(t["amount"])) < 0
    ]


def display_name(entity_type: str, payload: dict[str, Any]) -> str | None:
    """The name a program shows for a customer or supplier, or None when there is none."""
    if entity_type == "customer":
        person = " ".join(p for p in (payload.get("first_name"), payload.get("last_name")) if p)
        return payload.get("company_name") or person or None
    if entity_type == "supplier":
        person = " ".join(p for p in (payload.get("contact_first_name"), payload.get("contact_last_name")) if p)
        return payload.get("name") or person or None
    return None
