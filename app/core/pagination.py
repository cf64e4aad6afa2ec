"""Opaque cursors: the sort key of the last item of a page."""

from __future__ import annotations

import base64

from app.core.problem import Problem

MAX_LIMIT = 200


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
        raise Problem(422, "The cursor is not valid; use next_cursor from the previous page.")
    return values


def decode_id_cursor(cursor: str | None) -> int | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    try:
        return int(values[0])
    except ValueError as exc:
        raise Problem(422, "The cursor is not valid; use next_cursor from the previous page.") from exc
