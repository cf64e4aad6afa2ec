"""Batch ingest: one validation pass over the list, and (PostgreSQL) statements whose SQL text does
not depend on how many records the batch holds."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event, select

from app.entities import ENTITY_TYPES
from app.entities.canonical import canonical_json, hash_of, stored_payload
from app.models import Link, Record
import json

from app.records.batch import check_body, check_items


def test_check_items_refuses_by_position_and_keeps_the_rest():
    et = ENTITY_TYPES["customer"]
    items = [
        dict(et.example, id="A"),
        dict(et.example, id="B", unexpected_field=1),
        {"first_name": "no id"},
        dict(et.example, id="A"),
        dict(et.example, id="C", email=12),
        dict(et.example, id="D"),
    ]
    payloads, refusals = check_items(et.schema, items)
    assert list(payloads) == ["A", "D"]
    assert payloads["A"] == stored_payload(et.schema.model_validate(items[0]), "A")
    assert sorted(refusals) == [1, 2, 3, 4]
    assert refusals[1].id == "B" and [e["path"] for e in refusals[1].errors] == ["unexpected_field"]
    assert refusals[2].errors[0]["type"] == "missing"
    assert refusals[3].errors[0]["type"] == "duplicate"
    assert refusals[4].id == "C" and refusals[4].errors[0]["path"] == "email"


def test_check_items_with_nothing_valid():
    et = ENTITY_TYPES["customer"]
    payloads, refusals = check_items(et.schema, [dict(et.example, id="X", unexpected_field=1)])
    assert payloads == {} and list(refusals) == [0]


def test_check_body_reads_a_clean_batch_from_its_bytes_as_check_items_does():
    et = ENTITY_TYPES["sale"]
    items = [dict(et.example, id=f"S-{i}", note="café ☕") for i in range(3)]
    items[1]["lines"] = [dict(items[1]["lines"][0], quantity=2.5, unit_price=24.1)]
    body = json.dumps({"items": items, "ignored": True}, ensure_ascii=False).encode()
    expected, refusals = check_items(et.schema, items)
    assert not refusals
    assert check_body(et.schema, body, 1000) == expected
    assert list(check_body(et.schema, body, 1000)) == ["S-0", "S-1", "S-2"]


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b"{}", b'{"items": []}', b'{"items": [7]}',
    b'{"items": [{"first_name": "no id"}]}',
    b'{"items": [{"id": "A", "first_name": "a"}, {"id": "A", "first_name": "b"}]}',
    b'{"items": [{"id": "A", "first_name": "a", "unexpected_field": 1}]}',
    b'{"items": [{"id": "A", "first_name": "a"}, {"id": "B", "first_name": "b"}, {"id": "C", "first_name": "c"}]}',
], ids=["empty", "not json", "list", "no items", "no item", "not an object", "no id", "duplicate", "invalid",
        "too many"])
def test_check_body_leaves_anything_else_to_check_items(body):
    assert check_body(ENTITY_TYPES["customer"].schema, body, 2) is None


@contextlib.contextmanager
def statements(engine):
    seen: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many):
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


def _customers(prefix: str, count: int, **extra) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "first_name": f"Customer {i}", **extra} for i in range(count)]


@pytest.mark.postgres
async def test_batch_sql_is_the_same_whatever_the_batch_size(api):
    await api.connect_sandbox()
    api.deps.bell._sync = lambda *a: __import__("asyncio").sleep(0)  # noqa: SLF001 - only the writes are under test
    texts = []
    for prefix, count in (("S", 3), ("L", 40)):
        with statements(api.deps.engine) as seen:
            response = await api.post("/v1/customers/batch", {"items": _customers(prefix, count)})
        assert response.status_code == 200 and response.json()["accepted"] == count
        texts.append([s for s in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE"))])
    assert texts[0] and texts[0] == texts[1]
    assert any("unnest" in s for s in texts[0])


async def test_batch_stores_canonical_hash_and_links_on_both_databases(api):
    await api.connect_sandbox()
    api.deps.bell._sync = lambda *a: __import__("asyncio").sleep(0)  # noqa: SLF001 - only the writes are under test
    items = _customers("H", 5, email="h@example.com")
    first = (await api.post("/v1/customers/batch", {"items": items})).json()
    assert [i["status"] for i in first["items"]] == [201] * 5
    again = (await api.post("/v1/customers/batch", {"items": items})).json()
    assert [(i["status"], i["changed"]) for i in again["items"]] == [(200, False)] * 5
    items[2]["first_name"] = "Changed"
    third = (await api.post("/v1/customers/batch", {"items": items})).json()
    assert [i["changed"] for i in third["items"]] == [False, False, True, False, False]
    async with api.deps.sessions() as session:
        records = {r.pos_id: r for r in (await session.scalars(select(Record).where(Record.pos_id.like("H-%")))).all()}
        assert records["H-2"].payload["first_name"] == "Changed"
        for record in records.values():
            assert record.content_hash == hash_of(canonical_json(record.payload))
        links = (await session.scalars(select(Link).where(Link.record_id.in_([r.id for r in records.values()])))).all()
    assert len(links) == 5 and {link.state for link in links} == {"pending"}


@pytest.mark.postgres
async def test_a_batch_that_fails_midway_leaves_nothing_behind_and_can_be_sent_again(api, monkeypatch):
    from app.sync import ingest

    def broken(_payload):
        raise RuntimeError("hashing broke")

    items = [{"id": f"C-{i}", "first_name": "A"} for i in range(200)]
    monkeypatch.setattr(ingest, "canonical_json", broken)
    response = await api.post("/v1/customers/batch", {"items": items})
    assert response.status_code == 500
    assert api.deps.engine.sync_engine.pool.checkedout() == 0  # the session ended
    monkeypatch.undo()
    response = await api.post("/v1/customers/batch", {"items": items})
    assert response.status_code == 200 and {item["status"] for item in response.json()["items"]} == {201}


async def _answers(api, items) -> list[tuple[int, bool]]:
    response = await api.post("/v1/customers/batch", {"items": items})
    assert response.status_code == 200, response.text
    return [(i["status"], i["changed"]) for i in response.json()["items"]]


@pytest.mark.postgres
@pytest.mark.parametrize("mostly_new", [True, False], ids=["insert first", "look up first"])
async def test_both_ways_of_writing_a_batch_answer_and_store_alike(api, monkeypatch, mostly_new):
    from app.sync import ingest

    monkeypatch.setattr(ingest.LAST_BATCHES, "mostly_new", lambda *_: mostly_new)
    await api.connect_sandbox()
    api.deps.bell._sync = lambda *a: __import__("asyncio").sleep(0)  # noqa: SLF001 - only the writes are under test
    items = _customers("W", 4)
    assert await _answers(api, items) == [(201, True)] * 4
    assert await _answers(api, items) == [(200, False)] * 4
    assert (await api.request("DELETE", "/v1/customers/W-1")).status_code == 200
    items[3]["first_name"] = "Changed"
    # One unchanged, one back after its DELETE, one new, one changed.
    assert await _answers(api, [items[0], items[1], *_customers("X", 1), items[3]]) == [
        (200, False), (200, True), (201, True), (200, True)]
    async with api.deps.sessions() as session:
        records = {r.pos_id: r for r in (await session.scalars(select(Record).where(Record.store_id.in_(
            select(Record.store_id).where(Record.pos_id == "W-0"))))).all()}
        links = {link.record_id: link for link in (await session.scalars(select(Link))).all()}
    assert set(records) == {"W-0", "W-1", "W-2", "W-3", "X-0"}
    assert records["W-1"].deleted_at is None and records["W-3"].payload["first_name"] == "Changed"
    assert all(r.content_hash == hash_of(canonical_json(r.payload)) for r in records.values())
    assert {links[r.id].state for r in records.values()} == {"pending"}


@pytest.mark.postgres
async def test_a_batch_is_written_the_way_the_last_one_of_its_store_and_type_needed(api):
    def first_statement(seen: list[str]) -> str:
        return next(s for s in seen if s.lstrip().upper().startswith(("SELECT", "INSERT"))).lstrip().split()[0]

    for items, expected in ((_customers("N", 3), "SELECT"),  # nothing known yet: look up first
                            (_customers("M", 3), "INSERT"),  # the last batch was new
                            (_customers("M", 3), "INSERT"),  # a wrong guess: all of them were stored
                            (_customers("M", 3), "SELECT")):
        with statements(api.deps.engine) as seen:
            assert (await api.post("/v1/customers/batch", {"items": items})).status_code == 200
        assert first_statement([s for s in seen if "api_keys" not in s]) == expected
