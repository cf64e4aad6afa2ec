"""What `PATCH /v1/connections/{id}/settings` does to the current settings.

A mapping setting (a dict keyed by POS values: tax codes, payment types, custom lines, accounts by
payment type) is merged as a JSON merge patch (RFC 7396) at every depth, so a shop saving one new
tax code sends only that code and a payment type's one field keeps its others. Any other setting is
one value and is replaced whole: the schedule (`{"mode": "on_change"}` must not keep the daily time
of the mode it leaves), `when_changed_in_program`, lists, plain values. `null` removes a key: a
mapping entry, or a whole setting, which goes back to its default. The RFC's algorithm is a dozen
lines, so it lives here rather than in another dependency.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel


def merge_settings(model: type[BaseModel], current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The settings `current` with `patch` applied as PATCH does; neither argument is changed."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and _is_mapping(model, key):
            merged[key] = merge_patch(merged.get(key), value)
        else:
            merged[key] = value  # an unknown key is kept, so validation refuses it by name
    return merged


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: `target` with `patch` applied; neither argument is changed."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _is_mapping(model: type[BaseModel], key: str) -> bool:
    field = model.model_fields.get(key)
    if field is None:
        return False
    annotation = field.annotation
    candidates = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, _UnionType) else (annotation,)
    return any(typing.get_origin(c) is dict for c in candidates)


_UnionType = type(int | None)
