"""Validated payload → stored JSON and its content hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from app.entities.common import EntitySchema


def stored_payload(model: EntitySchema, pos_id: str) -> dict[str, Any]:
    payload = model.model_dump(mode="json", exclude_none=True)
    payload["id"] = pos_id
    return payload


def canonical_json(payload: dict[str, Any]) -> str:
    """One text per content (keys sorted, no spaces, characters as they are): what the hash is
    taken over, and what a batch write sends to PostgreSQL as the payload (app.sync.bulk).

    Every stored hash was taken over the standard library's text, so the text must never change.
    orjson writes the same bytes for what a stored payload holds (strings, booleans, nulls, 64-bit
    integers, lists and objects with string keys; tests/test_canonical.py compares both over
    every character and each entity type) in a tenth of the time: a 1,000-customer batch spent 4.1
    of its 30 ms here. Anything orjson refuses (an integer beyond 64 bits, a non-string key) goes
    to the standard encoder, as before. Some floats would differ (1e-07 is written 1e-7, NaN null),
    but no stored field is a float: amounts are decimals, stored as text.
    """
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()
