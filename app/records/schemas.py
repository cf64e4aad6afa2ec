"""Response shapes of the records API; the panel and the status list are drawn by POS screens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

Symbol = Literal["green", "red", "none"]


class PanelConnection(BaseModel):
    connection_id: uuid.UUID
    connector: str
    state: Literal["synced", "pending", "failed", "skipped"]
    # archived / voided / deleted: the record was deleted in the POS (or a synced sale voided) and the
    # program's object was undone accordingly.
    status: Literal["created", "updated", "archived", "voided", "deleted"] | None
    error: str | None
    advice: str | None
    last_sync: datetime | None
    external_id: str | None


class SyncPanel(BaseModel):
    symbol: Symbol
    connections: list[PanelConnection]


class RecordPublic(BaseModel):
    id: str
    entity_type: str
    payload: dict[str, Any]
    content_hash: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None  # set once DELETE said the record is gone from the POS
    sync: SyncPanel


class StatusItem(BaseModel):
    id: str
    symbol: Symbol


class StatusList(BaseModel):
    items: list[StatusItem]


class BatchItemResult(BaseModel):
    id: str | None
    status: int  # 201 created, 200 updated or unchanged, 422 refused
    changed: bool | None = None
    errors: list[dict[str, str]] | None = None


class BatchResult(BaseModel):
    accepted: int
    refused: int
    items: list[BatchItemResult]


class RunRef(BaseModel):
    run_id: uuid.UUID
    connection_id: uuid.UUID


class SyncNowAccepted(BaseModel):
    run_id: uuid.UUID
    runs: list[RunRef]


class AttemptPublic(BaseModel):
    id: int
    connection_id: uuid.UUID
    run_id: uuid.UUID | None
    entity_type: str
    pos_id: str
    outcome: Literal["created", "updated", "failed", "retry", "skipped", "archived", "voided", "deleted"]
    external_id: str | None
    error_code: str | None
    error: str | None
    advice: str | None
    http_status: int | None
    duration_ms: int
    created_at: datetime


class AttemptPage(BaseModel):
    items: list[AttemptPublic]
    next_cursor: str | None
