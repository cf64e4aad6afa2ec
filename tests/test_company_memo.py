"""What a connector learns about a company is kept for every worker and outlives a worker's restart
(app.connectors.memo): a worker started after another one read Xero's item codes or QuickBooks'
preferences does not read them again. Real Redis; the programs are the fakes of tests/fakes."""

from __future__ import annotations

import copy
import socket

import pytest
from redis.asyncio import Redis

from app.connectors.memo import LocalMemo, RedisMemo
from app.connectors.quickbooks import QuickBooksConnector
from app.connectors.xero.connector import XeroConnector
from app.entities.schemas import SALE_EXAMPLE
from tests import conftest as shared
from tests.fakes.fake_quickbooks import FakeQuickBooks
from tests.fakes.fake_xero import FakeXero
from tests.quickbooks import conftest as qb
from tests.quickbooks.test_connector import one, refs
from tests.xero import conftest as xero
from tests.xero.test_adapter import setup_sale_refs

pytestmark = [pytest.mark.redis]


@pytest.fixture
async def redis():
    client = Redis.from_url(shared.test_redis_url())
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_a_restarted_xero_worker_knows_the_item_codes_another_learned(redis):
    fake = FakeXero()
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    ctx = xero.context_for(fake, tenant)
    first = XeroConnector(xero.app_settings(), transport=fake.transport(), memo=RedisMemo(redis))
    refs_ = await setup_sale_refs(first, ctx)  # pushes the product: its code is learned from the answer
    await first.aclose()  # the worker dies

    restarted = XeroConnector(xero.app_settings(), transport=fake.transport(), memo=RedisMemo(redis))
    sale = xero.push_item("sale", copy.deepcopy(SALE_EXAMPLE), key=7, references=refs_)
    before = len(fake.calls)
    [result] = await restarted.push(ctx, "sale", [sale])
    await restarted.aclose()
    assert result.ok, result.error
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in fake.calls[before:]] == [
        ("POST", "Invoices"), ("PUT", "Payments")]  # no GET Items
    assert fake.books[tenant].invoices[result.external_id]["LineItems"][0]["ItemCode"] == "BEANS-HOUSE-1KG"


async def test_a_restarted_quickbooks_worker_knows_the_companys_kind_of_sales_tax(redis):
    fake = FakeQuickBooks()
    realm = fake.add_realm("Sandbox Company_GB", us=False)
    ctx = qb.context_for(fake, realm, qb.QuickBooksSettings(tax_codes=qb.GLOBAL_TAX))
    first = QuickBooksConnector(qb.app_settings(), transport=fake.transport(), memo=RedisMemo(redis))
    ids = await refs(first, ctx)  # the product push reads the preferences once
    await first.aclose()
    assert fake.count("preferences") == 1

    restarted = QuickBooksConnector(qb.app_settings(), transport=fake.transport(), memo=RedisMemo(redis))
    result = await one(restarted, ctx, "sale", SALE_EXAMPLE, key=5, references=ids)
    await restarted.aclose()
    assert result.ok, result.error
    assert fake.count("preferences") == 1
    (receipt,) = fake.companies[realm].all("SalesReceipt")
    assert receipt["GlobalTaxCalculation"] == "TaxInclusive"  # the kind it learned: tax codes, not US tax


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_while_redis_is_away_the_memo_keeps_facts_in_memory():
    away = Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    memo = RedisMemo(away)
    await memo.put("xero:c:t:item-codes", {"id-1": ["CODE", 1.0]}, 60)
    assert await memo.get("xero:c:t:item-codes") == {"id-1": ["CODE", 1.0]}
    assert await memo.get("xero:c:t:tax-rates") is None
    await away.aclose()


async def test_a_kept_fact_expires():
    memo = LocalMemo()
    await memo.put("fact", [1], ttl_s=-1)  # already past its time to live
    await memo.put("other", [2], ttl_s=60)
    assert await memo.get("fact") is None and await memo.get("other") == [2]
