from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, Json, UtcDateTime, utcnow


class Record(Base):
    """The POS's latest copy of one entity."""

    __tablename__ = "records"
    __table_args__ = (UniqueConstraint("store_id", "entity_type", "pos_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(32))
    pos_id: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set by DELETE: the record is gone from the POS; it keeps its history and panel.
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
