from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator


# The characters RFC 3986 allows in a URI: anything else (spaces, controls, non-ASCII) is refused
# rather than silently percent-encoded.
_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("return_url", mode="before")
    @classmethod
    def _uri_characters(cls, value):
        if isinstance(value, str) and not _URI_CHARS.match(value):
            raise ValueError("a URI (RFC 3986) has no spaces, control or non-ASCII characters")
        return value

    connector: str = Field(description="`sandbox`, `xero` or `quickbooks`.", examples=["sandbox"])
    return_url: HttpUrl | None = Field(default=None, description="Where the browser goes after the OAuth consent.")
    settings: dict[str, Any] | None = Field(default=None, description="Initial sync settings; defaults otherwise.")


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(description="The organisation chosen among those the program offered.")


class OrganisationPublic(BaseModel):
    id: str = Field(description="The organisation's id in the program (Xero tenant, QuickBooks realm).")
    name: str = Field(description="Its name.")


class ConnectionPublic(BaseModel):
    id: uuid.UUID = Field(description="The connection's id.")
    connector: str = Field(description="The program: sandbox, xero or quickbooks.")
    status: Literal["authorizing", "choose_organisation", "active", "paused", "reconnect_required", "disconnected"] = Field(description="authorizing: sign-in not finished; choose_organisation: pick one (PATCH tenant_id); active; paused: the program's day limit, resumes by itself; reconnect_required: sign in again; disconnected.")
    status_reason: str | None = Field(description="Why it is not active, and what to do.")
    paused_until: datetime | None = Field(description="When a paused connection resumes.")
    tenant_id: str | None = Field(description="The organisation it syncs with.")
    tenant_name: str | None = Field(description="That organisation's name.")
    settings: dict[str, Any] = Field(description="Its sync settings (see the settings schema of its connector).")
    created_at: datetime = Field(description="When it was made.")
    authorize_url: str | None = Field(default=None, description="Where to send the shop owner's browser to sign in (possync's start route); only right after creating or reconnecting.")
    organisations: list[OrganisationPublic] | None = Field(default=None, description="The organisations offered, when there is a choice to make.")


class ConnectionList(BaseModel):
    items: list[ConnectionPublic] = Field(description="The store's connections, oldest first.")


class ProgramEntryPublic(BaseModel):
    id: str = Field(description="What a setting holds: Xero's account code or TaxType, QuickBooks' Id.")
    name: str = Field(description="Its name in the program.")
    type: str = Field(description="Its type in the program's own words (Xero REVENUE, BANK…; QuickBooks Income, Bank…).")
    status: Literal["active", "archived"] = Field(description="archived: archived, deleted or inactive in the program; no setting may name it.")
    fills: list[str] = Field(description="The settings it may be chosen for (`field`, or `field.*` for each value of a mapping).")


class ProgramListPublic(BaseModel):
    items: list[ProgramEntryPublic] = Field(description="Every entry the program listed, active or not.")
    fetched_at: datetime = Field(description="When this copy was fetched from the program (`?refresh=true` fetches it again).")
