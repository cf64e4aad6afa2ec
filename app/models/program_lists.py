from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Json, UtcDateTime, utcnow


class ProgramList(Base):
    """A copy of one of the organisation's lists (accounts, tax rates…), as last fetched."""

    __tablename__ = "program_lists"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    items: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
