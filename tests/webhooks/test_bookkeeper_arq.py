"""The same round trip with a real arq worker on Redis and the fake Xero over TCP."""

from __future__ import annotations

import pytest

from app.connectors.xero import XeroConnector
from app.sync.limiter import RateLimits
from tests.books.conftest import PRODUCT, sale
from tests.conftest import arq_stack
from tests.fakes.fake_xero import FakeXero
from tests.webhooks.conftest import XERO_KEYS
from tests.webhooks.test_bookkeeper import panel, put
from tests.xero.test_end_to_end import connect_xero, sync_until_settled

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def fake():
    fake = FakeXero(client_id="possync-test", client_secret="shh", check_tokens=True, per_minute=600)
    fake.tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    with fake.serve() as url:
        fake.url = url
        yield fake


async def test_a_voided_invoice_reaches_the_panel_in_one_worker_pass(migrated, fake, monkeypatch):
    monkeypatch.setattr(XeroConnector, "rate_limits", RateLimits(per_minute=600, concurrent=5))
    async with arq_stack(migrated, XERO_CLIENT_ID="possync-test", XERO_CLIENT_SECRET="shh", XERO_API_URL=fake.url,
                         XERO_IDENTITY_URL=fake.url, XERO_LOGIN_URL=fake.url, XERO_WEBHOOK_KEYS=",".join(XERO_KEYS),
                         POSSYNC_SWEEP_INTERVAL_S=3600) as stack:
        api = stack.api
        await connect_xero(stack, fake)
        await put(api, "products", "P-1", PRODUCT)
        await put(api, "sales", "S-1", sale("S-1", shift=None, date="2026-11-20T10:00:00Z"))
        await sync_until_settled(stack, monkeypatch)
        invoice_id = (await panel(api, "sales", "S-1"))["external_id"]
        fake.deliveries.point_at("/v1/webhooks/xero", XERO_KEYS[1], api.client)

        await fake.void_invoice(fake.tenant, invoice_id)
        assert fake.deliveries.answers == [200]
        assert (await panel(api, "sales", "S-1"))["symbol"] == "green"  # stored, not yet processed
        await stack.run_workers(monkeypatch)

        line = await panel(api, "sales", "S-1")
        assert (line["symbol"], line["program_change"]) == ("red", "voided")
        assert "Voided in Xero" in line["error"]
        # The next push follows `ask` (documents' default): nothing is sent over the voided invoice.
        await put(api, "sales", "S-1", sale("S-1", shift=None, date="2026-11-20T10:00:00Z", note="late edit"))
        await sync_until_settled(stack, monkeypatch)
        line = await panel(api, "sales", "S-1")
        assert (line["state"], line["external_id"]) == ("failed", invoice_id)
        assert len(fake.books[fake.tenant].invoices) == 1


async def test_possyncs_own_changes_echoed_by_xero_turn_nothing_red_and_push_nothing(migrated, fake, monkeypatch):
    """Xero reports possync's own creates, updates and payments too: with a real worker, those
    deliveries cost one batched read-back and change nothing (no red, no re-push, no new echo)."""
    monkeypatch.setattr(XeroConnector, "rate_limits", RateLimits(per_minute=600, concurrent=5))
    async with arq_stack(migrated, XERO_CLIENT_ID="possync-test", XERO_CLIENT_SECRET="shh", XERO_API_URL=fake.url,
                         XERO_IDENTITY_URL=fake.url, XERO_LOGIN_URL=fake.url, XERO_WEBHOOK_KEYS=",".join(XERO_KEYS),
                         POSSYNC_SWEEP_INTERVAL_S=3600, POSSYNC_CATCH_UP_INTERVAL_S=0) as stack:
        api = stack.api
        await connect_xero(stack, fake)
        fake.deliveries.point_at("/v1/webhooks/xero", XERO_KEYS[0], api.client)
        await put(api, "customers", "C-1", {"first_name": "Ada", "last_name": "Lovelace"})
        await put(api, "products", "P-1", PRODUCT)
        for pos_id in ("S-1", "S-2"):
            await put(api, "sales", pos_id, {**sale(pos_id, shift=None, date="2026-11-20T10:00:00Z"),
                                             "customer_id": "C-1"})
        await sync_until_settled(stack, monkeypatch)
        await put(api, "customers", "C-1", {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"})
        await sync_until_settled(stack, monkeypatch)
        categories = {e["eventCategory"] for e in fake.deliveries.echoed}
        assert categories == {"CONTACT", "INVOICE"}  # the contact's create and update, the invoices and payments
        writes = fake.count("POST") + fake.count("PUT")
        reads = fake.count("GET", "/Invoices") + fake.count("GET", "/Contacts")

        assert await fake.deliveries.flush() == 200
        await stack.run_workers(monkeypatch)

        for collection, pos_id in (("customers", "C-1"), ("sales", "S-1"), ("sales", "S-2")):
            line = await panel(api, collection, pos_id)
            assert (line["symbol"], line["state"], line["program_change"], line["error"]) == (
                "green", "synced", None, None), (pos_id, line)
        assert fake.count("POST") + fake.count("PUT") == writes  # nothing pushed again
        # One batched read per collection (IDs= lists), whatever the number of events.
        assert fake.count("GET", "/Invoices") + fake.count("GET", "/Contacts") - reads == 2
        assert fake.deliveries.echoed == []  # and so nothing new to report: no loop
