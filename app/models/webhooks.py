"""What the programs told us through their webhooks, kept once per event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Json, UtcDateTime, new_uuid, utcnow


class WebhookEvent(Base):
    """One change the program reported: stored before the delivery is acknowledged, processed later.

    `event_key` is the program's identity of the event (a CloudEvents id, or a digest of the fields
    that make a Xero or legacy QuickBooks event), so a delivery sent twice is kept once.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_key"),
        Index("ix_webhook_events_connection_id_processed_at", "connection_id", "processed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    provider: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(128))
    tenant_id: Mapped[str] = mapped_column(String(100))  # Xero tenant id / QuickBooks realm id
    # None when no connection holds the tenant (logged and kept, never processed).
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), default=None)
    object_kind: Mapped[str] = mapped_column(String(64))  # CONTACT, INVOICE, Customer, customer …
    object_id: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(32))  # UPDATE, Create, deleted …
    occurred_at: Mapped[str | None] = mapped_column(String(40), default=None)  # as the program wrote it
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
