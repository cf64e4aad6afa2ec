"""Query parameters shared by the list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from app.core.pagination import MAX_LIMIT

CursorQuery = Annotated[str | None, Query(
    description="Opaque: the next_cursor of the previous page (other values are refused).",
    min_length=1, max_length=200)]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}.")]


def time_query(description: str):
    """An RFC 3339 date-time with its offset, years 1970 to 8999, parsed by checked_time: the
    schema says exactly what is accepted (a bare number is no time, a naive time no instant)."""
    return Query(description=description + " RFC 3339 with a time zone, for example 2026-11-27T00:00:00Z.",
                 pattern=r"^(19[7-9][0-9]|[2-8][0-9]{3})-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                         r"([Zz]|[+-][0-9]{2}:[0-9]{2})$",
                 json_schema_extra={"format": "date-time"})
