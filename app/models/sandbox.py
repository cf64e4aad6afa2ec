"""The sandbox program's own storage: what a fake third party keeps on its side."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Json, UtcDateTime, utcnow


class SandboxObject(Base):
    __tablename__ = "sandbox_objects"
    __table_args__ = (UniqueConstraint("organisation_id", "kind", "reference"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the connection that owns it
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(100))  # the POS id, as a program keeps a number
    data: Mapped[dict[str, Any]] = mapped_column(Json)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SandboxRequest(Base):
    """Idempotency keys seen, and how often each was tried (for the [flaky] trigger)."""

    __tablename__ = "sandbox_requests"

    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    object_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_object: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
