from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement

from app.models.base import Base, BigId, Json, UtcDateTime, utcnow


# A sale's shift id as each database spells it, the key written out: a database uses an expression
# index only for the very expression it was built on, and a bound key never matches it.
SHIFT_ID_SQL = {"postgresql": "payload ->> 'shift_id'", "sqlite": "json_extract(payload, '$.shift_id')"}
# Written out, not bound: only then may a generic plan use the index, which holds sales alone.
SALE = literal_column("'sale'")


class ShiftId(FunctionElement):
    """`records.payload`'s shift id, in the form the index on it (ix_records_sale_shift) was built on."""

    type = String()
    inherit_cache = True


@compiles(ShiftId, "postgresql")
def _shift_id_postgresql(element, compiler, **kw) -> str:
    return f"(records.{SHIFT_ID_SQL['postgresql']})"


@compiles(ShiftId)
def _shift_id_sqlite(element, compiler, **kw) -> str:
    return SHIFT_ID_SQL["sqlite"].replace("payload", "records.payload")


class Record(Base):
    """The POS's latest copy of one entity."""

    __tablename__ = "records"
    # Also indexed (migration 0019, not declared here: its expression differs by database): sales by
    # store and shift id (`ShiftId`), which a sale batch's coverage looks up (app.sync.coverage).
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
