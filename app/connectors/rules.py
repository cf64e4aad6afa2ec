"""Restrictions every accounting program shares, as reasons a record is not pushed.

Connectors call these from `skip_reason` so the POS sees the same words whatever the program.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.entities import ENTITY_TYPES
from app.entities.registry import EntityTypeName

SalesMode = Literal["individual", "shift_totals"]


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


def syncs(entity_type: str, settings: CommonSettings) -> bool:
    return entity_type in settings.entity_types


def common_skip_reason(entity_type: str, payload: dict[str, Any], settings: CommonSettings) -> str | None:
    if entity_type == "sale":
        if settings.sales_mode == "shift_totals":
            shift = payload.get("shift_id")
            where = f"shift report {shift}" if shift else "its register shift report"
            return f"Covered by {where}: this connection syncs shift totals, not individual sales."
        if payload.get("status") == "voided":
            return "Voided sales are not synced."
        if payload.get("status") == "parked":
            return "Parked sales are synced once they are completed."
    if entity_type == "shift_report" and settings.sales_mode == "individual":
        return "This connection syncs individual sales; shift totals are not sent."
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
