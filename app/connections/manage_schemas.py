"""Shapes of the Manage answers: unmapped POS values, choices still to make, dry runs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class UnmappedValue(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "payment_type", "value": "Voucher", "setting": "payment_accounts", "records": 3,
        "entity_types": {"sale": 2, "shift_report": 1}}]})

    kind: Literal["payment_type", "tax_rate", "custom_line_kind", "setting"] = Field(
        description="What the POS value is.")
    value: str = Field(description="The POS value, as records carry it (a payment type's name…).")
    setting: str = Field(description="The settings mapping that lacks it: add `value` there.")
    records: int = Field(description="Records waiting on it.")
    entity_types: dict[str, int] = Field(description="Of those, how many per entity type.")


class UnmappedList(BaseModel):
    items: list[UnmappedValue] = Field(description="Unmapped values, the most waited-on first.")
