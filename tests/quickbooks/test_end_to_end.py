"""The real engine and two real arq workers against the fake QuickBooks, over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from app.connectors.limits import Bucket, RateLimits
from app.connectors.quickbooks import QuickBooksConnector
from app.db import transaction
from app.models import Attempt, Connection, Link, Record
from app.models.base import utcnow
from app.sync.lease import LeaseKeeper
from app.sync.runner import sync_connection
from app.connections.credentials import load_credentials, seal_credentials
from tests.conftest import arq_stack
from tests.late_dependency import a_late_product_wakes_its_sale_within_one_worker_pass
from tests.fakes.fake_quickbooks import FakeQuickBooks
from tests.records import mixed_records

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
# Intuit's limits per company are 500 requests a minute, 10 in flight and 40 batch calls a minute;
# the test runs at another scale (minutes would become seconds; two workers with two jobs each
# would never reach 10 in flight, so the test allows 2), with the fake and the limiter set alike,
# so "no call beyond the limits" is checked at the scale the test runs at.
SCALED = {"per_minute": 1500, "concurrent": 2, "batches_per_minute": 300}


@pytest.fixture
def fake():
    fake = FakeQuickBooks(client_id="possync-test", client_secret="shh", check_tokens=True, **SCALED)
    fake.realm = fake.add_realm("Sandbox Company_US_1", us=True)
    with fake.serve() as url:
        fake.url = url
        yield fake


@pytest.fixture
async def stack(migrated, fake, monkeypatch):
    monkeypatch.setattr(QuickBooksConnector, "rate_limits", RateLimits(
        per_minute=SCALED["per_minute"], concurrent=SCALED["concurrent"],
        buckets={"batch": Bucket(per_minute=SCALED["batches_per_minute"])}))
    async with arq_stack(
        migrated,
        QUICKBOOKS_CLIENT_ID="possync-test",
        QUICKBOOKS_CLIENT_SECRET="shh",
        QUICKBOOKS_API_URL=fake.url,
        QUICKBOOKS_OAUTH_URL=f"{fake.url}/oauth2/v1/tokens/bearer",
        QUICKBOOKS_AUTHORIZE_URL=f"{fake.url}/connect/oauth2",
        QUICKBOOKS_REVOKE_URL=f"{fake.url}/v2/oauth2/tokens/revoke",
        POSSYNC_HTTP_TIMEOUT_S=1.0,
        POSSYNC_SWEEP_INTERVAL_S=3600,
    ) as stack:
        yield stack


async def connect_quickbooks(stack, fake, settings: dict | None = None) -> str:
    """The whole OAuth dance: authorize URL, Intuit's redirect with realmId, our callback."""
    created = await stack.api.post("/v1/connections", {"connector": "quickbooks", "settings": settings}
                                   if settings else {"connector": "quickbooks"})
    assert created.status_code == 201, created.text
    start = urlsplit(created.json()["authorize_url"])
    assert start.path == "/v1/oauth/quickbooks/start"  # possync's own start route binds the browser first
    to_intuit = await stack.api.client.get(start.path, params=parse_qs(start.query))
    assert to_intuit.status_code == 303
    assert "scope=com.intuit.quickbooks.accounting" in to_intuit.headers["location"]
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(to_intuit.headers["location"])
    assert consent.status_code == 302
    back = urlsplit(consent.headers["location"])
    assert back.path == "/v1/oauth/quickbooks/callback"
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    done = await stack.api.client.get(back.path, params=params)
    body = done.json()
    assert done.status_code == 200 and body["status"] == "active", done.text
    assert body["tenant_id"] == fake.realm and body["tenant_name"] == fake.companies[fake.realm].name
    return body["id"]


async def sync_until_settled(stack, monkeypatch, *, timeout_s: float = 120.0) -> None:
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


async def test_2000_records_reach_quickbooks_once_in_full_batches_within_the_three_limits(stack, fake, monkeypatch):
    await connect_quickbooks(stack, fake)
    records = mixed_records(2000)
    for collection, items in records.items():
        result = (await stack.api.post(f"/v1/{collection}/batch", {"items": items})).json()
        assert result["accepted"] == len(items)
    fake.delay_next(2, seconds=2.0)  # our 1 s timeout fires; QuickBooks never stores these
    fake.kill_next(2)  # QuickBooks stores these, but the answers are lost on the way back

    await sync_until_settled(stack, monkeypatch)

    async with stack.deps.sessions() as session:
        states = dict((await session.execute(select(Link.state, func.count()).group_by(Link.state))).all())
    shifts = len(records["shift-reports"])
    assert states == {"synced": 2000 - shifts, "skipped": shifts}, states
    company = fake.companies[fake.realm]
    per = len(records["customers"])
    # Exactly once: one QuickBooks object per POS record, whatever was retried.
    for entity in ("Customer", "Vendor", "Item", "PurchaseOrder", "SalesReceipt"):
        assert len(company.created(entity)) == per, entity
    batches = [c for c in fake.calls if c.kind == "batch" and c.status == 200]
    per_batch = sum(c.operations for c in batches) / len(batches)
    print(f"operations per batch: {per_batch:.1f} over {len(batches)} batches; {len(fake.calls)} calls in all")
    assert per_batch >= 25, f"{per_batch:.1f} operations per batch"
    assert fake.count(status=429) == 0  # no call beyond any of the three limits
    assert fake.most_in_flight(fake.realm) == SCALED["concurrent"]  # the in-flight limit was reached, not passed
    assert all(c.minorversion == "75" for c in fake.calls if c.realm)
    # The lost answers' records were looked up before being sent again (and adopted, as counted above).
    assert fake.count("query") >= 1

    # Someone edits a customer in QuickBooks; the POS changes it too: the stale SyncToken is recovered.
    async with stack.deps.sessions() as session:
        link = await session.scalar(select(Link).where(Link.entity_type == "customer").order_by(Link.id).limit(1))
    fake.edit_in_quickbooks(fake.realm, "Customer", link.external_id)
    edited_token = company.objects["Customer"][link.external_id]["SyncToken"]
    queries = fake.count("query")
    first = records["customers"][0]
    await stack.api.put(f"/v1/customers/{first['id']}", {**first, "email": "new@example.com"})
    await sync_until_settled(stack, monkeypatch)
    entry = (await stack.api.get(f"/v1/customers/{first['id']}/sync")).json()["connections"][0]
    assert entry["state"] == "synced" and entry["status"] == "updated"
    customer = company.objects["Customer"][link.external_id]
    assert customer["PrimaryEmailAddr"] == {"Address": "new@example.com"}
    assert customer["SyncToken"] == str(int(edited_token) + 1)  # our update went over the edit
    assert fake.count("query") == queries + 1  # refused as stale (5010), read again once, sent again
    assert len(company.all("Customer")) == per


async def test_two_workers_with_an_expired_token_refresh_once(stack, fake, monkeypatch):
    connection_id = uuid.UUID(await connect_quickbooks(stack, fake))
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


async def test_a_token_refused_before_its_time_is_refreshed_once_and_the_run_goes_on(stack, fake, monkeypatch):
    connection_id = await connect_quickbooks(stack, fake)
    fake.expire_access_tokens()  # Intuit answers 401 (3200) although our clock says 1 h is left
    before = fake.refresh_count
    await stack.api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": f"Ana {i}"} for i in range(5)]})
    await sync_until_settled(stack, monkeypatch)
    assert fake.refresh_count - before == 1
    assert (await stack.api.get(f"/v1/connections/{connection_id}")).json()["status"] == "active"


async def test_a_refused_record_shows_advice_in_panel_and_error_log_then_turns_green(stack, fake, monkeypatch):
    connection_id = await connect_quickbooks(stack, fake)
    fake.add_employee(fake.realm, "Ana Lopez")  # display names are shared with employees
    await stack.api.put("/v1/customers/C-1", {"first_name": "Ana", "last_name": "Lopez"})
    await sync_until_settled(stack, monkeypatch)
    panel = (await stack.api.get("/v1/customers/C-1/sync")).json()
    entry = panel["connections"][0]
    assert panel["symbol"] == "red" and entry["state"] == "failed" and "employee" in entry["advice"]
    errors = (await stack.api.get(f"/v1/connections/{connection_id}/errors")).json()["items"]
    assert [e["pos_id"] for e in errors] == ["C-1"] and errors[0]["advice"] == entry["advice"]
    async with stack.deps.sessions() as session:
        tids = (await session.scalars(select(Attempt.request_id).where(Attempt.pos_id == "C-1"))).all()
    assert tids and all(t and t.startswith("1-") for t in tids)  # Intuit's intuit_tid, for its support

    await stack.api.put("/v1/customers/C-1", {"first_name": "Ana", "last_name": "Lopez", "company_name": "Lopez Cafe"})
    await sync_until_settled(stack, monkeypatch)
    entry = (await stack.api.get("/v1/customers/C-1/sync")).json()["connections"][0]
    assert entry["state"] == "synced" and entry["status"] == "created" and entry["error"] is None


async def test_disconnecting_revokes_the_tokens_at_intuit(stack, fake):
    connection_id = await connect_quickbooks(stack, fake)
    assert (await stack.api.request("DELETE", f"/v1/connections/{connection_id}")).status_code == 204
    assert len(fake.revoked_tokens) == 1 and fake.revoked_tokens[0] not in fake.live_refresh_tokens



async def test_a_late_product_wakes_its_sale_within_one_worker_pass(stack, fake, monkeypatch):
    await connect_quickbooks(stack, fake)
    await a_late_product_wakes_its_sale_within_one_worker_pass(stack, monkeypatch)


async def _lost_customers(stack, fake, monkeypatch) -> list:
    """Sync customers whose batch QuickBooks stored without its answer reaching possync: the calls
    of the sync."""
    await connect_quickbooks(stack, fake)
    before = len(fake.calls)
    customers = mixed_records(30)["customers"]
    fake.kill_next(1)  # the first batch is stored, its answer lost
    await stack.api.post("/v1/customers/batch", {"items": customers})
    await sync_until_settled(stack, monkeypatch)
    status = await stack.api.get("/v1/customers/sync-status", params={"ids": ",".join(c["id"] for c in customers)})
    assert {i["symbol"] for i in status.json()["items"]} == {"green"}
    assert len(fake.companies[fake.realm].created("Customer")) == len(customers)
    return fake.calls[before:]


async def test_lost_answers_retried_while_intuit_remembers_the_batch_make_no_look_up(stack, fake, monkeypatch):
    calls = await _lost_customers(stack, fake, monkeypatch)
    # The engine kept the lost batch's requestid, so the retry was that very call, answered from
    # Intuit's memory: nothing was looked up.
    assert [c.replayed for c in calls if c.kind == "batch"] == [False, True]
    assert not [c for c in calls if c.kind == "query"]
    async with stack.deps.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Link).where(Link.lost_call_key.is_not(None))) == 0


async def test_lost_answers_retried_past_intuits_memory_are_looked_up_and_adopted(stack, fake, monkeypatch):
    monkeypatch.setattr("app.connectors.quickbooks.connector.REQUESTID_MEMORY", timedelta(0))
    fake.requestid_ttl_s = 0.0
    calls = await _lost_customers(stack, fake, monkeypatch)
    # One look-up; the adopted objects are updated to this content (the lost try may have held older).
    assert len([c for c in calls if c.kind == "query"]) == 1
    assert [c.replayed for c in calls if c.kind == "batch"] == [False, False]


async def test_a_worker_killed_mid_call_leaves_that_very_call_to_be_sent_again_without_a_look_up(
        stack, fake, monkeypatch):
    # The job announced the batch on its links before sending it, then died while QuickBooks held
    # the objects: the next job re-forms the same call from those links alone (not with the record
    # that arrived meanwhile) and Intuit answers it from its memory of the requestid. Nothing is
    # looked up, nothing is created twice.
    connection_id = uuid.UUID(await connect_quickbooks(stack, fake))
    customers = mixed_records(120)["customers"]
    await stack.api.post("/v1/customers/batch", {"items": customers})
    before = len(fake.calls)
    release = LeaseKeeper.release
    monkeypatch.setattr(LeaseKeeper, "release", _hands_nothing_back)  # a SIGKILLed process
    fake.stall_next(1, seconds=3)
    job = asyncio.create_task(sync_connection(stack.deps, connection_id))
    deadline = time.monotonic() + 30
    while len(fake.companies[fake.realm].created("Customer")) < len(customers):
        assert time.monotonic() < deadline and not job.done()
        await asyncio.sleep(0.02)
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    monkeypatch.setattr(LeaseKeeper, "release", release)
    await stack.api.post("/v1/customers/batch", {"items": [{"id": "C-later", "first_name": "Later"}]})
    async with transaction(stack.deps.sessions) as session:  # its lease runs out
        keys = (await session.scalars(select(Link.lost_call_key).where(Link.claim_token.is_not(None)))).all()
        await session.execute(update(Link).where(Link.claim_token.is_not(None))
                              .values(claimed_until=utcnow() - timedelta(seconds=1)))
    assert len(keys) == len(customers) and len(set(keys)) == 1 and None not in keys  # written before it left

    await sync_until_settled(stack, monkeypatch)
    calls = fake.calls[before:]
    assert [(c.replayed, c.operations) for c in calls if c.kind == "batch"] == [
        (False, len(customers)), (True, len(customers)), (False, 1)]
    assert not [c for c in calls if c.kind == "query"]
    assert len(fake.companies[fake.realm].created("Customer")) == len(customers) + 1
    status = await stack.api.get("/v1/customers/sync-status",
                                 params={"ids": ",".join([c["id"] for c in customers] + ["C-later"])})
    assert {i["symbol"] for i in status.json()["items"]} == {"green"}


async def _hands_nothing_back(self) -> None:
    return None
