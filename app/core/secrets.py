"""Tokens at rest: MultiFernet so keys can rotate (newest first, older ones still decrypt)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.settings import Settings


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is needed")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
            self._newest = keys[0].strip().encode()
        except (ValueError, TypeError) as exc:
            raise ValueError("POSSYNC_ENCRYPTION_KEYS holds a value that is not a Fernet key") from exc

    def derive(self, purpose: str) -> bytes:
        """Key material for another use, derived from the newest key (never the key itself)."""
        import hashlib

        return hashlib.sha256(f"{purpose}\x00".encode() + self._newest).digest()

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data).encode()).decode()

    def open(self, token: str, *, ttl_s: int | None = None) -> dict[str, Any]:
        """Decrypt; with `ttl_s`, refuse a token sealed longer ago than that."""
        try:
            return json.loads(self._fernet.decrypt(token.encode(), ttl=ttl_s))
        except (InvalidToken, ValueError, TypeError) as exc:
            raise ValueError("stored secret cannot be decrypted with the configured keys") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt with the newest key."""
        return self._fernet.rotate(token.encode()).decode()


def secret_box(settings: Settings) -> SecretBox:
    if settings.encryption_keys:
        return SecretBox([k for k in settings.encryption_keys.split(",") if k.strip()])
    # Embedded mode only (Settings refuses this elsewhere): keep a generated key beside the DB file.
    db_path = settings.sqlite_path
    key_file = (db_path.parent if db_path else Path(".")) / "possync.key"
    if not key_file.exists():
        # Created 0600 in one step: never readable by others, not even between write and chmod.
        try:
            fd = os.open(key_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            fd = None  # another process made it first: read theirs
        if fd is not None:
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode())
    return SecretBox([key_file.read_text().strip()])
