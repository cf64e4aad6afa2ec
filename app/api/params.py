"""Query parameters shared by the list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from app.core.pagination import MAX_LIMIT

CursorQuery = Annotated[str | None, Query(
    description="Opaque: the next_cursor of the previous page (other values are refused).",
    min_length=1, max_length=200)]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}.")]
