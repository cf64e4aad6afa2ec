"""Shapes of the Manage answers: unmapped POS values, choices still to make, dry runs."""

from __future__ import annotations

import uuid
from typing import Any, Literal

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


class PreviewProblem(BaseModel):
    code: str = Field(description="Stable code: not_synced, skipped, unbalanced, dependency_missing, a mapping's "
                      "*_unmapped, no_preview, or the code of the last try's failure.")
    message: str = Field(description="What is wrong.")
    advice: str | None = Field(default=None, description="What to do about it.")
    setting: str | None = Field(default=None, description="The setting to fill (`field.key`), when one is missing.")
    reference: dict[str, str] | None = Field(default=None, description="The record it refers to that is missing "
                                             "(`entity_type`, `id`), for dependency_missing.")
    source: Literal["preview", "last_try"] = Field(default="preview", description="preview: found now; last_try: "
                                                   "what the program or possync said at the last try.")


class ConnectionPreview(BaseModel):
    connection_id: uuid.UUID = Field(description="The connection.")
    connector: str = Field(description="The program: sandbox, xero or quickbooks.")
    action: Literal["create", "update", "skip"] = Field(description="What SYNC NOW would ask the program to do.")
    document: dict[str, Any] | None = Field(description="What possync would send: `endpoint` (the program's "
                                            "collection or object), `body`, and for Xero the `payments` that follow; "
                                            "null when the record cannot be translated (see problems).")
    problems: list[PreviewProblem] = Field(description="What possync already knows would hold it back or fail it.")


class SyncPreview(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "SALE-5001", "entity_type": "sale", "connections": [{
            "connection_id": "0b7e7d3c-2a47-4d6e-9a55-3f1f6f0c7a10", "connector": "xero", "action": "create",
            "document": {"endpoint": "Invoices", "body": {"Type": "ACCREC", "InvoiceNumber": "POS-5001"},
                         "payments": [{"Account": {"Code": "091"}, "Amount": 44.0}]},
            "problems": []}]}]})

    id: str = Field(description="The record's POS id.")
    entity_type: str = Field(description="Its entity type.")
    connections: list[ConnectionPreview] = Field(description="One entry per connection of the store.")


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connection_id: uuid.UUID | None = Field(default=None, description="Only this connection; default: every one.")
