"""The records API for every entity type: one code path, checked six times by parametrization."""

from __future__ import annotations

import copy

import pytest

from app.entities import ENTITY_TYPES
from tests.conftest import new_store_key

TYPES = list(ENTITY_TYPES.values())
IDS = [t.name for t in TYPES]


@pytest.mark.parametrize("et", TYPES, ids=IDS)
async def test_put_stores_and_get_returns_it(api, et):
    pos_id = et.example["id"]
    created = await api.put(f"/v1/{et.collection}/{pos_id}", et.example)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == pos_id and body["entity_type"] == et.name
    assert body["sync"] == {"symbol": "none", "state": "skipped", "waits_for": None, "connections": []}

    again = await api.put(f"/v1/{et.collection}/{pos_id}", et.example)
    assert again.status_code == 200
    assert again.json()["content_hash"] == body["content_hash"]

    fetched = await api.get(f"/v1/{et.collection}/{pos_id}")
    assert fetched.status_code == 200
    assert fetched.json()["payload"] == body["payload"]


@pytest.mark.parametrize("et", TYPES, ids=IDS)
async def test_body_id_differing_from_path_is_422(api, et):
    response = await api.put(f"/v1/{et.collection}/OTHER-1", et.example)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["path"] == "body.id"


@pytest.mark.parametrize("et", TYPES, ids=IDS)
async def test_invalid_payload_names_the_field(api, et):
    bad = copy.deepcopy(et.example)
    bad["unexpected_field"] = 1
    response = await api.put(f"/v1/{et.collection}/{et.example['id']}", bad)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] == "Unprocessable Entity"
    assert any(e["path"].endswith("unexpected_field") for e in problem["errors"])
    assert (await api.get(f"/v1/{et.collection}/{et.example['id']}")).status_code == 404


@pytest.mark.parametrize("et", TYPES, ids=IDS)
async def test_batch_stores_valid_items_and_reports_each(api, et):
    good = [dict(et.example, id=f"{et.name}-{i}") for i in range(3)]
    bad = dict(et.example, id="bad-1", unexpected_field=True)
    response = await api.post(f"/v1/{et.collection}/batch", {"items": [*good, bad, {"no": "id"}, good[0]]})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 3 and result["refused"] == 3
    statuses = [i["status"] for i in result["items"]]
    assert statuses == [201, 201, 201, 422, 422, 422]
    status = await api.get(f"/v1/{et.collection}/sync-status", params={"ids": f"{et.name}-0,{et.name}-2,bad-1"})
    assert [i["symbol"] for i in status.json()["items"]] == ["none", "none", "none"]
    assert (await api.get(f"/v1/{et.collection}/bad-1")).status_code == 404


async def test_limits_on_batch_size_and_status_ids(api):
    too_many = {"items": [{"id": f"C-{i}", "first_name": "x"} for i in range(1001)]}
    assert (await api.post("/v1/customers/batch", too_many)).status_code == 422
    ids = ",".join(f"C-{i}" for i in range(201))
    response = await api.get("/v1/customers/sync-status", params={"ids": ids})
    assert response.status_code == 422 and response.json()["errors"][0]["path"] == "query.ids"


async def test_auth_is_required_and_checked(client, api):
    assert (await client.get("/v1/customers/C-1")).status_code == 401
    wrong = await client.get("/v1/customers/C-1", headers={"Authorization": "Bearer ps_nope"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"


async def test_other_stores_records_are_not_found(api, deps):
    et = ENTITY_TYPES["customer"]
    assert (await api.put("/v1/customers/C-1001", et.example)).status_code == 201
    other = {"Authorization": f"Bearer {await new_store_key(deps, 'Other shop')}"}
    for path in ("/v1/customers/C-1001", "/v1/customers/C-1001/sync", "/v1/customers/C-1001/sync/logs"):
        assert (await api.client.get(path, headers=other)).status_code == 404
    assert (await api.client.post("/v1/customers/C-1001/sync", headers=other)).status_code == 404
    status = await api.client.get("/v1/customers/sync-status?ids=C-1001", headers=other)
    assert status.json()["items"] == [{"id": "C-1001", "symbol": "none", "state": "unknown", "next_attempt_at": None, "retries": None,
                                        "waits_for": None}]


async def test_bad_requests_never_500(api):
    assert (await api.put("/v1/nonsense/1", {})).status_code == 404
    malformed = await api.request("PUT", "/v1/customers/C-1", content=b"{not json",
                                  headers={"content-type": "application/json"})
    assert malformed.status_code == 422
    assert (await api.request("PUT", "/v1/customers/bad%20id", json={})).status_code == 422
    assert (await api.get("/v1/customers/C-1/sync/logs", params={"cursor": "%%%"})).status_code in (404, 422)
    huge = b'{"first_name": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    too_large = await api.request("PUT", "/v1/customers/C-1", content=huge, headers={"content-type": "application/json"})
    assert too_large.status_code == 413 and too_large.json()["status"] == 413
    deep = await api.put("/v1/sales/S-1", {"number": "1", "date": "not a date", "lines": []})
    assert deep.status_code == 422
    assert "body.date" in {e["path"] for e in deep.json()["errors"]}
    empty = await api.put("/v1/sales/S-1", {"number": "1", "date": "2026-11-27T10:00:00Z", "lines": []})
    assert empty.status_code == 422 and "at least one line" in empty.text


async def test_openapi_has_a_typed_route_and_example_per_collection(client):
    spec = (await client.get("/openapi.json")).json()
    for et in TYPES:
        put = spec["paths"][f"/v1/{et.collection}/{{pos_id}}"]["put"]
        body = put["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"].endswith(f"/{et.schema.__name__}")
        assert body["examples"]["example"]["value"]["id"] == et.example["id"]


async def test_health_endpoints(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    # Without POSSYNC_METRICS_TOKEN the API does not serve them (see test_api_probes for the token).
    assert (await client.get("/metrics")).status_code == 404


async def test_full_batch_with_many_connections_stays_within_driver_limits(api):
    import asyncio

    for _ in range(5):
        await api.connect_sandbox()
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001 - only the ingest is under test
    items = [{"id": f"C-{i}", "first_name": f"Customer {i}", "email": f"c{i}@example.com"} for i in range(1000)]
    response = await api.post("/v1/customers/batch", {"items": items})
    assert response.status_code == 200 and response.json()["accepted"] == 1000
    status = await api.get("/v1/customers/sync-status", params={"ids": "C-0,C-999"})
    assert [i["symbol"] for i in status.json()["items"]] == ["red", "red"]  # pending in five programs
