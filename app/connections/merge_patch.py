"""JSON merge patch (RFC 7396), the meaning of `PATCH /v1/connections/{id}/settings`.

Objects merge key by key, all the way down, so a shop saving one new tax code sends only that code;
`null` removes a key (a top-level setting goes back to its default); anything else (a string, a
list) replaces what was there. The RFC's own algorithm is a dozen lines, so it lives here rather
than in another dependency.
"""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with `patch` applied; neither argument is changed."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
