"""The batch routes read their body themselves (validated from the raw bytes in one pass): every
malformed envelope still answers the project's one 422 problem shape, never a 500."""

from __future__ import annotations

import json

import pytest

from app.entities import ENTITY_TYPES

BAD_ENVELOPES = [
    ("not json", b'{"items": [', "json_invalid"),
    ("not UTF-8", b'{"items": [{"id": "C-1", "first_name": "\xff"}]}', "json_invalid"),
    ("a list", b"[]", None),
    ("no items", b"{}", None),
    ("items not a list", b'{"items": {"id": "C-1"}}', None),
    ("empty items", b'{"items": []}', None),
    ("an item not an object", b'{"items": [{"id": "C-1", "first_name": "A"}, 7]}', None),
    ("empty body", b"", None),
]


async def _raw_post(api, url: str, body: bytes):
    return await api.client.post(url, content=body,
                                 headers={**api.headers, "Content-Type": "application/json"})


@pytest.mark.parametrize(("body", "json_type"), [(b, t) for _n, b, t in BAD_ENVELOPES],
                         ids=[n for n, _b, _t in BAD_ENVELOPES])
async def test_a_bad_envelope_is_a_422_problem_and_stores_nothing(api, body, json_type):
    response = await _raw_post(api, "/v1/customers/batch", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["errors"]
    assert all(e["path"].startswith("body") for e in problem["errors"])
    if json_type:
        assert problem["errors"][0]["type"] == json_type
        assert "line 1, column" in problem["detail"]
    assert (await api.get("/v1/customers/C-1")).status_code == 404


async def test_the_answer_is_the_same_for_bytes_as_for_a_parsed_body(api):
    """Unicode text, numbers, and per-item refusals mixed with stored items."""
    et = ENTITY_TYPES["sale"]
    lines = [dict(et.example["lines"][0], quantity=2.5, unit_price=24.1, discount=0)]
    good = dict(et.example, id="S-1", note="café ☕ naïve", lines=lines)
    body = {"items": [good, dict(et.example, id="S-2", unexpected_field=1), {"no": "id"}]}
    response = await _raw_post(api, "/v1/sales/batch", json.dumps(body, ensure_ascii=False).encode())
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["refused"]) == (1, 2)
    assert [i["status"] for i in result["items"]] == [201, 422, 422]
    assert result["items"][0] == {"id": "S-1", "status": 201, "changed": True, "errors": None}
    assert result["items"][1]["id"] == "S-2"
    assert [e["path"] for e in result["items"][1]["errors"]] == ["unexpected_field"]
    stored = (await api.get("/v1/sales/S-1")).json()
    put = await api.put("/v1/sales/S-put", dict(good, id="S-put"))
    assert stored["content_hash"] and put.status_code == 201
    # Same content through PUT and through the batch: the same stored payload.
    assert {**stored["payload"], "id": None} == {**put.json()["payload"], "id": None}
    again = await _raw_post(api, "/v1/sales/batch", json.dumps({"items": [good]}).encode())
    assert again.json()["items"][0] == {"id": "S-1", "status": 200, "changed": False, "errors": None}


async def test_openapi_documents_the_batch_body(client):
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/v1/customers/batch"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["items"] and schema["properties"]["items"]["maxItems"] == 1000
