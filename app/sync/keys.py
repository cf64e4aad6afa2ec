"""Idempotency keys: the same for a retry of the same content, different after any change."""

from __future__ import annotations

import hashlib


def idempotency_key(connection_id: str, entity_type: str, pos_id: str, content_hash: str) -> str:
    # 36 hex characters fit every program's limit (QuickBooks batch requestid ≤ 36, Xero ≤ 128).
    raw = f"{connection_id}|{entity_type}|{pos_id}|{content_hash}".encode()
    return hashlib.sha256(raw).hexdigest()[:36]
