from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connector: str = Field(description="`sandbox`, `xero` or `quickbooks`.", examples=["sandbox"])
    return_url: HttpUrl | None = Field(default=None, description="Where the browser goes after the OAuth consent.")
    settings: dict[str, Any] | None = Field(default=None, description="Initial sync settings; defaults otherwise.")


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(description="The organisation chosen among those the program offered.")


class OrganisationPublic(BaseModel):
    id: str
    name: str


class ConnectionPublic(BaseModel):
    id: uuid.UUID
    connector: str
    status: Literal["authorizing", "choose_organisation", "active", "paused", "reconnect_required", "disconnected"]
    status_reason: str | None
    paused_until: datetime | None
    tenant_id: str | None
    tenant_name: str | None
    settings: dict[str, Any]
    created_at: datetime
    authorize_url: str | None = None
    organisations: list[OrganisationPublic] | None = None


class ConnectionList(BaseModel):
    items: list[ConnectionPublic]


class RunPublic(BaseModel):
    id: uuid.UUID
    connection_id: uuid.UUID
    trigger: str
    status: Literal["queued", "running", "finished", "failed", "interrupted"]
    error: str | None
    created: int
    updated: int
    failed: int
    retried: int
    skipped: int
    calls: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunPage(BaseModel):
    items: list[RunPublic]
    next_cursor: str | None
