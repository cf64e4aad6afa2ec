"""Opaque ids: the database's counters never reach a client.

Attempt and record ids are shared sequences across stores, so a raw id would tell one store how
much the others synced. Outside, an id is one AES block (kind marker + the number) encrypted with
a key derived from the service's secret: it reads as random, maps back only here, and a made-up
value fails the marker check (a 422 for a cursor, never a query). Ids change when the newest
POSSYNC_ENCRYPTION_KEYS key changes; cursors issued before then are refused like any stale one.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_FORMAT = ">4sI Q"  # kind marker, zero, the number


class OpaqueIds:
    def __init__(self, secret: bytes) -> None:
        key = hashlib.sha256(b"possync-opaque-ids\x00" + secret).digest()
        # One block of a keyed permutation: ECB is the point (no IV; equal ids give equal tokens).
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305

    def encode(self, kind: bytes, number: int) -> str:
        block = struct.pack(_FORMAT, kind, 0, number)
        encryptor = self._cipher.encryptor()
        return base64.urlsafe_b64encode(encryptor.update(block) + encryptor.finalize()).decode().rstrip("=")

    def decode(self, kind: bytes, token: str) -> int | None:
        """The number behind a token this service issued for `kind`, or None."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 16:
            return None
        decryptor = self._cipher.decryptor()
        marker, zero, number = struct.unpack(_FORMAT, decryptor.update(raw) + decryptor.finalize())
        if marker != kind or zero != 0 or not 0 < number < 2**63:
            return None
        return number


ATTEMPT = b"att1"
RECORD = b"rec1"
