"""The real engine and real arq workers against the fake Xero, over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from app.connectors.xero import XeroConnector
from app.models import Connection, Link
from app.connections.credentials import load_credentials, seal_credentials
from app.sync.limiter import RateLimits
from tests.conftest import arq_stack
from tests.late_dependency import a_late_product_wakes_its_sale_within_one_worker_pass
from tests.fakes.fake_xero import FakeXero
from tests.records import mixed_records

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
DOCUMENTS = ("/api.xro/2.0/Contacts", "/api.xro/2.0/Items", "/api.xro/2.0/PurchaseOrders", "/api.xro/2.0/Invoices")


@pytest.fixture
def fake():
    fake = FakeXero(client_id="possync-test", client_secret="shh", check_tokens=True, per_minute=600)
    fake.add_tenant("Demo Company (UK)", demo_chart=True)
    with fake.serve() as url:
        fake.url = url
        yield fake


@pytest.fixture
async def stack(migrated, fake, monkeypatch):
    # The fake's minute allows 600 calls so the test runs in seconds; the limiter is set to the
    # same, so "no call beyond the limits" is checked at the scale the test runs at.
    monkeypatch.setattr(XeroConnector, "rate_limits", RateLimits(per_minute=600, concurrent=5))
    async with arq_stack(
        migrated,
        XERO_CLIENT_ID="possync-test",
        XERO_CLIENT_SECRET="shh",
        XERO_API_URL=fake.url,
        XERO_IDENTITY_URL=fake.url,
        XERO_LOGIN_URL=fake.url,
        POSSYNC_HTTP_TIMEOUT_S=1.0,
        POSSYNC_SWEEP_INTERVAL_S=3600,
    ) as stack:
        yield stack


async def connect_xero(stack, fake) -> str:
    """The whole OAuth dance: authorize URL, the program's redirect, our callback."""
    created = await stack.api.post("/v1/connections", {"connector": "xero"})
    assert created.status_code == 201, created.text
    start = urlsplit(created.json()["authorize_url"])
    assert start.path == "/v1/oauth/xero/start"  # possync's own start route binds the browser first
    to_xero = await stack.api.client.get(start.path, params=parse_qs(start.query))
    assert to_xero.status_code == 303
    program = parse_qs(urlsplit(to_xero.headers["location"]).query)
    assert program["code_challenge_method"] == ["S256"] and len(program["code_challenge"][0]) == 43
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(to_xero.headers["location"])
    assert consent.status_code == 302
    back = urlsplit(consent.headers["location"])
    assert back.path == "/v1/oauth/xero/callback"
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    done = await stack.api.client.get(back.path, params=params)
    assert done.status_code == 200 and done.json()["status"] == "active", done.text
    return done.json()["id"]


async def sync_until_settled(stack, monkeypatch, *, timeout_s: float = 120.0) -> None:
    """Run two workers; while links wait for a back-off, wait and run them again (sweeper rings)."""
    deadline = time.monotonic() + timeout_s
    while True:
        await stack.run_workers(monkeypatch, count=2)
        async with stack.deps.sessions() as session:
            pending = await session.scalar(select(func.count()).select_from(Link).where(Link.state == "pending"))
            due = await session.scalar(select(func.min(Link.next_attempt_at)).where(Link.state == "pending"))
        if not pending:
            return
        assert time.monotonic() < deadline, f"{pending} links still pending"
        await asyncio.sleep(max(0.1, min(5.0, (due.timestamp() - time.time()) + 0.1)))


async def test_2000_records_reach_xero_once_in_full_batches_within_limits(stack, fake, monkeypatch):
    await connect_xero(stack, fake)
    records = mixed_records(2000)
    for collection, items in records.items():
        result = (await stack.api.post(f"/v1/{collection}/batch", {"items": items})).json()
        assert result["accepted"] == len(items)
    fake.delay_next(2, seconds=2.0)  # our 1 s timeout fires; Xero never stores these
    fake.kill_next(2)  # Xero stores these, but the answers are lost on the way back

    await sync_until_settled(stack, monkeypatch)

    async with stack.deps.sessions() as session:
        states = dict((await session.execute(select(Link.state, func.count()).group_by(Link.state))).all())
    shifts = len(records["shift-reports"])
    assert states == {"synced": 2000 - shifts, "skipped": shifts}, states
    (books,) = fake.books.values()
    per = len(records["customers"])
    # Exactly once: one Xero object per POS record, whatever was retried.
    assert len(books.contacts) == 2 * per
    assert len(books.items) == per and len(books.purchase_orders) == per and len(books.invoices) == per
    assert len(books.payments) == per
    # Batching: documents go ≥ 40 to a call on average.
    saves = [c for c in fake.calls if c.method in ("POST", "PUT") and c.path in DOCUMENTS and c.status == 200]
    per_call = sum(c.elements for c in saves) / len(saves)
    print(f"documents per call: {per_call:.1f} over {len(saves)} calls; {len(fake.calls)} calls in all")
    assert per_call >= 40, f"{per_call:.1f} documents per call"
    # Limits: nothing was refused for going over them.
    assert fake.count(status=429) == 0
    replays = [c for c in fake.calls if c.replayed]
    assert replays, "a killed request must have been retried with its idempotency key"


async def test_two_workers_with_an_expiring_token_refresh_once(stack, fake, monkeypatch):
    connection_id = uuid.UUID(await connect_xero(stack, fake))
    async with stack.deps.sessions() as session, session.begin():
        connection = await session.get(Connection, connection_id)
        credentials = load_credentials(stack.deps.secrets, connection)
        credentials.expires_at = time.time() - 1
        connection.credentials_encrypted = seal_credentials(stack.deps.secrets, credentials)
    items = [{"id": f"C-{i}", "first_name": f"Customer {i}"} for i in range(200)]
    await stack.api.post("/v1/customers/batch", {"items": items})
    before = fake.refresh_count

    await sync_until_settled(stack, monkeypatch)

    assert fake.refresh_count - before == 1
    status = await stack.api.get("/v1/customers/sync-status", params={"ids": ",".join(i["id"] for i in items)})
    assert Counter(i["symbol"] for i in status.json()["items"]) == {"green": 200}
    assert (await stack.api.get(f"/v1/connections/{connection_id}")).json()["status"] == "active"


async def test_refused_record_shows_advice_then_turns_green_after_the_fix(stack, fake, monkeypatch):
    connection_id = await connect_xero(stack, fake)
    long_sku = "HOUSE-BLEND-ESPRESSO-BEANS-1KG-BAG"
    await stack.api.put("/v1/products/P-1", {"sku": long_sku, "name": "Espresso beans"})
    await sync_until_settled(stack, monkeypatch)
    panel = (await stack.api.get("/v1/products/P-1/sync")).json()
    entry = panel["connections"][0]
    assert panel["symbol"] == "red" and entry["state"] == "failed" and "30" in entry["advice"]
    errors = (await stack.api.get(f"/v1/connections/{connection_id}/errors")).json()["items"]
    assert [e["pos_id"] for e in errors] == ["P-1"] and errors[0]["advice"] == entry["advice"]

    await stack.api.put("/v1/products/P-1", {"sku": "ESPRESSO-1KG", "name": "Espresso beans"})
    await sync_until_settled(stack, monkeypatch)
    entry = (await stack.api.get("/v1/products/P-1/sync")).json()["connections"][0]
    assert entry["state"] == "synced" and entry["status"] == "created" and entry["error"] is None


async def test_revoked_access_stops_the_connection_and_says_reconnect(stack, fake, monkeypatch):
    connection_id = await connect_xero(stack, fake)
    fake.access_tokens.clear()
    fake.live_refresh_tokens.clear()  # the shop disconnected possync inside Xero
    await stack.api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await stack.run_workers(monkeypatch, count=1)
    connection = (await stack.api.get(f"/v1/connections/{connection_id}")).json()
    assert connection["status"] == "reconnect_required"
    entry = (await stack.api.get("/v1/customers/C-1/sync")).json()["connections"][0]
    assert entry["state"] == "pending" and entry["error"] == "Reconnect required."


async def test_day_budget_pauses_the_connection_and_the_panel_says_so(stack, fake, monkeypatch):
    connection_id = await connect_xero(stack, fake)
    await stack.api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await stack.run_workers(monkeypatch)  # X-DayLimit-Remaining comes back with this call
    (tenant,) = fake.books
    fake.per_day = fake._limits_of(tenant).day_used  # noqa: SLF001 - the budget is now exactly spent
    await stack.api.put("/v1/customers/C-2", {"first_name": "Bo"})
    calls_before = len(fake.calls)
    # The worker's connector saw "0 remaining" in the last answer only if it is the same process:
    # a fresh worker learns it from Xero's 429 instead. Either way the connection pauses.
    await stack.run_workers(monkeypatch)
    connection = (await stack.api.get(f"/v1/connections/{connection_id}")).json()
    assert connection["status"] == "paused" and "5,000 calls a day" in connection["status_reason"]
    entry = (await stack.api.get("/v1/customers/C-2/sync")).json()["connections"][0]
    assert entry["state"] == "pending" and entry["error"] == "Sync paused by the program's limits."
    assert len(fake.calls) - calls_before <= 1


async def test_lost_invoice_answers_retried_after_xero_forgot_the_key_create_nothing_twice(stack, fake, monkeypatch):
    fake.idempotency_ttl_s = 0.0  # as if the retry came more than six minutes later
    await connect_xero(stack, fake)
    records = mixed_records(300)
    for collection in ("customers", "products", "sales"):
        await stack.api.post(f"/v1/{collection}/batch", {"items": records[collection]})
    fake.kill_next(1, path_prefix="/api.xro/2.0/Invoices")  # invoices stored, answer lost
    fake.kill_next(1, path_prefix="/api.xro/2.0/Payments")  # payments stored, answer lost

    await sync_until_settled(stack, monkeypatch)

    (books,) = fake.books.values()
    sales = records["sales"]
    assert len(books.invoices) == len(sales) and len(books.payments) == len(sales)
    assert all(invoice["AmountDue"] == 0 for invoice in books.invoices.values())
    status = await stack.api.get("/v1/sales/sync-status", params={"ids": ",".join(s["id"] for s in sales)})
    assert {i["symbol"] for i in status.json()["items"]} == {"green"}
    assert not any(c.replayed for c in fake.calls)  # the fake really had forgotten every key


async def test_token_refused_before_its_time_is_refreshed_once_and_the_run_goes_on(stack, fake, monkeypatch):
    connection_id = await connect_xero(stack, fake)
    fake.expire_access_tokens()  # Xero says TokenExpired although our clock says it has 30 min left
    before = fake.refresh_count
    await stack.api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": f"Ana {i}"} for i in range(5)]})
    await sync_until_settled(stack, monkeypatch)
    assert fake.refresh_count - before == 1
    assert (await stack.api.get(f"/v1/connections/{connection_id}")).json()["status"] == "active"
    status = await stack.api.get("/v1/customers/sync-status", params={"ids": ",".join(f"C-{i}" for i in range(5))})
    assert {i["symbol"] for i in status.json()["items"]} == {"green"}



async def test_a_late_product_wakes_its_sale_within_one_worker_pass(stack, fake, monkeypatch):
    await connect_xero(stack, fake)
    await a_late_product_wakes_its_sale_within_one_worker_pass(stack, monkeypatch)


async def test_lost_purchase_order_answers_retried_while_xero_remembers_the_call_make_no_look_up(
        stack, fake, monkeypatch):
    await connect_xero(stack, fake)
    records = mixed_records(18)
    for collection in ("suppliers", "products"):
        await stack.api.post(f"/v1/{collection}/batch", {"items": records[collection]})
    await sync_until_settled(stack, monkeypatch)
    fake.kill_next(1, path_prefix="/api.xro/2.0/PurchaseOrders")  # orders stored, answer lost
    await stack.api.post("/v1/purchases/batch", {"items": records["purchases"]})

    await sync_until_settled(stack, monkeypatch)

    orders = [c for c in fake.calls if c.path.startswith("/api.xro/2.0/PurchaseOrders")]
    # The engine kept the lost call's key, so the retry went out as that very call and Xero answered
    # it from memory: nothing was looked up, nothing created twice.
    assert [(c.method, c.replayed) for c in orders] == [("POST", False), ("POST", True)]
    (books,) = fake.books.values()
    assert len(books.purchase_orders) == len(records["purchases"])
    status = await stack.api.get("/v1/purchases/sync-status",
                                 params={"ids": ",".join(p["id"] for p in records["purchases"])})
    assert {i["symbol"] for i in status.json()["items"]} == {"green"}
    async with stack.deps.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Link).where(Link.lost_call_key.is_not(None))) == 0


async def test_lost_purchase_order_answers_retried_past_the_memory_are_looked_up_and_adopted(stack, fake, monkeypatch):
    monkeypatch.setattr("app.connectors.xero.connector.IDEMPOTENCY_MEMORY", timedelta(0))
    fake.idempotency_ttl_s = 0.0
    await connect_xero(stack, fake)
    records = mixed_records(18)
    for collection in ("suppliers", "products"):
        await stack.api.post(f"/v1/{collection}/batch", {"items": records[collection]})
    await sync_until_settled(stack, monkeypatch)
    fake.kill_next(1, path_prefix="/api.xro/2.0/PurchaseOrders")
    await stack.api.post("/v1/purchases/batch", {"items": records["purchases"]})

    await sync_until_settled(stack, monkeypatch)

    orders = [c for c in fake.calls if c.path.startswith("/api.xro/2.0/PurchaseOrders")]
    # Looked up (by number, one read each) and adopted: nothing sent again.
    assert [c.method for c in orders] == ["POST"] + ["GET"] * len(records["purchases"])
    (books,) = fake.books.values()
    assert len(books.purchase_orders) == len(records["purchases"])
