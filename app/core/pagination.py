"""Opaque cursors: the sort key of the last item of a page. Every value read back from a client is
checked here, so a made-up cursor is a 422 and never reaches the database."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from app.core.problem import Problem

MAX_LIMIT = 200
_MAX_ID = 2**63 - 1  # the largest id a BIGINT column holds
# Datetimes a client may send: far enough apart for any real use, and clear of the ends of
# Python's calendar, where converting to UTC overflows.
# The API documents query times as RFC 3339 with a year from 1970 to 8999 (app.api.params); any
# such time, whatever its offset, lands between these two.
_EARLIEST = datetime(1969, 12, 31, tzinfo=UTC)
_LATEST = datetime(9000, 1, 2, tzinfo=UTC)


def _bad_cursor(detail: str = "The cursor is not valid; use next_cursor from the previous page.") -> Problem:
    return Problem(422, detail, errors=[{"path": "query.cursor", "message": "not a cursor this API issued",
                                         "type": "cursor"}])


def encode_cursor(*parts: object) -> str:
    raw = "|".join(str(p) for p in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, parts: int = 1) -> list[str] | None:
    if not cursor:
        return None
    try:
        values = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        values = []
    if len(values) != parts:
        raise _bad_cursor()
    return values


def parse_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise _bad_cursor() from exc
    if not 0 < number <= _MAX_ID:
        raise _bad_cursor()
    return number


def decode_id_cursor(cursor: str | None) -> int | None:
    values = decode_cursor(cursor)
    return None if values is None else parse_id(values[0])


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise _bad_cursor() from exc


def parse_cursor_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _bad_cursor() from exc
    try:
        return checked_time(moment, "query.cursor")
    except Problem as exc:
        raise _bad_cursor() from exc


def checked_time(value: datetime | str | None, path: str) -> datetime | None:
    """A client's datetime as UTC: it must name its time zone and lie between 1970 and 9000."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError as exc:
            raise Problem(422, f"'{path.split('.')[-1]}' is not a date and time (RFC 3339, for example "
                               "2026-11-27T00:00:00Z).",
                          errors=[{"path": path, "message": "an RFC 3339 date-time", "type": "datetime"}]) from exc
    if value.tzinfo is None:
        raise Problem(422, f"'{path.split('.')[-1]}' needs a time zone (for example 2026-11-27T00:00:00Z).",
                      errors=[{"path": path, "message": "a time zone is required", "type": "timezone"}])
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not _EARLIEST <= moment < _LATEST:
        raise Problem(422, f"'{path.split('.')[-1]}' must lie between 1970 and 9000.",
                      errors=[{"path": path, "message": "between 1970-01-01 and 9000-01-01", "type": "range"}])
    return moment
