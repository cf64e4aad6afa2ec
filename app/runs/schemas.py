"""Response shapes of the Sync process log (runs) and of the tries behind the Error log and REFRESH LOGS."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class RunPublic(BaseModel):
    id: uuid.UUID = Field(description="The run's id.")
    connection_id: uuid.UUID = Field(description="The connection it ran for.")
    trigger: str = Field(description="What started it: schedule, sync_now, webhook (a pass over the programs' "
                         "webhook events and catch-up reads), manual, ingest or resync (a period re-checked).")
    status: Literal["queued", "running", "finished", "failed", "interrupted"] = Field(
        description="queued, running, finished, failed, or interrupted (its job died; counts so far).")
    error: str | None = Field(description="Why the run itself failed, if it did.")
    created: int = Field(description="Records created in the program.")
    updated: int = Field(description="Records updated in the program.")
    failed: int = Field(description="Records the program refused.")
    retried: int = Field(description="Records to try again later.")
    skipped: int = Field(description="Records not sent (by the settings or the rules).")
    calls: int = Field(description="Calls made to the program.")
    created_at: datetime = Field(description="When it was queued.")
    started_at: datetime | None = Field(description="When it started.")
    finished_at: datetime | None = Field(description="When it finished.")


class RunPage(BaseModel):
    items: list[RunPublic] = Field(description="Runs, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class AttemptPublic(BaseModel):
    id: str = Field(description="Opaque id of this try.")
    connection_id: uuid.UUID = Field(description="The connection it went through.")
    run_id: uuid.UUID | None = Field(description="The run it was part of.")
    entity_type: str = Field(description="customer, supplier, product, purchase_order, sale or shift_report.")
    pos_id: str = Field(description="The record's id in the POS.")
    outcome: Literal["created", "updated", "failed", "retry", "skipped", "archived", "voided", "deleted"] = Field(
        description="created/updated: went through; failed: refused; retry: will be tried again; skipped: not sent; "
        "archived/voided/deleted: the program's object was undone after a DELETE or a void.")
    external_id: str | None = Field(description="Its id in the program.")
    error_code: str | None = Field(description="A short code of the failure.")
    error: str | None = Field(description="What the program said.")
    advice: str | None = Field(description="What to change so it goes through.")
    http_status: int | None = Field(description="The program's HTTP status.")
    duration_ms: int = Field(description="How long the call took.")
    created_at: datetime = Field(description="When it was tried.")
    waits_for: str | None = Field(
        default=None, description="Error log: the setting this record still waits for (a POS value with no mapping "
        "yet, e.g. `payment_types.Store credit`): not the program's refusal; saving it sends the record again. "
        "Null once it is saved, and for a record the program refused.")


class AttemptPage(BaseModel):
    items: list[AttemptPublic] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
