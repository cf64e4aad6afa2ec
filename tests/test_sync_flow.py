"""The whole flow against the sandbox, jobs in-process: what the POS screens see."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.entities import ENTITY_TYPES
from app.models import Attempt, Link, Run, SandboxObject


async def put_tour(api):
    """The examples in dependency order: the tour of the README."""
    for name in ("customer", "supplier", "product", "purchase_order", "sale", "shift_report"):
        et = ENTITY_TYPES[name]
        response = await api.put(f"/v1/{et.collection}/{et.example['id']}", et.example)
        assert response.status_code == 201, response.text


async def panel(api, collection, pos_id):
    response = await api.get(f"/v1/{collection}/{pos_id}/sync")
    assert response.status_code == 200
    return response.json()


async def test_every_entity_type_turns_green(api):
    connection_id = await api.connect_sandbox({"sales_mode": "individual"})
    await put_tour(api)
    await api.settle()
    for name, et in ENTITY_TYPES.items():
        body = await panel(api, et.collection, et.example["id"])
        (entry,) = body["connections"]
        assert entry["connection_id"] == connection_id
        if name == "shift_report":
            # Individual mode: the shift is not sent (symbol none), and the panel says why.
            assert body["symbol"] == "none" and entry["state"] == "skipped"
            assert "individual sales" in entry["advice"] or "one by one" in entry["advice"]
        else:
            assert body["symbol"] == "green", (name, body)
            assert entry["state"] == "synced" and entry["status"] == "created" and entry["external_id"]
            assert entry["last_sync"] is not None
    async with api.deps.sessions() as session:
        objects = (await session.scalars(select(SandboxObject))).all()
    assert sorted(o.kind for o in objects) == sorted(
        ["contact", "vendor", "item", "purchase_order", "sales_receipt"]
    )
    sale = next(o for o in objects if o.kind == "sales_receipt")
    customer = next(o for o in objects if o.kind == "contact")
    # The sale reached the program pointing at the customer's remote id.
    assert sale.data["references"]["customer:C-1001"] == customer.id


async def test_shift_totals_mode_skips_sales_and_sends_shifts(api):
    await api.connect_sandbox({"sales_mode": "shift_totals"})
    await put_tour(api)
    await api.settle()
    sale = await panel(api, "sales", "SALE-5001")
    assert sale["connections"][0]["state"] == "skipped"
    assert "SHIFT-6001" in sale["connections"][0]["advice"]
    shift = await panel(api, "shift-reports", "SHIFT-6001")
    assert shift["connections"][0]["state"] == "synced"


async def test_refused_record_shows_red_with_advice_then_green_after_fix(api):
    connection_id = await api.connect_sandbox()
    bad = {"first_name": "Bea", "email": "bea@invalid.example"}
    await api.put("/v1/customers/C-2", bad)
    await api.settle()
    body = await panel(api, "customers", "C-2")
    entry = body["connections"][0]
    assert body["symbol"] == "red" and entry["state"] == "failed"
    assert "invalid.example" in entry["advice"] and entry["error"]

    errors = (await api.get(f"/v1/connections/{connection_id}/errors")).json()["items"]
    assert [(e["pos_id"], e["outcome"], e["error_code"]) for e in errors] == [("C-2", "failed", "invalid_email")]
    filtered = await api.get(f"/v1/connections/{connection_id}/errors", params={"entity_type": "product"})
    assert filtered.json()["items"] == []

    await api.put("/v1/customers/C-2", {"first_name": "Bea", "email": "bea@example.com"})
    await api.settle()
    body = await panel(api, "customers", "C-2")
    assert body["symbol"] == "green" and body["connections"][0]["status"] == "created"
    assert body["connections"][0]["error"] is None

    await api.put("/v1/customers/C-2", {"first_name": "Bea", "last_name": "Stone", "email": "bea@example.com"})
    await api.settle()
    assert (await panel(api, "customers", "C-2"))["connections"][0]["status"] == "updated"


async def test_transient_failure_stays_pending_and_backs_off(api):
    await api.connect_sandbox()
    await api.put("/v1/products/P-9", {"sku": "FLAKY-1", "name": "Beans [flaky]"})
    await api.settle()
    entry = (await panel(api, "products", "P-9"))["connections"][0]
    assert entry["state"] == "pending" and "temporarily unavailable" in entry["error"]
    async with api.deps.sessions() as session:
        link = await session.scalar(select(Link))
    # Retry-After from the program (1 s) is a floor under the back-off.
    assert link.retries == 1 and (link.next_attempt_at - link.updated_at).total_seconds() >= 1.0


async def test_flaky_program_is_retried_until_it_works(api, monkeypatch):
    monkeypatch.setattr("app.sync.backoff.BASE_S", 0.0)  # retry at once instead of seconds later
    monkeypatch.setattr("app.connectors.sandbox.connector.RETRY_AFTER_S", 0.0)
    await api.connect_sandbox()
    await api.put("/v1/products/P-9", {"sku": "FLAKY-1", "name": "Beans [flaky]"})
    await api.settle()
    body = await panel(api, "products", "P-9")
    assert body["symbol"] == "green" and body["connections"][0]["status"] == "created"
    logs = (await api.get("/v1/products/P-9/sync/logs")).json()["items"]
    assert [a["outcome"] for a in logs] == ["created", "retry", "retry"]
    assert logs[1]["http_status"] == 503


async def test_sync_now_returns_a_run_that_counts_the_push(api):
    connection_id = await api.connect_sandbox()
    await api.put("/v1/customers/C-1001", ENTITY_TYPES["customer"].example)
    await api.settle()
    response = await api.post("/v1/customers/C-1001/sync")
    assert response.status_code == 202
    run_id = response.json()["run_id"]
    await api.settle()
    run = (await api.get(f"/v1/runs/{run_id}")).json()
    assert run["trigger"] == "sync_now" and run["status"] == "finished"
    assert run["connection_id"] == connection_id
    assert (run["created"], run["updated"], run["failed"]) == (0, 1, 0)
    runs = (await api.get(f"/v1/connections/{connection_id}/runs")).json()["items"]
    assert run_id in [r["id"] for r in runs]
    assert (await api.post("/v1/customers/NOPE/sync")).status_code == 404


async def test_sync_now_without_any_connection_is_409(api):
    await api.put("/v1/customers/C-1", {"first_name": "A"})
    response = await api.post("/v1/customers/C-1/sync")
    assert response.status_code == 409 and response.json()["status"] == 409


async def test_refresh_logs_paginates_newest_first(api):
    await api.connect_sandbox()
    for i in range(5):
        await api.put("/v1/customers/C-7", {"first_name": f"Name {i}"})
        await api.settle()
    first = (await api.get("/v1/customers/C-7/sync/logs", params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (await api.get("/v1/customers/C-7/sync/logs", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    items = first["items"] + second["items"]
    names = [a["created_at"] for a in items]  # ids are opaque: the order shows in the times
    assert names == sorted(names, reverse=True) and len({a["id"] for a in items}) == 4
    assert (await api.get("/v1/customers/C-7/sync/logs", params={"cursor": "bm9wZQ"})).status_code == 422


async def test_unchanged_record_causes_no_work(api):
    await api.connect_sandbox()
    example = ENTITY_TYPES["customer"].example
    await api.put("/v1/customers/C-1001", example)
    await api.settle()
    await api.put("/v1/customers/C-1001", example)
    await api.settle()
    async with api.deps.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Attempt)) == 1


async def test_sale_waits_for_a_customer_not_yet_received(api):
    await api.connect_sandbox()
    product = ENTITY_TYPES["product"].example
    await api.put(f"/v1/products/{product['id']}", product)
    await api.put("/v1/sales/SALE-5001", ENTITY_TYPES["sale"].example)
    await api.settle()
    entry = (await panel(api, "sales", "SALE-5001"))["connections"][0]
    # Red with advice naming what is missing, not a silent back-off.
    assert entry["state"] == "failed" and "C-1001" in entry["advice"]

    # The customer's arrival wakes the sale: no SYNC NOW needed.
    await api.put("/v1/customers/C-1001", ENTITY_TYPES["customer"].example)
    await api.settle()
    assert (await panel(api, "sales", "SALE-5001"))["symbol"] == "green"


async def test_connecting_later_backfills_existing_records(api):
    await put_tour(api)
    assert (await panel(api, "customers", "C-1001"))["symbol"] == "none"
    await api.connect_sandbox()
    await api.settle()
    status = await api.get("/v1/customers/sync-status", params={"ids": "C-1001"})
    assert [(i["id"], i["symbol"], i["state"]) for i in status.json()["items"]] == [("C-1001", "green", "synced")]


@pytest.mark.parametrize("status", ["voided", "parked"])
async def test_voided_and_parked_sales_are_skipped_with_reason(api, status):
    await api.connect_sandbox()
    sale = dict(ENTITY_TYPES["sale"].example, id="SALE-1", status=status, customer_id=None, lines=[
        {"product_id": "P-3001", "quantity": "1", "unit_price": "1"}], payments=[])
    await api.put("/v1/products/P-3001", ENTITY_TYPES["product"].example)
    await api.put("/v1/sales/SALE-1", sale)
    await api.settle()
    body = await panel(api, "sales", "SALE-1")
    entry = body["connections"][0]
    assert body["symbol"] == "none" and entry["state"] == "skipped" and status.capitalize() in entry["advice"]


async def test_one_attempt_per_push_and_run_counts_add_up(api):
    connection_id = await api.connect_sandbox()
    items = [{"id": f"C-{i}", "first_name": f"Customer {i}"} for i in range(120)]
    assert (await api.post("/v1/customers/batch", {"items": items})).json()["accepted"] == 120
    await api.settle()
    async with api.deps.sessions() as session:
        attempts = await session.scalar(select(func.count()).select_from(Attempt))
        synced = await session.scalar(select(func.count()).select_from(Link).where(Link.state == "synced"))
        objects = await session.scalar(select(func.count()).select_from(SandboxObject))
        runs = (await session.scalars(select(Run))).all()
    assert attempts == synced == objects == 120
    assert sum(r.created for r in runs) == 120 and all(r.status == "finished" for r in runs)
    assert all(str(r.connection_id) == connection_id for r in runs)


def _claims(engine):
    """The general claims (due pending links, SKIP LOCKED) sent while the context is open."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many):
        if "FOR UPDATE SKIP LOCKED" in statement and "links.next_attempt_at <=" in statement:
            seen.append(statement)

    return seen, note


async def test_sync_now_of_one_record_makes_no_empty_second_claim(api):
    from sqlalchemy import event

    await api.connect_sandbox()
    await api.put("/v1/customers/C-1001", ENTITY_TYPES["customer"].example)
    await api.settle()
    seen, note = _claims(api.deps.engine)
    event.listen(api.deps.engine.sync_engine, "before_cursor_execute", note)
    try:
        run_id = (await api.post("/v1/customers/C-1001/sync")).json()["run_id"]
        await api.settle()
    finally:
        event.remove(api.deps.engine.sync_engine, "before_cursor_execute", note)
    run = (await api.get(f"/v1/runs/{run_id}")).json()
    assert run["status"] == "finished" and run["updated"] == 1
    assert seen == []


async def test_sync_now_leaves_no_other_due_link_unclaimed(api):
    """A link that is due with no ring of its own (its ring lost) is still pushed after a SYNC NOW
    run that stopped after its own record: the run's end rings for whatever is due."""
    import asyncio

    from sqlalchemy import update

    from app.models import LinkState, Record
    from app.models.base import utcnow

    await api.connect_sandbox()
    for pos_id in ("C-1", "C-2"):
        await api.put(f"/v1/customers/{pos_id}", dict(ENTITY_TYPES["customer"].example, id=pos_id))
    await api.settle()
    async with api.deps.sessions() as session, session.begin():
        record_id = await session.scalar(select(Record.id).where(Record.pos_id == "C-2"))
        await session.execute(update(Link).where(Link.record_id == record_id)
                               .values(state=LinkState.PENDING, next_attempt_at=utcnow()))
    assert (await panel(api, "customers", "C-2"))["state"] == "pending"
    await api.post("/v1/customers/C-1/sync")
    for _ in range(100):  # the ring for C-2 comes from a timer, after the SYNC NOW job ended
        await api.settle()
        if (await panel(api, "customers", "C-2"))["state"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert (await panel(api, "customers", "C-2"))["symbol"] == "green"


async def test_a_single_sale_syncs_in_two_transactions_without_an_empty_claim(api, monkeypatch):
    """A shop's one sale is the common job: its run is opened by the claim's own transaction, its
    reads go without BEGIN and ROLLBACK, its end is known from one look-up instead of a second
    (empty) claim. What is left: the claim and the outcome's write (the sandbox program's own
    transaction is the program's, not the engine's)."""
    import traceback

    import asyncpg
    from sqlalchemy import event

    await api.connect_sandbox()
    for entity_type in ("customer", "product"):
        example = ENTITY_TYPES[entity_type].example
        await api.put(f"/v1/{ENTITY_TYPES[entity_type].collection}/{example['id']}", example)
    await api.settle()

    begun: list[str] = []
    execute = asyncpg.connection.Connection.execute

    async def noting_begins(self, query, *args, **kwargs):
        names = [f.name for f in traceback.extract_stack() if "/app/" in f.filename]
        # The run's own transactions: the API's write and the sandbox program's are not the engine's.
        if query.startswith("BEGIN") and "sync_connection" in names and "push" not in names:
            begun.append(next((n for n in ("claim", "record_outcomes") if n in names), names[-1]))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", noting_begins)
    claims, note = _claims(api.deps.engine)
    event.listen(api.deps.engine.sync_engine, "before_cursor_execute", note)
    try:
        sale = ENTITY_TYPES["sale"].example
        assert (await api.put(f"/v1/sales/{sale['id']}", sale)).status_code == 201
        await api.settle()
    finally:
        event.remove(api.deps.engine.sync_engine, "before_cursor_execute", note)
    body = await panel(api, "sales", sale["id"])
    assert body["symbol"] == "green", body
    assert len(claims) == 1
    assert begun == ["claim", "record_outcomes"]
    async with api.deps.sessions() as session:
        runs = (await session.execute(select(Run.status, Run.created).order_by(Run.created_at.desc()))).all()
    assert runs[0] == ("finished", 1)
