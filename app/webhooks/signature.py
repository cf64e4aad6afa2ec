"""The programs sign each delivery: base64 HMAC-SHA256 of the raw body with a shared secret."""

from __future__ import annotations

import base64
import hashlib
import hmac


def secrets_from(setting: str | None) -> list[bytes]:
    """The comma-separated secrets of a setting; several are valid at once while one is rotated."""
    return [item.strip().encode() for item in (setting or "").split(",") if item.strip()]


def is_signed(raw_body: bytes, signature: str | None, secrets: list[bytes]) -> bool:
    """True if `signature` is the body's signature under any of `secrets` (constant-time compare)."""
    if not signature or not secrets:
        return False
    given = signature.strip().encode()
    matched = False
    for secret in secrets:
        expected = base64.b64encode(hmac.new(secret, raw_body, hashlib.sha256).digest())
        # Every secret is compared, so the time taken does not tell which one matched.
        matched |= hmac.compare_digest(expected, given)
    return matched
