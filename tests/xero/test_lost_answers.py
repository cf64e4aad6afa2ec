"""Records whose answer was lost: a retry is the same request under the same key while Xero
remembers it, and a number Xero says is taken is looked up once for the whole batch."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.entities.schemas import SALE_EXAMPLE
from app.connectors.errors import TransientError

from .conftest import push_item
from .test_adapter import setup_sale_refs

INVOICES = "/api.xro/2.0/Invoices"


def _sales(refs, n: int, *, start: int = 0):
    out = []
    for i in range(start, start + n):
        payload = {**copy.deepcopy(SALE_EXAMPLE), "id": f"S-{i}", "number": f"S-{i}"}
        out.append(push_item("sale", payload, key=100 + i, references=refs))
    return out


def _gets(fake, path: str) -> int:
    return sum(1 for c in fake.calls if c.method == "GET" and c.path == path)


async def test_taken_numbers_of_a_batch_are_looked_up_in_one_call_and_adopted(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    sales = _sales(refs, 6)
    first = await connector.push(ctx, "sale", sales[:4])  # created; as if the answers had been lost
    # Retried in other company (a new batch, so a new request and key): Xero refuses the four
    # numbers it holds; one look-up finds them, with their payments, and adopts them.
    again = await connector.push(ctx, "sale", [replace(s, retries=1) for s in sales[:4]] + sales[4:])
    assert all(r.ok for r in again), [r.error for r in again]
    assert [r.external_id for r in again[:4]] == [r.external_id for r in first]
    assert _gets(fake, INVOICES) == 1
    books = fake.books[tenant]
    assert len(books.invoices) == 6 and len(books.payments) == 6
    assert all(i["AmountDue"] == 0 for i in books.invoices.values())
    assert fake.key_reuses == 0


async def test_a_retry_while_xero_remembers_the_key_is_replayed_without_a_look_up(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    sales = _sales(refs, 3)
    fake.kill_next(1, path_prefix=INVOICES)  # created, answer lost
    try:
        await connector.push(ctx, "sale", sales)
    except TransientError:
        pass
    again = await connector.push(ctx, "sale", [replace(s, retries=1) for s in sales])
    assert all(r.ok for r in again), [r.error for r in again]
    posts = [c for c in fake.calls if c.method == "POST" and c.path == INVOICES]
    assert len(posts) == 2 and posts[1].replayed and posts[0].idempotency_key == posts[1].idempotency_key
    assert _gets(fake, INVOICES) == 0
    assert len(fake.books[tenant].invoices) == 3 and len(fake.books[tenant].payments) == 3


async def test_a_failed_look_up_fails_only_the_records_that_needed_it(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    sales = _sales(refs, 4)
    await connector.push(ctx, "sale", sales[:2])
    fake.fail_next(1, status=503, path_prefix=INVOICES, after=1)  # the POST goes through, the GET fails
    again = await connector.push(ctx, "sale", [replace(s, retries=1) for s in sales[:2]] + sales[2:])
    assert [r.ok for r in again] == [False, False, True, True]
    assert all(isinstance(r.error, TransientError) for r in again[:2])
    assert len(fake.books[tenant].invoices) == 4


async def _purchase_orders(connector, ctx, n: int):
    supplier = push_item("supplier", {"id": "S-1", "name": "Harbour Coffee"}, key=1)
    product = push_item("product", {"id": "P-1", "sku": "BEANS", "name": "Beans"}, key=2)
    [s] = await connector.push(ctx, "supplier", [supplier])
    [p] = await connector.push(ctx, "product", [product])
    refs = {("supplier", "S-1"): s.external_id, ("product", "P-1"): p.external_id}
    return [push_item("purchase_order", {
        "id": f"PO-{i}", "number": f"PO-{i}", "supplier_id": "S-1", "status": "received",
        "ordered_at": f"2026-11-0{i + 1}T09:00:00Z",
        "lines": [{"product_id": "P-1", "quantity": "2", "unit_cost": "3.00"}],
    }, key=10 + i, references=refs) for i in range(n)]


async def test_retried_purchase_orders_are_looked_up_in_one_call(fake, tenant, ctx, connector):
    orders = await _purchase_orders(connector, ctx, 5)
    first = await connector.push(ctx, "purchase_order", orders)
    fake.forget_idempotency_keys()
    again = await connector.push(ctx, "purchase_order", [replace(o, retries=1) for o in orders])
    assert [r.external_id for r in again] == [r.external_id for r in first]
    assert _gets(fake, "/api.xro/2.0/PurchaseOrders") == 1
    assert len(fake.books[tenant].purchase_orders) == 5


PURCHASE_ORDERS = "/api.xro/2.0/PurchaseOrders"


async def _lost(fake, connector, ctx, orders, *, ago: timedelta = timedelta(seconds=5)):
    """Push the orders with their answer lost: Xero holds them; each comes back as the engine would
    hand it over for the retry (the lost call's key, when its first try was made)."""
    fake.kill_next(1, path_prefix=PURCHASE_ORDERS)
    with pytest.raises(TransientError) as lost:
        await connector.push(ctx, "purchase_order", orders)
    assert lost.value.call_key
    when = datetime.now(timezone.utc) - ago
    return [replace(o, retries=1, lost_call_key=lost.value.call_key, first_unanswered_at=when) for o in orders]


async def test_a_purchase_order_call_xero_still_remembers_is_sent_again_without_a_look_up(fake, tenant, ctx, connector):
    orders = await _lost(fake, connector, ctx, await _purchase_orders(connector, ctx, 3))
    again = await connector.push(ctx, "purchase_order", orders)
    assert all(r.ok and r.action == "created" for r in again), [r.error for r in again]
    assert _gets(fake, PURCHASE_ORDERS) == 0
    posts = [c for c in fake.calls if c.method == "POST" and c.path == PURCHASE_ORDERS]
    assert [c.replayed for c in posts] == [False, True]
    assert len(fake.books[tenant].purchase_orders) == 3
    assert {r.external_id for r in again} == set(fake.books[tenant].purchase_orders)


async def test_a_purchase_order_call_that_changed_is_looked_up_and_adopted(fake, tenant, ctx, connector):
    orders = await _purchase_orders(connector, ctx, 4)
    lost = await _lost(fake, connector, ctx, orders[:3])
    # A fourth order joins the retry: another request under another key, which Xero never saw.
    again = await connector.push(ctx, "purchase_order", lost + orders[3:])
    assert all(r.ok and r.action == "created" for r in again), [r.error for r in again]
    assert _gets(fake, PURCHASE_ORDERS) == 1
    assert len(fake.books[tenant].purchase_orders) == 4
    assert {r.external_id for r in again} == set(fake.books[tenant].purchase_orders)


async def test_a_purchase_order_call_past_xeros_memory_is_looked_up_and_adopted(fake, tenant, ctx, connector):
    orders = await _lost(fake, connector, ctx, await _purchase_orders(connector, ctx, 3), ago=timedelta(minutes=6))
    fake.forget_idempotency_keys()
    again = await connector.push(ctx, "purchase_order", orders)
    assert all(r.ok and r.action == "created" for r in again), [r.error for r in again]
    assert _gets(fake, PURCHASE_ORDERS) == 1
    assert len(fake.books[tenant].purchase_orders) == 3
    assert {r.external_id for r in again} == set(fake.books[tenant].purchase_orders)


async def test_a_create_lost_again_after_its_look_up_reports_the_call_and_that_it_was_looked_up(
        fake, tenant, ctx, connector):
    orders = await _purchase_orders(connector, ctx, 2)
    # Only the first is retried; the look-up finds nothing (its earlier try never reached Xero), and
    # the call that follows is refused without an answer.
    fake.fail_next(1, status=503, path_prefix=PURCHASE_ORDERS, after=1)
    again = await connector.push(ctx, "purchase_order", [replace(orders[0], retries=1), orders[1]])
    assert _gets(fake, PURCHASE_ORDERS) == 1
    assert all(isinstance(r.error, TransientError) for r in again)
    assert again[0].call_key and again[0].call_key == again[1].call_key
    assert [r.looked_up for r in again] == [True, False]


async def test_each_create_call_is_announced_with_its_key_before_it_leaves(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    sales = _sales(refs, 3)
    announced: list[tuple[str, list[int], int]] = []

    async def announcer(key, item_keys, looked_up):
        announced.append((key, list(item_keys), len(fake.calls)))

    await connector.push(replace(ctx, announcer=announcer), "sale", sales)
    posts = [(n, c) for n, c in enumerate(fake.calls) if c.method == "POST" and c.path == INVOICES]
    assert [(key, keys) for key, keys, _ in announced] == [(posts[0][1].idempotency_key, [s.key for s in sales])]
    assert announced[0][2] <= posts[0][0]  # written before the call reached Xero
    # The payments that follow are not creates of these records' documents: not announced.
    assert any(c.path.endswith("/Payments") for c in fake.calls)


async def test_a_call_the_engine_no_longer_holds_is_not_sent(fake, tenant, ctx, connector):
    from app.sync.announce import LeaseLost

    refs = await setup_sale_refs(connector, ctx)
    before = len(fake.calls)

    async def taken_over(key, item_keys, looked_up):
        raise LeaseLost("held by another job")

    with pytest.raises(LeaseLost):
        await connector.push(replace(ctx, announcer=taken_over), "sale", _sales(refs, 2))
    assert not [c for c in fake.calls[before:] if c.method in ("POST", "PUT")]
    assert not fake.books[tenant].invoices
