"""Shapes of the Manage answers: unmapped POS values, choices still to make, dry runs."""

from __future__ import annotations

import uuid
from datetime import datetime
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


class EntityChanges(BaseModel):
    resent: int = Field(default=0, description="Records sent again (failed or skipped ones, and those waiting on a "
                        "mapping this change adds).")
    skipped: int = Field(default=0, description="Records no longer sent (their type turned off).")
    start_syncing: int = Field(default=0, description="Records this connection starts syncing (a type turned on).")


class ModeChange(BaseModel):
    effective_from: datetime = Field(description="From when the new sales mode or synced types apply.")
    sales_mode_before: str = Field(description="The sales mode in force now.")
    sales_mode_after: str = Field(description="The sales mode from `effective_from`.")
    will_sync: dict[str, list[str]] = Field(description="Per entity type, POS ids of stored records not yet in the "
                                            "program that would be sent under the new settings (at most 500 each).")
    will_skip: dict[str, list[str]] = Field(description="Per entity type, POS ids of stored records not yet in the "
                                            "program that would no longer be sent (at most 500 each).")
    counts: dict[str, int] = Field(description="Per entity type, how many records the change affects in all.")


class SettingsPreview(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "changed": ["sales_mode"], "refused": [],
        "by_entity_type": {"sale": {"resent": 0, "skipped": 0, "start_syncing": 0}},
        "sales_mode_change": {"effective_from": "2026-11-28T00:00:00Z", "sales_mode_before": "individual",
                              "sales_mode_after": "shift_totals", "will_sync": {"shift_report": ["SHIFT-6002"]},
                              "will_skip": {"sale": ["SALE-5101", "SALE-5102"]},
                              "counts": {"sale": 2, "shift_report": 1}}}]})

    changed: list[str] = Field(description="The settings the proposal changes.")
    refused: list[dict[str, Any]] = Field(description="Values the organisation's kept lists refuse (a save would "
                                          "answer 422 with these errors); empty when nothing is refused.")
    by_entity_type: dict[str, EntityChanges] = Field(description="Per entity type, what saving would do to its "
                                                     "records (types with no change are left out).")
    sales_mode_change: ModeChange | None = Field(description="For a change of the sales mode or of the synced sale / "
                                                 "shift report types: the records it affects; null otherwise.")
