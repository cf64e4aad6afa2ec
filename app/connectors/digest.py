"""A digest of an object over the fields possync maps: what tells a real change in the program from
a moved version or clock.

The programs bump their version (QuickBooks' SyncToken) or time of change (Xero's UpdatedDateUTC)
for things that leave the books as possync made them: a payment taken against an invoice, a
contact flagged as a customer, possync's own update echoed back. A connector names, per kind of
object, the fields its mapping writes (`Fields`); the digest of the program's answer to a push is
kept on the link, and the digest of the object read back later is computed the same way, so only a
difference in those fields counts as "changed in the program".
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Union

# Field name → None (compare the value) or the fields to compare inside it (a dict, or each entry
# of a list).
Fields = dict[str, Union["Fields", None]]

_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def content_digest(element: dict[str, Any], fields: Fields) -> str:
    """sha256 over the named fields of `element`, in a form that ignores how the program spells
    numbers (1, 1.0, 1.00) and dates, and treats missing, null and empty alike."""
    projected = _project(element, fields)
    text = json.dumps(projected, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _project(value: Any, fields: Fields | None) -> Any:
    if fields is None:
        return _plain(value)
    if isinstance(value, list):
        return [_project(entry, fields) for entry in value] or None
    if not isinstance(value, dict):
        return None
    return {name: _project(value.get(name), inner) for name, inner in fields.items()}


def _plain(value: Any) -> Any:
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    return str(value)


def _number(value: Any) -> str:
    try:
        number = Decimal(str(value)).normalize()
    except InvalidOperation:
        return str(value)
    return "0" if number.is_zero() else format(number, "f")


def _text(value: str) -> str:
    text = value.strip()
    match = _MS_DATE.fullmatch(text)
    if match:  # Xero's JSON dates: the same moment as its ISO spelling
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if len(text) >= 19 and text[4] == "-" and text[10] == "T" and text.endswith(("Z", "+00:00")):
        return text.removesuffix("Z").removesuffix("+00:00")[:19]
    return text
