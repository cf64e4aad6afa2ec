"""Validated payload → stored JSON and its content hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from app.entities.common import EntitySchema


def stored_payload(model: EntitySchema, pos_id: str) -> dict[str, Any]:
    payload = model.model_dump(mode="json", exclude_none=True)
    payload["id"] = pos_id
    return payload


def canonical_json(payload: dict[str, Any]) -> str:
    """One text per content (keys sorted, no spaces): what the hash is taken over, and what a batch
    write sends to PostgreSQL as the payload (app.sync.bulk)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()

