"""The connector's HTTP behaviour against the fake Xero: batching, per-element errors,
idempotency, payments after documents, and the classification of whole-call failures."""

from __future__ import annotations

import copy
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest

from app.connectors.errors import ConnectionBroken, PermanentError, RateLimited, TransientError
from app.connectors.xero import errors
from app.connectors.xero.connector import XeroConnector
from app.connectors.xero.settings import XeroSettings
from app.entities.schemas import PRODUCT_EXAMPLE, SALE_EXAMPLE, SHIFT_REPORT_EXAMPLE
from tests.fakes.fake_xero import FakeXero

from .conftest import app_settings, context_for, push_item


def customers(n: int, *, start: int = 0, version: str = "v1"):
    return [
        push_item("customer", {"id": f"C-{i}", "company_name": f"Customer {i}"}, key=i, version=version)
        for i in range(start, start + n)
    ]


class CountingLimiter:
    def __init__(self) -> None:
        self.slots = 0

    @asynccontextmanager
    async def slot(self):
        self.slots += 1
        yield


async def push_products(connector, ctx, *payloads):
    items = [push_item("product", p, key=100 + i, pos_id=p["id"]) for i, p in enumerate(payloads)]
    results = await connector.push(ctx, "product", items)
    assert all(r.ok for r in results), results
    return {item.pos_id: r.external_id for item, r in zip(items, results)}


async def setup_sale_refs(connector, ctx):
    product_ids = await push_products(connector, ctx, PRODUCT_EXAMPLE)
    [customer] = await connector.push(
        ctx, "customer", [push_item("customer", {"id": "C-1001", "first_name": "Ana", "last_name": "Lopez"}, key=50)]
    )
    return {("customer", "C-1001"): customer.external_id, ("product", "P-3001"): product_ids["P-3001"]}


# --- batching and per-element results -------------------------------------------------------------


async def test_120_contacts_go_in_three_calls_of_at_most_50(fake, tenant, connector):
    limiter = CountingLimiter()
    ctx = context_for(fake, tenant, limiter=limiter)
    results = await connector.push(ctx, "customer", customers(120))
    assert fake.count("POST", "/Contacts") == 3
    assert max(c.elements for c in fake.calls) <= 50
    assert limiter.slots == 3
    assert all(r.ok and r.action == "created" for r in results)
    assert len({r.external_id for r in results}) == 120
    assert set(fake.books[tenant].contacts) == {r.external_id for r in results}


async def test_known_external_id_updates_and_says_updated(fake, tenant, ctx, connector):
    [first] = await connector.push(ctx, "customer", customers(1))
    renamed = push_item("customer", {"id": "C-0", "company_name": "Renamed"}, key=0, external_id=first.external_id, version="v2")
    [second] = await connector.push(ctx, "customer", [renamed])
    assert second.action == "updated" and second.external_id == first.external_id
    assert fake.books[tenant].contacts[first.external_id]["Name"] == "Renamed"
    assert len(fake.books[tenant].contacts) == 1


async def test_validation_error_goes_to_its_own_item_and_the_rest_succeed(fake, tenant, ctx, connector):
    await connector.push(ctx, "customer", [push_item("customer", {"id": "X-1", "company_name": "Customer 3"}, key=99)])
    batch = customers(5)
    results = {r.key: r for r in await connector.push(ctx, "customer", batch)}
    assert results[3].error is not None and results[3].error.code == "duplicate_contact_name"
    assert "Customer 3" in results[3].error.advice
    assert isinstance(results[3].error, PermanentError)
    assert all(results[k].ok for k in (0, 1, 2, 4))


async def test_name_clash_rule_add_pos_id_sends_the_name_again(fake, tenant, connector):
    ctx = context_for(fake, tenant, XeroSettings(duplicate_contact_names="add_pos_id"))
    await connector.push(ctx, "supplier", [push_item("supplier", {"id": "1001", "name": "Ana Lopez"}, key=1)])
    [result] = await connector.push(ctx, "customer", [push_item("customer", {"id": "1001", "first_name": "Ana", "last_name": "Lopez"}, key=2)])
    assert result.ok
    contact = fake.books[tenant].contacts[result.external_id]
    assert contact["Name"] == "Ana Lopez (1001)" and contact["ContactNumber"] == "CUS-1001"
    assert len(fake.books[tenant].contacts) == 2  # never merged into the supplier


async def test_mapping_errors_do_not_stop_the_rest(fake, tenant, ctx, connector):
    good = push_item("product", PRODUCT_EXAMPLE, key=1)
    bad = push_item("product", {**PRODUCT_EXAMPLE, "id": "P-2", "sku": "S" * 40}, key=2)
    results = {r.key: r for r in await connector.push(ctx, "product", [good, bad])}
    assert results[1].ok
    assert results[2].error.code == "item_code_too_long"
    assert fake.count("POST", "/Items") == 1


async def test_unknown_account_code_is_refused_with_advice(fake, tenant, connector):
    ctx = context_for(fake, tenant, XeroSettings(sales_inventory_account="999"))
    [result] = await connector.push(ctx, "product", [push_item("product", PRODUCT_EXAMPLE)])
    assert result.error.code == "account_code_invalid"
    assert "999" in result.error.advice


# --- idempotency ----------------------------------------------------------------------------------


async def test_retry_of_same_batch_reuses_idempotency_key_and_creates_nothing_new(fake, tenant, ctx, connector):
    batch = customers(3)
    fake.kill_next(1)  # Xero stores the contacts, the answer is lost
    with pytest.raises(TransientError):
        await connector.push(ctx, "customer", batch)
    assert len(fake.books[tenant].contacts) == 3
    results = await connector.push(ctx, "customer", list(reversed(batch)))
    first, second = fake.calls[0], fake.calls[1]
    assert first.idempotency_key and first.idempotency_key == second.idempotency_key
    assert len(first.idempotency_key) <= 128
    assert second.replayed
    assert len(fake.books[tenant].contacts) == 3
    assert {r.external_id for r in results} == set(fake.books[tenant].contacts)


async def test_changed_content_gets_a_new_idempotency_key(fake, tenant, ctx, connector):
    first = customers(2)
    await connector.push(ctx, "customer", first)
    renamed = [replace(c, payload={**c.payload, "company_name": c.payload["company_name"] + " Ltd"}) for c in first]
    await connector.push(ctx, "customer", renamed)
    assert fake.calls[0].idempotency_key != fake.calls[1].idempotency_key
    assert not fake.calls[1].replayed and fake.key_reuses == 0


async def test_a_retry_whose_body_changed_gets_a_new_key_not_a_refusal(fake, tenant, ctx, connector):
    # The sale's invoice was created but its payment failed; the retry sends the invoice again,
    # now carrying its InvoiceID: another request, so another key (Xero refuses one key, two bodies).
    refs = await setup_sale_refs(connector, ctx)
    sale = push_item("sale", copy.deepcopy(SALE_EXAMPLE), key=7, references=refs)
    fake.fail_next(1, status=503, path_prefix="/api.xro/2.0/Payments")
    [first] = await connector.push(ctx, "sale", [sale])
    assert first.error is not None and first.external_id
    [again] = await connector.push(ctx, "sale", [replace(sale, retries=1, external_id=first.external_id)])
    assert again.ok, again.error
    invoice_calls = [c for c in fake.calls if c.path.endswith("/Invoices") and c.method == "POST"]
    assert len({c.idempotency_key for c in invoice_calls}) == len(invoice_calls) == 2
    assert fake.key_reuses == 0
    assert len(fake.books[tenant].invoices) == 1 and len(fake.books[tenant].payments) == 1


async def test_a_key_reuse_refusal_is_retried_under_a_fresh_key(fake, tenant, ctx, connector, monkeypatch):
    from app.connectors.xero import adapter

    monkeypatch.setattr(adapter, "request_key", lambda *a, fresh="", **k: f"possync-fixed{fresh}")
    await connector.push(ctx, "customer", customers(1))
    [result] = await connector.push(ctx, "customer", customers(1, start=1))  # another body, same key
    assert fake.key_reuses == 1
    assert result.ok and len(fake.books[tenant].contacts) == 2


# --- whole-call failures --------------------------------------------------------------------------


async def test_429_is_rate_limited_with_retry_after(tenant, connector):
    fake = FakeXero(per_minute=2, window_s=30)
    tenant = fake.add_tenant()
    conn = XeroConnector(app_settings(), transport=fake.transport())
    ctx = context_for(fake, tenant)
    await conn.push(ctx, "customer", customers(1, start=0))
    await conn.push(ctx, "customer", customers(1, start=1))
    with pytest.raises(RateLimited) as err:
        await conn.push(ctx, "customer", customers(1, start=2))
    assert 0 < err.value.retry_after_s <= 30
    assert err.value.http_status == 429
    await conn.aclose()


async def test_day_limit_breaks_the_connection_with_a_pause(fake, tenant, ctx, connector):
    fake.use_up_day(tenant)
    with pytest.raises(ConnectionBroken) as err:
        await connector.push(ctx, "customer", customers(1))
    assert err.value.code == "day_limit"
    assert err.value.pause_s == 3600


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_transient(fake, tenant, ctx, connector, status):
    fake.fail_next(1, status=status)
    with pytest.raises(TransientError) as err:
        await connector.push(ctx, "customer", customers(1))
    assert not isinstance(err.value, RateLimited)
    assert err.value.http_status == status
    assert fake.books[tenant].contacts == {}


async def test_timeout_is_transient_and_stores_nothing(fake, tenant, ctx, connector):
    fake.delay_next(1, seconds=5)
    with pytest.raises(TransientError) as err:
        await connector.push(ctx, "customer", customers(1))
    assert err.value.code == "network"
    assert fake.books[tenant].contacts == {}


async def test_401_breaks_the_connection(tenant):
    fake = FakeXero(check_tokens=True)
    tenant = fake.add_tenant()
    conn = XeroConnector(app_settings(), transport=fake.transport())
    ctx = context_for(fake, tenant)
    ctx.credentials.access_token = "not-a-token-xero-knows"
    with pytest.raises(ConnectionBroken) as err:
        await conn.push(ctx, "customer", customers(1))
    assert err.value.http_status == 401 and err.value.pause_s is None
    await conn.aclose()


async def test_unknown_tenant_breaks_the_connection(fake, tenant, ctx, connector):
    ctx.credentials.tenant_id = "00000000-0000-0000-0000-00000000dead"
    with pytest.raises(ConnectionBroken) as err:
        await connector.push(ctx, "customer", customers(1))
    assert err.value.http_status == 403


async def test_failure_after_a_first_chunk_is_reported_per_item(fake, tenant, ctx, connector):
    fake.fail_next(1, status=503, after=1)  # the second POST fails
    results = await connector.push(ctx, "customer", customers(60))
    assert fake.count("POST", "/Contacts") == 2
    ok = [r for r in results if r.ok]
    failed = [r for r in results if r.error]
    assert len(ok) == 50 and len(failed) == 10
    assert all(type(r.error) is TransientError and r.error.http_status == 503 for r in failed)
    assert len(fake.books[tenant].contacts) == 50


# --- sales, payments, shift reports ---------------------------------------------------------------


async def test_sale_posts_invoice_then_payments(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    sale = push_item("sale", copy.deepcopy(SALE_EXAMPLE), key=7, references=refs)
    other_worker = XeroConnector(app_settings(), transport=fake.transport())  # knows no item codes yet
    [result] = await other_worker.push(ctx, "sale", [sale])
    await other_worker.aclose()
    assert result.ok and result.action == "created"
    paths = [(c.method, c.path.rsplit("/", 1)[-1]) for c in fake.calls[-3:]]
    assert paths == [("GET", "Items"), ("POST", "Invoices"), ("PUT", "Payments")]
    invoice = fake.books[tenant].invoices[result.external_id]
    assert invoice["Status"] == "PAID" and invoice["Total"] == 44.0
    [payment] = fake.books[tenant].payments.values()
    assert payment["Account"] == {"Code": "091"} and payment["Amount"] == 44.0


async def test_payment_failure_keeps_the_invoice_id_and_retry_adds_only_missing_payments(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    payload = {**copy.deepcopy(SALE_EXAMPLE), "payments": [
        {"payment_type": "Card", "amount": "30.00"}, {"payment_type": "Cash", "amount": "14.00"}]}
    fake.fail_next(1, status=503, path_prefix="/api.xro/2.0/Payments")
    [result] = await connector.push(ctx, "sale", [push_item("sale", payload, key=7, references=refs)])
    assert isinstance(result.error, TransientError) and result.external_id
    assert fake.books[tenant].payments == {}
    retry = push_item("sale", payload, key=7, references=refs, external_id=result.external_id)
    [again] = await connector.push(ctx, "sale", [retry])
    assert again.ok and again.action == "updated" and again.external_id == result.external_id
    assert len(fake.books[tenant].invoices) == 1 and len(fake.books[tenant].payments) == 2
    [replayed] = await connector.push(ctx, "sale", [retry])  # same key within Xero's window: replayed
    assert replayed.ok and len(fake.books[tenant].payments) == 2
    changed = push_item("sale", {**payload, "date": "2026-11-26T10:00:00Z"}, key=7, references=refs,
                        external_id=result.external_id, version="v2")
    [third] = await connector.push(ctx, "sale", [changed])  # paid in full: edits are refused with advice
    assert third.error.code == "document_has_payments"
    assert len(fake.books[tenant].payments) == 2


async def test_refund_posts_credit_note_then_refund_payment(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    payload = {**copy.deepcopy(SALE_EXAMPLE), "status": "refund", "payments": [{"payment_type": "Cash", "amount": "-44.00"}]}
    [result] = await connector.push(ctx, "sale", [push_item("sale", payload, key=8, references=refs)])
    assert result.ok
    note = fake.books[tenant].credit_notes[result.external_id]
    assert note["Type"] == "ACCRECCREDIT" and note["Status"] == "PAID"


async def test_shift_report_posts_summary_invoice_and_payments(fake, tenant, connector):
    ctx = context_for(fake, tenant, XeroSettings(sales_mode="shift_totals"))
    report = copy.deepcopy(SHIFT_REPORT_EXAMPLE)
    report["totals_by_payment_type"] = [{"payment_type": "Card", "amount": "30.00"}, {"payment_type": "Cash", "amount": "14.00"}]
    [result] = await connector.push(ctx, "shift_report", [push_item("shift_report", report)])
    assert result.ok
    invoice = fake.books[tenant].invoices[result.external_id]
    assert invoice["Total"] == 44.0 and invoice["Status"] == "PAID"
    assert invoice["Contact"]["Name"] == "Walk-in customer"
    assert fake.count("GET", "/Items") == 0


async def test_purchase_order_needs_supplier_and_items(fake, tenant, ctx, connector):
    from app.entities.schemas import PURCHASE_ORDER_EXAMPLE

    products = await push_products(connector, ctx, PRODUCT_EXAMPLE)
    [supplier] = await connector.push(ctx, "supplier", [push_item("supplier", {"id": "S-2001", "name": "Harbour"}, key=9)])
    refs = {("supplier", "S-2001"): supplier.external_id, ("product", "P-3001"): products["P-3001"]}
    [result] = await connector.push(ctx, "purchase_order", [push_item("purchase_order", PURCHASE_ORDER_EXAMPLE, references=refs)])
    assert result.ok
    po = fake.books[tenant].purchase_orders[result.external_id]
    assert po["Status"] == "AUTHORISED" and po["LineItems"][0]["ItemCode"] == "BEANS-HOUSE-1KG"
    assert fake.count("GET", "/Items") == 0  # codes remembered from the product push


async def test_request_level_refusal_is_reported_on_each_item(tenant):
    import respx

    conn = XeroConnector(app_settings("https://api.xero.test"))
    ctx = context_for(FakeXero(), tenant)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://api.xero.test/api.xro/2.0/Contacts").respond(
            400, json={"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": "Invalid JSON"}
        )
        results = await conn.push(ctx, "customer", customers(2))
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"].startswith("possync-")
    assert request.headers["xero-tenant-id"] == tenant
    assert request.headers["Authorization"].startswith("Bearer ")
    assert request.url.params["summarizeErrors"] == "false"
    assert all(isinstance(r.error, PermanentError) and r.error.http_status == 400 for r in results)
    await conn.aclose()


# --- classification of answers --------------------------------------------------------------------


def response(status: int, *, headers=None, json=None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {}, json=json if json is not None else {})


def test_classify_429_minute_and_day():
    minute = errors.from_response(response(429, headers={"Retry-After": "17", "X-Rate-Limit-Problem": "minute"}))
    assert isinstance(minute, RateLimited) and minute.retry_after_s == 17
    day = errors.from_response(response(429, headers={"Retry-After": "5000", "X-Rate-Limit-Problem": "day"}))
    assert isinstance(day, ConnectionBroken) and day.pause_s == 5000


def test_classify_auth_and_server_errors():
    assert isinstance(errors.from_response(response(401, json={"Detail": "TokenExpired: token expired"})), ConnectionBroken)
    assert errors.from_response(response(401, json={"Detail": "TokenExpired"})).code == "token_expired"
    assert errors.from_response(response(403)).code == "reconnect_required"
    assert type(errors.from_response(response(503))) is TransientError
    assert isinstance(errors.from_response(response(404)), PermanentError)
    validation = response(400, json={"Type": "ValidationException", "Elements": [{"ValidationErrors": []}]})
    assert errors.from_response(validation) is None  # read element by element


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Account code '477' has been archived, or has been deleted.", "archived_in_xero"),
        ("The TaxType code 'OUTPUT2' cannot be used with account code '090'.", "tax_type_invalid"),
        ("Invoice # must be unique.", "duplicate_document_number"),
        ("Payments can only be made against Authorised documents.", "document_not_authorised"),
        ("The Code must be 30 characters or less.", "item_code_too_long"),
        ("The contact name Ana is already assigned to another contact.", "duplicate_contact_name"),
        ("Something new", "validation"),
    ],
)
def test_validation_messages_map_to_advice(message, code):
    error = errors.element_error([message])
    assert error.code == code and error.advice


async def test_spent_day_budget_pauses_before_calling(fake, tenant, ctx, connector):
    fake.per_day = 1
    first = await connector.push(ctx, "customer", [push_item("customer", {"id": "C-1", "first_name": "Ana"})])
    assert first[0].ok
    calls = len(fake.calls)
    with pytest.raises(ConnectionBroken) as broken:
        await connector.push(ctx, "customer", [push_item("customer", {"id": "C-2", "first_name": "Bo"}, key=2)])
    assert broken.value.code == "day_limit" and broken.value.pause_s
    assert len(fake.calls) == calls  # no call spent on a certain refusal


def _retried(item, fake):
    fake.forget_idempotency_keys()  # as if the retry came more than six minutes later
    return replace(item, retries=1)


async def test_retried_sale_adopts_the_invoice_an_unanswered_try_created(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    sale = push_item("sale", copy.deepcopy(SALE_EXAMPLE), key=7, references=refs)
    [first] = await connector.push(ctx, "sale", [sale])  # as if its answer had been lost
    [again] = await connector.push(ctx, "sale", [_retried(sale, fake)])
    assert again.ok and again.action == "created" and again.external_id == first.external_id
    assert len(fake.books[tenant].invoices) == 1 and len(fake.books[tenant].payments) == 1
    assert ("GET", "/api.xro/2.0/Invoices") in [(c.method, c.path) for c in fake.calls]


async def test_retried_sale_does_not_adopt_someone_elses_invoice_number(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    sale = push_item("sale", copy.deepcopy(SALE_EXAMPLE), key=7, references=refs)
    [first] = await connector.push(ctx, "sale", [sale])
    fake.books[tenant].invoices[first.external_id]["Reference"] = "typed in Xero by hand"
    [again] = await connector.push(ctx, "sale", [_retried(sale, fake)])
    assert again.error is not None and again.error.code == "duplicate_document_number"
    assert len(fake.books[tenant].invoices) == 1


async def test_retried_purchase_order_is_looked_up_by_number(fake, tenant, ctx, connector):
    supplier = push_item("supplier", {"id": "S-1", "name": "Harbour Coffee"}, key=1)
    product = push_item("product", {"id": "P-1", "sku": "BEANS", "name": "Beans"}, key=2)
    [s] = await connector.push(ctx, "supplier", [supplier])
    [p] = await connector.push(ctx, "product", [product])
    order = push_item("purchase_order", {
        "id": "PO-1", "number": "PO-1", "supplier_id": "S-1", "status": "received",
        "lines": [{"product_id": "P-1", "quantity": "2", "unit_cost": "3.00"}],
    }, key=3, references={("supplier", "S-1"): s.external_id, ("product", "P-1"): p.external_id})
    [first] = await connector.push(ctx, "purchase_order", [order])
    [again] = await connector.push(ctx, "purchase_order", [_retried(order, fake)])
    assert again.ok and again.external_id == first.external_id
    assert len(fake.books[tenant].purchase_orders) == 1
    unknown = _retried(push_item("purchase_order", {**order.payload, "id": "PO-2", "number": "PO-2"}, key=4,
                                 references=order.references), fake)
    [created] = await connector.push(ctx, "purchase_order", [unknown])  # 404 on look-up: created
    assert created.ok and len(fake.books[tenant].purchase_orders) == 2


async def test_retried_sale_whose_invoice_is_already_paid_goes_on_from_xero(fake, tenant, ctx, connector):
    refs = await setup_sale_refs(connector, ctx)
    payload = {**copy.deepcopy(SALE_EXAMPLE), "payments": [
        {"payment_type": "Card", "amount": "30.00"}, {"payment_type": "Cash", "amount": "14.00"}]}
    sale = push_item("sale", payload, key=7, references=refs)
    [first] = await connector.push(ctx, "sale", [sale])  # invoice and both payments reach Xero...
    assert first.ok
    # ...but the answer was lost after the invoice: the engine retries with the id it kept, after
    # Xero forgot the idempotency key.
    retry = _retried(push_item("sale", payload, key=7, references=refs, external_id=first.external_id), fake)
    [again] = await connector.push(ctx, "sale", [retry])
    assert again.ok and again.external_id == first.external_id
    assert len(fake.books[tenant].payments) == 2  # nothing paid twice
    changed = push_item("sale", {**payload, "note": "edited"}, key=7, references=refs,
                        external_id=first.external_id, version="v2")
    [refused] = await connector.push(ctx, "sale", [changed])  # a real edit of a paid invoice
    assert refused.error is not None and refused.error.code == "document_has_payments"


async def _orders(connector, ctx, n: int):
    supplier = push_item("supplier", {"id": "S-1", "name": "Harbour Coffee"}, key=1)
    product = push_item("product", {"id": "P-1", "sku": "BEANS", "name": "Beans"}, key=2)
    [s] = await connector.push(ctx, "supplier", [supplier])
    [p] = await connector.push(ctx, "product", [product])
    refs = {("supplier", "S-1"): s.external_id, ("product", "P-1"): p.external_id}
    return [
        push_item("purchase_order", {
            "id": f"PO-{i}", "number": f"PO-{i}", "supplier_id": "S-1", "status": "received",
            "ordered_at": f"2026-11-{10 + i}T09:00:00Z",
            "lines": [{"product_id": "P-1", "quantity": "2", "unit_cost": "3.00"}],
        }, key=10 + i, references=refs)
        for i in range(n)
    ]


async def test_retried_purchase_orders_are_looked_up_with_one_list_call(fake, tenant, ctx, connector):
    orders = await _orders(connector, ctx, 5)
    firsts = await connector.push(ctx, "purchase_order", orders[:3])  # answers lost, as far as we know
    calls = len(fake.calls)
    again = await connector.push(ctx, "purchase_order", [_retried(o, fake) for o in orders])
    assert [r.external_id for r in again[:3]] == [r.external_id for r in firsts]
    assert all(r.ok for r in again) and len(fake.books[tenant].purchase_orders) == 5
    made = [(c.method, c.path) for c in fake.calls[calls:]]
    assert made.count(("GET", "/api.xro/2.0/PurchaseOrders")) == 1  # not one GET per number
    assert made.count(("POST", "/api.xro/2.0/PurchaseOrders")) == 1  # the two it did not find


async def test_a_failed_look_up_fails_only_its_own_records(fake, tenant, ctx, connector):
    orders = await _orders(connector, ctx, 3)
    await connector.push(ctx, "purchase_order", orders[:1])
    fake.fail_next(1, status=503, path_prefix="/api.xro/2.0/PurchaseOrders")  # the look-up fails
    retried, fresh = _retried(orders[0], fake), orders[1:]
    results = await connector.push(ctx, "purchase_order", [retried, *fresh])
    assert isinstance(results[0].error, TransientError)  # tried again later
    assert all(r.ok for r in results[1:])  # the others went on
    assert len(fake.books[tenant].purchase_orders) == 3
