"""The list screens and the states beside the symbols: what a POS frontend builds on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, update

from app.db import transaction
from app.entities import ENTITY_TYPES
from app.models import Link, Record
from tests.conftest import new_store_key

SALE = ENTITY_TYPES["sale"].example


async def _count_statements(api, call):
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = api.deps.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = await call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, statements


async def _shop_with_sales(api, count: int = 50) -> str:
    connection_id = await api.connect_sandbox()
    for et in ("customer", "product", "shift_report"):
        example = ENTITY_TYPES[et].example
        assert (await api.put(f"/v1/{ENTITY_TYPES[et].collection}/{example['id']}", example)).status_code == 201
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    items = [dict(SALE, id=f"S-{i:03d}", number=f"{7000 + i}", date=(start + timedelta(hours=i)).isoformat())
             for i in range(count)]
    for item in items:  # one by one, so updated_at follows the order
        assert (await api.put(f"/v1/sales/{item['id']}", item)).status_code == 201
    await api.settle()
    return connection_id


async def test_a_list_screen_of_50_sales_with_symbols_and_states_is_one_request_and_one_query(api):
    await _shop_with_sales(api)
    response, statements = await _count_statements(api, lambda: api.get("/v1/sales", params={"limit": 50}))
    assert response.status_code == 200, response.text
    page = response.json()
    assert len(page["items"]) == 50 and page["next_cursor"] is None
    assert [line["id"] for line in page["items"]] == [f"S-{i:03d}" for i in reversed(range(50))]  # newest first
    assert all(line["symbol"] == "green" and line["state"] == "synced" for line in page["items"])
    assert all(line["connections"][0]["state"] == "synced" for line in page["items"])
    assert page["items"][0]["payload"]["number"] == "7049"
    reading_records = [s for s in statements if "records" in s.lower()]
    assert len(reading_records) == 1, reading_records  # lines and their states together: no N+1


async def test_cursor_pages_cover_the_list_once_newest_first(api):
    await _shop_with_sales(api, count=12)
    seen, cursor = [], None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/sales", params=params)).json()
        seen += [line["id"] for line in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"S-{i:03d}" for i in reversed(range(12))]
    other = {"Authorization": f"Bearer {await new_store_key(api.deps, 'Other')}"}
    first = (await api.get("/v1/sales", params={"limit": 5})).json()["next_cursor"]
    assert not first.isdigit() and "S-" not in first
    # Another store's cursor, or another collection's, is not a cursor here.
    assert (await api.client.get("/v1/sales", params={"cursor": first}, headers=other)).status_code == 422
    assert (await api.get("/v1/customers", params={"cursor": first})).status_code == 422
    assert (await api.get("/v1/sales", params={"cursor": "S-001"})).status_code == 422


async def test_list_filters_search_date_range_and_symbol(api):
    connection_id = await _shop_with_sales(api, count=10)
    assert (await api.put("/v1/customers/C-BAD", {"first_name": "Bo", "last_name": "Refused",
                                                  "email": "bo@invalid.example"})).status_code == 201
    await api.settle()
    found = (await api.get("/v1/sales", params={"q": "7003"})).json()["items"]
    assert [line["id"] for line in found] == ["S-003"]
    named = (await api.get("/v1/customers", params={"q": "refus"})).json()["items"]
    assert [line["id"] for line in named] == ["C-BAD"]
    ranged = await api.get("/v1/sales", params={"date_from": "2026-11-01T12:00:00+00:00",
                                                "date_to": "2026-11-01T15:00:00+01:00"})
    # 15:00+01:00 is 14:00 UTC, exclusive: S-005 (14:00 UTC) is out.
    assert [line["id"] for line in ranged.json()["items"]] == ["S-004", "S-003"]
    red = (await api.get("/v1/customers", params={"symbol": "red"})).json()["items"]
    assert [(line["id"], line["state"]) for line in red] == [("C-BAD", "failed")]
    green = (await api.get("/v1/customers", params={"symbol": "green"})).json()["items"]
    assert [line["id"] for line in green] == ["C-1001"]
    failed_here = await api.get("/v1/customers", params={"state": "failed", "connection_id": connection_id})
    assert [line["id"] for line in failed_here.json()["items"]] == ["C-BAD"]
    elsewhere = await api.get("/v1/customers", params={"state": "failed", "connection_id": str(uuid.uuid4())})
    assert elsewhere.json()["items"] == []
    since = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await api.get("/v1/sales", params={"updated_since": since})).json()["items"] == []
    assert (await api.get("/v1/customers", params={"date_from": "2026-01-01T00:00:00Z"})).status_code == 200
    assert (await api.get("/v1/sales", params={"updated_since": "2026-11-01T00:00:00"})).status_code == 422
    assert "date_from" not in str((await api.client.get("/openapi.json")).json()["paths"]["/v1/customers"])


async def test_sync_status_and_panel_say_the_state_beside_the_symbol(api):
    await api.connect_sandbox()
    await api.put("/v1/customers/C-OK", {"first_name": "Ana"})
    await api.put("/v1/customers/C-BAD", {"first_name": "Bo", "email": "bo@invalid.example"})
    await api.put("/v1/customers/C-WAIT", {"first_name": "Cy"})
    await api.settle()
    later = datetime.now(UTC) + timedelta(minutes=5)
    async with transaction(api.deps.sessions) as session:
        record_id = (await session.execute(
            Record.__table__.select().where(Record.pos_id == "C-WAIT"))).first().id
        await session.execute(update(Link).where(Link.record_id == record_id)
                              .values(state="pending", retries=2, next_attempt_at=later))
    status = (await api.get("/v1/customers/sync-status", params={"ids": "C-OK,C-BAD,C-WAIT,C-NOPE"})).json()
    by_id = {item["id"]: item for item in status["items"]}
    assert (by_id["C-OK"]["symbol"], by_id["C-OK"]["state"]) == ("green", "synced")
    assert (by_id["C-BAD"]["symbol"], by_id["C-BAD"]["state"]) == ("red", "failed")
    assert (by_id["C-WAIT"]["symbol"], by_id["C-WAIT"]["state"], by_id["C-WAIT"]["retries"]) == ("red", "pending", 2)
    assert datetime.fromisoformat(by_id["C-WAIT"]["next_attempt_at"]) == later.replace(microsecond=later.microsecond)
    assert (by_id["C-NOPE"]["symbol"], by_id["C-NOPE"]["state"]) == ("none", "unknown")
    panel = (await api.get("/v1/customers/C-WAIT/sync")).json()
    assert panel["state"] == "pending" and panel["connections"][0]["retries"] == 2
    assert panel["connections"][0]["next_attempt_at"] is not None


async def test_sync_status_refuses_an_empty_id_list_by_its_schema(api):
    for ids in ("", ",", " , "):
        response = await api.get("/v1/customers/sync-status", params={"ids": ids})
        assert response.status_code == 422 and response.json()["errors"][0]["path"] == "query.ids"


async def test_the_error_log_shows_what_fails_now_and_history_on_request(api):
    connection_id = await api.connect_sandbox()
    await api.put("/v1/customers/C-BAD", {"first_name": "Bo", "email": "bo@invalid.example"})
    await api.put("/v1/customers/C-FIXED", {"first_name": "Cy", "email": "cy@invalid.example"})
    await api.settle()
    await api.put("/v1/customers/C-FIXED", {"first_name": "Cy", "email": "cy@example.com"})
    await api.settle()
    now = (await api.get(f"/v1/connections/{connection_id}/errors")).json()["items"]
    assert [a["pos_id"] for a in now] == ["C-BAD"]
    history = (await api.get(f"/v1/connections/{connection_id}/errors", params={"history": "true"})).json()["items"]
    assert sorted(a["pos_id"] for a in history) == ["C-BAD", "C-FIXED"]


async def test_attempt_ids_and_cursors_count_nothing(api):
    other = await new_store_key(api.deps, "Busy neighbour")
    headers = {"Authorization": f"Bearer {other}"}
    await api.client.post("/v1/connections", json={"connector": "sandbox"}, headers=headers)
    for i in range(3):
        await api.client.put(f"/v1/customers/N-{i}", json={"first_name": "N"}, headers=headers)
    await api.connect_sandbox()
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await api.put("/v1/customers/C-1", {"first_name": "Ana B"})
    await api.settle()
    logs = (await api.get("/v1/customers/C-1/sync/logs", params={"limit": 1})).json()
    (attempt,) = logs["items"]
    assert not attempt["id"].isdigit() and len(attempt["id"]) == 22
    assert logs["next_cursor"] and not logs["next_cursor"].isdigit()
    import base64

    assert not base64.urlsafe_b64decode(logs["next_cursor"] + "==").isdigit()
    rest = (await api.get("/v1/customers/C-1/sync/logs", params={"cursor": logs["next_cursor"]})).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["id"] != attempt["id"]
