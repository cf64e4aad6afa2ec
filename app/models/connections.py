from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Json, UtcDateTime, new_uuid, utcnow


class ConnectionStatus:
    AUTHORIZING = "authorizing"  # OAuth started, not finished
    CHOOSE_ORGANISATION = "choose_organisation"  # several organisations offered
    ACTIVE = "active"
    PAUSED = "paused"  # resumes by itself at paused_until (day limit)
    RECONNECT_REQUIRED = "reconnect_required"
    DISCONNECTED = "disconnected"


class Connection(Base):
    """One store linked to one organisation of one program."""

    __tablename__ = "connections"
    __table_args__ = (
        # The scheduler's tick: connections whose scheduled run is due.
        Index("ix_connections_next_run_at", "next_run_at", postgresql_where=text("next_run_at IS NOT NULL"),
              sqlite_where=text("next_run_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    connector: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default=ConnectionStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    paused_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    credentials_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    tenant_id: Mapped[str | None] = mapped_column(String(100), default=None)
    tenant_name: Mapped[str | None] = mapped_column(String(255), default=None)
    return_url: Mapped[str | None] = mapped_column(Text, default=None)
    # The OAuth state is single-use: the callback must present this nonce, which it then clears.
    oauth_nonce: Mapped[str | None] = mapped_column(String(64), default=None)
    # Organisations the program offered when there was more than one to choose from.
    offered_organisations: Mapped[list[dict[str, str]] | None] = mapped_column(Json, default=None)
    # Up to when the program's changes were read by the last catch-up pass (webhooks lost meanwhile).
    program_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Settings the organisation's own lists could not fill when it was connected:
    # [{"setting": "payment_accounts.Store credit", "reason": "…"}]; each goes once the shop saves it.
    needs_choice: Mapped[list[dict[str, str]] | None] = mapped_column(Json, default=None)
    # The next scheduled run (settings.schedule every_minutes / daily_at); None: rung on change or manual.
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
