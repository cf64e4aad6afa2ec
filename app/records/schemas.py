"""Response shapes of the records API; the panel, the status list and the list view are drawn by
POS screens, so their shapes are fixed (fields are only ever added)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Symbol = Literal["green", "red", "none"]
LinkStateName = Literal["synced", "pending", "failed", "skipped"]

SYMBOL_DOC = ("green: synced wherever it should be; red: not yet or refused; none: no program is set to "
              "take it.")
STATE_DOC = ("synced: in every program that should have it; pending: waiting for its (next) try; failed: "
             "refused, see the advice; skipped: no program is set to take it.")
NEXT_DOC = "When possync tries again (pending only)."
WAITS_DOC = ("Failed only because a POS value has no mapping yet: the setting to save, e.g. "
             "`payment_types.Store credit` or `tax_codes.GST 10%` (see GET /v1/connections/{id}/unmapped). The "
             "record stays red and `failed`, but nothing is wrong with it: saving that setting sends it again. "
             "Null for a record the program refused, and for every other state.")
RETRIES_DOC = "Consecutive tries that failed for a reason a retry may cure (pending only)."


class PanelConnection(BaseModel):
    connection_id: uuid.UUID = Field(description="The connection (Integrated Apps) this line is about.")
    connector: str = Field(description="The program: sandbox, xero or quickbooks.")
    state: LinkStateName = Field(description=STATE_DOC)
    status: Literal["created", "updated", "archived", "voided", "deleted"] | None = Field(
        description="What the last successful push did; archived / voided / deleted: the record was deleted in "
        "the POS (or a synced sale voided) and the program's object was undone accordingly.")
    error: str | None = Field(description="Why the last try failed, if it did.")
    advice: str | None = Field(description="What to change so it goes through.")
    last_sync: datetime | None = Field(description="When it last went through.")
    external_id: str | None = Field(description="Its id in the program.")
    next_attempt_at: datetime | None = Field(default=None, description=NEXT_DOC)
    retries: int | None = Field(default=None, description=RETRIES_DOC)
    program_change: str | None = Field(
        default=None, description="What was done to the object in the program since possync last sent it, as "
        "possync last read it back: updated, paid (a payment added there; not an error), voided, deleted, archived, "
        "merged (now linked to the surviving object); overwrite / recreate: SYNC NOW was pressed to send the POS "
        "version. Cleared by the next push that goes through.")
    program_changed_at: datetime | None = Field(default=None, description="When the program made that change.")
    waits_for: str | None = Field(default=None, description=WAITS_DOC)


class SyncPanel(BaseModel):
    symbol: Symbol = Field(description=SYMBOL_DOC)
    state: LinkStateName = Field(default="skipped", description="The most pressing state of the connections: "
                                 "failed, then pending, then synced. " + STATE_DOC)
    waits_for: str | None = Field(default=None, description=WAITS_DOC)
    connections: list[PanelConnection] = Field(description="One line per connected program.")


class RecordPublic(BaseModel):
    id: str = Field(description="The record's id in the POS.")
    entity_type: str = Field(description="customer, supplier, product, purchase_order, sale or shift_report.")
    payload: dict[str, Any] = Field(description="The record as stored (validated, normalised).")
    content_hash: str = Field(description="SHA-256 of the payload; an unchanged PUT keeps it.")
    created_at: datetime = Field(description="When possync first received it.")
    updated_at: datetime = Field(description="When its content last changed.")
    deleted_at: datetime | None = Field(default=None, description="Set once DELETE said the record is gone from the POS.")
    sync: SyncPanel = Field(description="Its Sync panel.")


class StatusItem(BaseModel):
    id: str = Field(description="The POS id asked about.")
    symbol: Symbol = Field(description=SYMBOL_DOC)
    state: Literal["synced", "pending", "failed", "skipped", "unknown"] = Field(
        description=STATE_DOC + " unknown: the store has no record with this id.")
    next_attempt_at: datetime | None = Field(default=None, description=NEXT_DOC)
    retries: int | None = Field(default=None, description=RETRIES_DOC)
    waits_for: str | None = Field(default=None, description=WAITS_DOC)


class StatusList(BaseModel):
    items: list[StatusItem] = Field(description="One item per id asked, in the order asked.")


class LineConnection(BaseModel):
    connection_id: uuid.UUID = Field(description="The connection.")
    connector: str = Field(description="The program: sandbox, xero or quickbooks.")
    state: LinkStateName = Field(description=STATE_DOC)
    waits_for: str | None = Field(default=None, description=WAITS_DOC)


class RecordLine(BaseModel):
    id: str = Field(description="The record's id in the POS.")
    payload: dict[str, Any] = Field(description="The record as stored, for the list's columns.")
    updated_at: datetime = Field(description="When its content last changed (the list's order, newest first).")
    symbol: Symbol = Field(description=SYMBOL_DOC)
    state: LinkStateName = Field(description=STATE_DOC)
    next_attempt_at: datetime | None = Field(default=None, description=NEXT_DOC)
    retries: int | None = Field(default=None, description=RETRIES_DOC)
    waits_for: str | None = Field(default=None, description=WAITS_DOC)
    connections: list[LineConnection] = Field(description="Its state in each connected program.")


class RecordPage(BaseModel):
    items: list[RecordLine] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class BatchItemResult(BaseModel):
    id: str | None = Field(description="The item's POS id (null if it had none).")
    status: int = Field(description="201 created, 200 updated or unchanged, 422 refused.")
    changed: bool | None = Field(default=None, description="Whether the content differed from what was stored.")
    errors: list[dict[str, str]] | None = Field(default=None, description="Why it was refused: path, message, type.")


class BatchResult(BaseModel):
    accepted: int = Field(description="Items stored.")
    refused: int = Field(description="Items refused (see their errors).")
    items: list[BatchItemResult] = Field(description="One result per item, in the order sent.")


class RunRef(BaseModel):
    run_id: uuid.UUID = Field(description="The run (see /v1/runs/{run_id}).")
    connection_id: uuid.UUID = Field(description="The connection it runs for.")


class SyncNowAccepted(BaseModel):
    run_id: uuid.UUID = Field(description="The first run started (one per connection).")
    runs: list[RunRef] = Field(description="Every run started.")
