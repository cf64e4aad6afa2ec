"""The canonical text every content hash is taken over must never change: orjson's text is compared
with the standard library's, which wrote every hash stored so far."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.entities import ENTITY_TYPES
from app.entities.canonical import canonical_json, stored_payload


def standard_text(payload) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def every_character() -> str:
    # Every code point but the surrogates, which a validated payload cannot hold (pydantic refuses
    # a JSON string with a lone one, and a pair arrives as the character it encodes).
    return "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)


def test_every_character_is_written_as_the_standard_library_writes_it():
    text = every_character()
    for start in range(0, len(text), 4096):
        chunk = text[start:start + 4096]
        payload = {"note": chunk, chunk[:8]: [chunk[-8:]]}  # in values and in keys
        assert canonical_json(payload) == standard_text(payload)


def stored_examples():
    """(entity type, stored payload) of every documented example, and of each sent again with its
    amounts as JSON numbers (the schema takes both)."""
    for et in ENTITY_TYPES.values():
        for example in [et.example, *(named["value"] for named in et.more_examples.values())]:
            model = et.schema.model_validate(example)
            yield et.name, stored_payload(model, example["id"])
            with_numbers = _decimals_as_floats(model.model_dump(exclude_none=True))
            yield et.name, stored_payload(et.schema.model_validate(with_numbers), example["id"])


def _decimals_as_floats(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _decimals_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decimals_as_floats(item) for item in value]
    return value


def test_each_entity_types_stored_payloads_give_the_standard_text():
    for name, payload in stored_examples():
        assert canonical_json(payload) == standard_text(payload), name


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_any_payload_of_strings_booleans_nulls_and_integers_gives_the_standard_text(payload):
    assert canonical_json(payload) == standard_text(payload)


def test_what_orjson_refuses_is_written_by_the_standard_library():
    payload = {"big": 2**70, "small": -(2**64), "list": [1, 2]}
    assert canonical_json(payload) == standard_text(payload)


def _floats(value) -> list:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [f for item in value for f in _floats(item)] if isinstance(value, list) else []


def test_no_stored_payload_holds_a_float():
    # orjson writes some floats otherwise (1e-7, not 1e-07; null for NaN): the canonical text is only the
    # standard one while stored payloads hold none. Amounts are decimals, stored as text, even
    # when the POS sent them as JSON numbers.
    checked = 0
    for name, payload in stored_examples():
        assert _floats(payload) == [], name
        checked += 1
    assert checked >= 2 * len(ENTITY_TYPES)
