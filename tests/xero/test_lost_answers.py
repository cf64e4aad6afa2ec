"""Records whose answer was lost: a retry is the same request under the same key while Xero
remembers it, and a number Xero says is taken is looked up once for the whole batch."""

from __future__ import annotations

import copy
from dataclasses import replace

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


async def test_retried_purchase_orders_are_looked_up_in_one_call(fake, tenant, ctx, connector):
    supplier = push_item("supplier", {"id": "S-1", "name": "Harbour Coffee"}, key=1)
    product = push_item("product", {"id": "P-1", "sku": "BEANS", "name": "Beans"}, key=2)
    [s] = await connector.push(ctx, "supplier", [supplier])
    [p] = await connector.push(ctx, "product", [product])
    refs = {("supplier", "S-1"): s.external_id, ("product", "P-1"): p.external_id}
    orders = [push_item("purchase_order", {
        "id": f"PO-{i}", "number": f"PO-{i}", "supplier_id": "S-1", "status": "received",
        "ordered_at": f"2026-11-0{i + 1}T09:00:00Z",
        "lines": [{"product_id": "P-1", "quantity": "2", "unit_cost": "3.00"}],
    }, key=10 + i, references=refs) for i in range(5)]
    first = await connector.push(ctx, "purchase_order", orders)
    fake.forget_idempotency_keys()
    again = await connector.push(ctx, "purchase_order", [replace(o, retries=1) for o in orders])
    assert [r.external_id for r in again] == [r.external_id for r in first]
    assert _gets(fake, "/api.xro/2.0/PurchaseOrders") == 1
    assert len(fake.books[tenant].purchase_orders) == 5
