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


def content_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
