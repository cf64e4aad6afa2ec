"""What an outside probe found, each written from its reproduction: every answer is a clear 4xx
problem or the documented success, never a 500."""

from __future__ import annotations

import base64
import json

import pytest
import structlog


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.fixture
async def synced(api):
    """A store with a sandbox connection and one synced customer."""
    connection_id = await api.connect_sandbox()
    assert (await api.put("/v1/customers/C-1001", {"first_name": "Ana"})).status_code == 201
    await api.settle()
    return connection_id


def assert_problem(response, status: int, path: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    if path is not None:
        assert any(e["path"] == path for e in body["errors"]), body
    return body


async def test_huge_id_cursors_are_422_not_overflow(api, synced):
    huge = "OTk5OTk5OTk5OTk5OTk5OTk5OTk"  # base64 of 99999999999999999999, as the probe sent it
    assert base64.b64decode(huge + "=") == b"99999999999999999999"
    assert_problem(await api.get("/v1/customers/C-1001/sync/logs", params={"cursor": huge}), 422, "query.cursor")
    assert_problem(await api.get(f"/v1/connections/{synced}/errors", params={"cursor": huge}), 422, "query.cursor")
    for bad in (b64("-5"), b64("0"), b64(str(2**63)), "%%%", b64("1|2")):
        assert_problem(await api.get("/v1/customers/C-1001/sync/logs", params={"cursor": bad}), 422)


async def test_run_cursors_with_naive_or_far_datetimes_are_422(api, synced):
    run_id = "00000000-0000-4000-8000-000000000000"
    for moment in ("2026-11-27T10:00:00", "9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59-14:00",
                   "0001-01-01T00:00:00+14:00", "not-a-date"):
        cursor = b64(f"{moment}|{run_id}")
        assert_problem(await api.get(f"/v1/connections/{synced}/runs", params={"cursor": cursor}), 422,
                       "query.cursor")
    assert_problem(await api.get(f"/v1/connections/{synced}/runs", params={"cursor": b64("2026-11-27T10:00:00+00:00|x")}),
                   422)
    fine = b64(f"2026-11-27T10:00:00+00:00|{run_id}")
    assert (await api.get(f"/v1/connections/{synced}/runs", params={"cursor": fine})).status_code == 200


async def test_since_at_the_edge_of_the_calendar_is_422(api, synced):
    for since in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-11-27T00:00:00"):
        assert_problem(await api.get(f"/v1/connections/{synced}/errors", params={"since": since}), 422,
                       "query.since")
    ok = await api.get(f"/v1/connections/{synced}/errors", params={"since": "2026-01-01T00:00:00Z"})
    assert ok.status_code == 200


async def test_an_unexpected_error_is_one_json_log_line_a_problem_and_a_closed_connection(
    api, monkeypatch, capsys
):
    from app.api import middleware
    from app.logging import configure_logging
    from app.records import service
    from app.settings import Settings

    configure_logging(Settings(POSSYNC_LOG_JSON=True))
    monkeypatch.setattr(middleware, "log", structlog.get_logger("test"))

    async def broken(**_kwargs):
        raise RuntimeError("database went away in an unexpected way")

    monkeypatch.setattr(service, "get_record", broken)
    capsys.readouterr()
    response = await api.get("/v1/customers/C-1")
    body = assert_problem(response, 500)
    assert "RuntimeError" not in body["detail"]
    assert response.headers["connection"] == "close"
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is JSON: no loose traceback lines
    (event,) = [e for e in events if e.get("event") == "unhandled_error"]
    assert "Traceback" in event["exception"] and "database went away" in event["exception"]
    assert event["path"] == "/v1/customers/C-1"


async def test_made_up_methods_do_not_grow_the_metrics(settings, deps):
    import httpx

    from app.main import create_app
    from app.observability import metrics

    app = create_app(settings.model_copy(update={"metrics_token": "m-token"}), deps)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://possync.test") as client:
        for i in range(50):
            response = await client.request(f"X{i}", f"/nope-{i}")
            assert response.status_code in (404, 405)
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        scraped = await client.get("/metrics", headers={"Authorization": "Bearer m-token"})
    assert scraped.status_code == 200
    samples = [s for family in metrics.REQUEST_SECONDS.collect() for s in family.samples]
    assert {s.labels["method"] for s in samples} <= metrics.KNOWN_METHODS | {"other"}
    assert not any("nope" in s.labels["route"] or s.labels["method"].startswith("X") for s in samples)
    assert 'method="other",route="unmatched"' in scraped.text
    assert 'method="GET",route="/healthz",status="200"' in scraped.text


async def test_an_unknown_collection_is_a_404_listing_the_collections(api):
    body = assert_problem(await api.get("/v1/custmers/C-1"), 404)
    for collection in ("customers", "suppliers", "products", "purchases", "sales", "shift-reports"):
        assert collection in body["detail"]
    assert_problem(await api.get("/v1/customers/C-1/nothing-here"), 404)


async def test_a_wrong_method_is_405_with_every_method_of_the_path(api):
    options = await api.request("OPTIONS", "/v1/connections")
    assert_problem(options, 405)
    assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    wrong = await api.request("PATCH", "/v1/customers/C-1")
    assert_problem(wrong, 405)
    assert set(wrong.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD", "PUT"}
    batch = await api.get("/v1/customers/batch")  # 'batch' is no POS id, and only POST takes this path
    assert batch.status_code in (404, 405, 422) and batch.status_code != 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_declared_json_is_415(api, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = await api.request("PUT", "/v1/customers/C-1", content=b'{"first_name": "Ana"}', headers=headers)
    body = assert_problem(response, 415)
    assert "application/json" in body["detail"]
    assert (await api.get("/v1/customers/C-1")).status_code == 404
    fine = await api.request("PUT", "/v1/customers/C-1", content=b'{"first_name": "Ana"}',
                             headers={"content-type": "application/json; charset=utf-8"})
    assert fine.status_code == 201


async def test_a_json_syntax_error_names_line_and_column(api):
    broken = b'{\n  "first_name": "Ana",\n  "last_name": Lopez\n}'
    response = await api.request("PUT", "/v1/customers/C-1", content=broken,
                                 headers={"content-type": "application/json"})
    body = assert_problem(response, 422)
    assert "line 3, column 16" in body["detail"], body["detail"]


@pytest.mark.parametrize("word", ["sync-status", "batch", "BATCH"])
async def test_route_words_cannot_become_ids(api, word):
    response = await api.put(f"/v1/customers/{word}", {"first_name": "Ana"})
    assert response.status_code in (404, 405, 422), response.text
    assert (await api.get(f"/v1/customers/{word}")).status_code != 200  # nothing was stored under it
    if word == "batch":
        assert response.status_code == 405 and response.headers["allow"] == "POST"
    batch = await api.post("/v1/customers/batch", {"items": [{"id": word, "first_name": "Ana"}]})
    assert batch.status_code == 200 and batch.json()["items"][0]["status"] == 422
    assert batch.json()["accepted"] == 0
