"""A batch's items checked in one pass: ids first, then one pydantic validation of the whole list.

Validating item by item cost a call into pydantic-core per item plus one `model_dump` per item;
one `TypeAdapter` over the list does both in a single call each. When some items are invalid,
the list's errors name them by position: those are refused, and the rest go through the same
one pass again without them (so a batch with a few bad items costs two passes, not one per item).

`check_body` goes first: the request's bytes straight into the models in one `validate_json` call
(no `json.loads`, no walk over the parsed dicts). It answers only a batch whose every item is valid
with a distinct id; anything else (bad JSON, a bad envelope, one bad item) returns None, and the
caller takes the parsed route, whose refusals name each item.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError, create_model

from app.core.problem import field_errors
from app.records.schemas import BatchItemResult


@cache
def _list_adapter(schema) -> TypeAdapter:
    return TypeAdapter(list[schema])


@cache
def _envelope_adapter(schema) -> TypeAdapter:
    # Extra keys beside "items" are ignored, as the parsed route ignores them.
    envelope = create_model(f"{schema.__name__}Batch", __base__=BaseModel, items=(list[schema], ...))
    return TypeAdapter(envelope)


def check_body(schema, body: bytes, max_items: int) -> dict[str, dict[str, Any]] | None:
    """The stored payloads by POS id (in the order sent) when every item of the body is valid and
    has its own id; None when anything needs the item-by-item answer of `check_items`."""
    if not body:
        return None
    try:
        models = _envelope_adapter(schema).validate_json(body).items
    except ValueError:  # ValidationError, including JSON that does not parse
        return None
    if not 1 <= len(models) <= max_items:
        return None
    ids = [model.id for model in models]
    if None in ids or len(set(ids)) != len(ids):
        return None
    dumped = _list_adapter(schema).dump_python(models, mode="json", exclude_none=True)
    return dict(zip(ids, dumped, strict=True))


def check_items(schema, items: list[Any]) -> tuple[dict[str, dict[str, Any]], dict[int, BatchItemResult]]:
    """The valid items' stored payloads by POS id (in the order sent), and a refusal per other position."""
    refusals: dict[int, BatchItemResult] = {}
    positions: dict[str, int] = {}
    for position, item in enumerate(items):
        item_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(item_id, str) or not item_id:
            refusals[position] = BatchItemResult(id=None, status=422, errors=[
                {"path": "id", "message": "each item needs its POS id in 'id'", "type": "missing"}])
        elif item_id in positions:
            refusals[position] = BatchItemResult(id=item_id, status=422, errors=[
                {"path": "id", "message": "this id appears more than once in the batch", "type": "duplicate"}])
        else:
            positions[item_id] = position
    adapter = _list_adapter(schema)
    while positions:
        candidates = list(positions.items())
        try:
            models = adapter.validate_python([items[p] for _i, p in candidates])
        except ValidationError as exc:
            by_index: dict[int, list] = defaultdict(list)
            for error in exc.errors():
                by_index[error["loc"][0]].append({**error, "loc": error["loc"][1:]})
            for index, errors in by_index.items():
                item_id, position = candidates[index]
                refusals[position] = BatchItemResult(id=item_id, status=422, errors=field_errors(errors))
                del positions[item_id]
            continue
        dumped = adapter.dump_python(models, mode="json", exclude_none=True)
        payloads = {}
        for (item_id, _position), payload in zip(candidates, dumped, strict=True):
            payload["id"] = item_id
            payloads[item_id] = payload
        return payloads, refusals
    return {}, refusals
