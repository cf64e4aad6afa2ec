"""The QuickBooks connector against the fake QuickBooks: every entity type, both sales modes, US and
non-US tax, batches and requestids, stale SyncTokens, duplicate names, lost answers, faults."""

from __future__ import annotations

import copy
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.connectors.errors import ConnectionBroken, PermanentError, RateLimited, TokenRefused, TransientError
from app.connectors.quickbooks import QuickBooksSettings
from app.entities.schemas import (
    CUSTOMER_EXAMPLE,
    PRODUCT_EXAMPLE,
    PURCHASE_ORDER_EXAMPLE,
    SALE_EXAMPLE,
    SHIFT_REPORT_EXAMPLE,
    SUPPLIER_EXAMPLE,
)

from .conftest import GLOBAL_TAX, context_for, push_item


class CountingLimiter:
    def __init__(self) -> None:
        self.slots: list[tuple[str, ...]] = []

    @asynccontextmanager
    async def slot(self, *buckets):
        self.slots.append(buckets)
        yield


async def one(connector, ctx, entity_type, payload, *, key=1, **kw):
    [result] = await connector.push(ctx, entity_type, [push_item(entity_type, copy.deepcopy(payload), key=key, **kw)])
    return result


async def refs(connector, ctx):
    customer = await one(connector, ctx, "customer", CUSTOMER_EXAMPLE, key=1)
    supplier = await one(connector, ctx, "supplier", SUPPLIER_EXAMPLE, key=2)
    product = await one(connector, ctx, "product", PRODUCT_EXAMPLE, key=3)
    assert customer.ok and supplier.ok and product.ok, (customer, supplier, product)
    return {("customer", "C-1001"): customer.external_id, ("supplier", "S-2001"): supplier.external_id,
            ("product", "P-3001"): product.external_id}


def objects(fake, realm, entity):
    return fake.companies[realm].created(entity)


# --- every entity type ----------------------------------------------------------------------------


async def test_every_entity_type_reaches_quickbooks_as_its_object(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    po = await one(connector, ctx, "purchase_order", PURCHASE_ORDER_EXAMPLE, key=4, references=ids)
    sale = await one(connector, ctx, "sale", SALE_EXAMPLE, key=5, references=ids)
    totals = context_for(fake, realm, QuickBooksSettings(sales_mode="shift_totals"))
    shift = await one(connector, totals, "shift_report", SHIFT_REPORT_EXAMPLE, key=6)
    assert po.ok and sale.ok and shift.ok, (po.error, sale.error, shift.error)
    (customer,) = objects(fake, realm, "Customer")
    assert customer["DisplayName"] == "Ana Lopez" and customer["Notes"] == "POS customer C-1001"
    (vendor,) = objects(fake, realm, "Vendor")
    assert vendor["DisplayName"] == "Harbour Coffee Roasters" and vendor["AcctNum"] == "HCR-77"
    (item,) = objects(fake, realm, "Item")
    assert item["Type"] == "Inventory" and item["TrackQtyOnHand"] is True and item["QtyOnHand"] == 40
    assert item["AssetAccountRef"] == {"value": "81"} and item["Sku"] == "BEANS-HOUSE-1KG"
    (order,) = objects(fake, realm, "PurchaseOrder")
    assert order["VendorRef"]["value"] == ids[("supplier", "S-2001")]
    assert order["Line"][0]["DetailType"] == "ItemBasedExpenseLineDetail"
    receipts = {r["DocNumber"]: r for r in objects(fake, realm, "SalesReceipt")}
    paid = receipts["5001"]
    assert paid["PaymentMethodRef"] == {"value": "3"} and paid["DepositToAccountRef"] == {"value": "4"}
    assert paid["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "TAX"}  # US: automated sales tax
    assert "TxnTaxDetail" not in paid and "GlobalTaxCalculation" not in paid
    assert paid["Line"][1]["DetailType"] == "DiscountLineDetail" and paid["Line"][1]["Amount"] == 4.0
    assert receipts["SHIFT-6001"]["PrivateNote"] == "POS shift SHIFT-6001"
    assert sale.remote_version == "0" and sale.request_id


async def test_products_become_inventory_non_inventory_or_service_items(fake, realm, ctx, connector):
    kinds = {}
    for key, extra in enumerate(({"tracked": True}, {"tracked": False}, {"service": True}), start=1):
        payload = {**PRODUCT_EXAMPLE, "id": f"P-{key}", "sku": f"SKU-{key}", "name": f"Thing {key}", **extra}
        result = await one(connector, ctx, "product", payload, key=key)
        assert result.ok, result.error
        kinds[f"Thing {key}"] = fake.companies[realm].objects["Item"][result.external_id]["Type"]
    assert kinds == {"Thing 1": "Inventory", "Thing 2": "NonInventory", "Thing 3": "Service"}


async def test_sales_paid_at_the_till_on_account_refunded_or_with_several_payment_types(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    base = {k: v for k, v in SALE_EXAMPLE.items() if k != "payments"}
    mixed = {**base, "id": "S-2", "number": "2", "payments": [{"payment_type": "Card", "amount": "20"},
                                                               {"payment_type": "Cash", "amount": "24"}]}
    on_account = {**base, "id": "S-3", "number": "3", "payments": []}
    refund = {**base, "id": "S-4", "number": "4", "status": "refund",
              "payments": [{"payment_type": "Cash", "amount": "-44"}]}
    for key, payload in enumerate((mixed, on_account, refund), start=10):
        result = await one(connector, ctx, "sale", payload, key=key, references=ids)
        assert result.ok, (payload["id"], result.error)
    assert objects(fake, realm, "SalesReceipt") == []
    # Several payment types: an Invoice paid by one Payment per payment, each to its own account.
    invoices = {invoice["DocNumber"]: invoice for invoice in objects(fake, realm, "Invoice")}
    assert invoices["2"]["Balance"] == 0.0 and invoices["3"]["Balance"] == 44.0
    assert sorted((p["TotalAmt"], p["DepositToAccountRef"]["value"]) for p in objects(fake, realm, "Payment")) == [
        (20.0, "4"), (24.0, "35")]
    assert invoices["3"]["CustomerRef"]["value"] == ids[("customer", "C-1001")]
    (refunded,) = objects(fake, realm, "RefundReceipt")
    assert refunded["DepositToAccountRef"] == {"value": "35"} and refunded["PaymentMethodRef"] == {"value": "1"}


async def test_voided_and_parked_sales_are_skipped_with_the_reason(connector):
    individual, totals = QuickBooksSettings(), QuickBooksSettings(sales_mode="shift_totals")
    assert "Voided" in connector.skip_reason("sale", {**SALE_EXAMPLE, "status": "voided"}, individual)
    assert "Parked" in connector.skip_reason("sale", {**SALE_EXAMPLE, "status": "parked"}, individual)
    # Which document carries a sale's revenue (the sale or its shift's summary) depends on the mode
    # at the shift's close: the engine judges that (app.sync.coverage), not the connector.
    assert connector.skip_reason("sale", SALE_EXAMPLE, totals) is None
    assert connector.skip_reason("shift_report", SHIFT_REPORT_EXAMPLE, individual) is None


async def test_companies_outside_the_us_get_tax_codes_and_global_tax_calculation(fake, uk_realm, connector):
    ctx = context_for(fake, uk_realm, QuickBooksSettings(tax_codes=GLOBAL_TAX))
    ids = await refs(connector, ctx)
    result = await one(connector, ctx, "sale", SALE_EXAMPLE, key=5, references=ids)
    assert result.ok, result.error
    (receipt,) = objects(fake, uk_realm, "SalesReceipt")
    assert receipt["GlobalTaxCalculation"] == "TaxInclusive"
    assert receipt["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "2"}
    (item,) = objects(fake, uk_realm, "Item")
    assert item["SalesTaxCodeRef"] == {"value": "2"} and "Taxable" not in item
    # The company's kind was read from Preferences once, not per push.
    assert fake.count("preferences") == 1


async def test_an_unmapped_tax_rate_outside_the_us_fails_with_advice_naming_it(fake, uk_realm, connector):
    ctx = context_for(fake, uk_realm, QuickBooksSettings(tax_codes={"VAT 5%": "3"}))
    result = await one(connector, ctx, "product", PRODUCT_EXAMPLE)
    assert result.error.code == "tax_rate_unmapped" and "VAT 20%" in result.error.advice


# --- batches, requestids, limits -------------------------------------------------------------------


async def test_65_customers_go_in_three_batches_each_with_its_requestid_and_minorversion(fake, realm, connector):
    limiter = CountingLimiter()
    ctx = context_for(fake, realm, limiter=limiter)
    items = [push_item("customer", {"id": f"C-{i}", "first_name": f"Name {i}"}, key=i) for i in range(65)]
    results = await connector.push(ctx, "customer", items)
    assert all(r.ok for r in results)
    batches = [c for c in fake.calls if c.kind == "batch"]
    assert sorted(c.operations for c in batches) == [5, 30, 30]
    assert all(c.minorversion == "75" and c.accept == "application/json" for c in fake.calls)
    assert all(c.requestid and len(c.requestid) <= 36 for c in batches)
    assert limiter.slots.count(("batch",)) == 3  # batch calls spend the batch bucket too
    assert len(objects(fake, realm, "Customer")) == 65


async def test_a_lost_answer_is_replayed_by_requestid_and_creates_nothing_twice(fake, realm, ctx, connector):
    items = [push_item("customer", {"id": f"C-{i}", "first_name": f"N{i}"}, key=i) for i in range(3)]
    fake.kill_next(1)
    with pytest.raises(TransientError):
        await connector.push(ctx, "customer", items)
    assert len(objects(fake, realm, "Customer")) == 3  # stored, answer lost
    # The same call again (a worker died before writing anything down, so no retry was counted).
    again = await connector.push(ctx, "customer", items)
    assert all(r.ok and r.action == "created" for r in again)
    assert len(objects(fake, realm, "Customer")) == 3
    assert [c.replayed for c in fake.calls if c.kind == "batch"] == [False, True]
    # A retry the engine counted looks its objects up first, and adopts them as this record's.
    counted = await connector.push(ctx, "customer", [push_item(i.entity_type, i.payload, key=i.key, retries=1)
                                                      for i in items])
    assert [r.external_id for r in counted] == [r.external_id for r in again]
    assert len(objects(fake, realm, "Customer")) == 3


async def test_after_quickbooks_forgot_the_requestid_a_retried_create_adopts_its_object(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    sale = push_item("sale", copy.deepcopy(SALE_EXAMPLE), key=5, references=ids)
    fake.kill_next(1)
    with pytest.raises(TransientError):
        await connector.push(ctx, "sale", [sale])
    fake.forget_requestids()
    [result] = await connector.push(ctx, "sale", [push_item("sale", sale.payload, key=5, references=ids, retries=1)])
    assert result.ok and result.external_id == objects(fake, realm, "SalesReceipt")[0]["Id"]
    assert len(objects(fake, realm, "SalesReceipt")) == 1


def _customers(n: int, *, start: int = 0):
    return [push_item("customer", {"id": f"C-{i}", "first_name": f"N{i}"}, key=i) for i in range(start, start + n)]


async def _lost(fake, connector, ctx, items, *, ago: timedelta = timedelta(seconds=5)):
    """Push with the answer lost (QuickBooks holds the objects); each comes back as the engine hands
    it over for the retry: the lost batch's requestid and when its first try was made."""
    fake.kill_next(1)
    with pytest.raises(TransientError) as lost:
        await connector.push(ctx, "customer", items)
    assert lost.value.call_key
    when = datetime.now(timezone.utc) - ago
    return [replace(i, retries=1, lost_call_key=lost.value.call_key, first_unanswered_at=when) for i in items]


def _queries(fake) -> int:
    return sum(1 for c in fake.calls if c.kind == "query")


async def test_a_batch_intuit_still_remembers_is_sent_again_without_a_look_up(fake, realm, ctx, connector):
    items = await _lost(fake, connector, ctx, _customers(3))
    again = await connector.push(ctx, "customer", items)
    assert all(r.ok and r.action == "created" for r in again), [r.error for r in again]
    assert _queries(fake) == 0
    assert [c.replayed for c in fake.calls if c.kind == "batch"] == [False, True]
    assert len(objects(fake, realm, "Customer")) == 3
    assert {r.external_id for r in again} == {o["Id"] for o in objects(fake, realm, "Customer")}


async def test_a_batch_that_changed_is_looked_up_and_its_objects_adopted(fake, realm, ctx, connector):
    items = await _lost(fake, connector, ctx, _customers(3))
    # A fourth customer joins the retry: another body under another requestid, which Intuit never saw.
    again = await connector.push(ctx, "customer", items + _customers(1, start=3))
    assert all(r.ok and r.action in ("created", "updated") for r in again), [r.error for r in again]
    assert _queries(fake) == 1
    assert len(objects(fake, realm, "Customer")) == 4
    assert {r.external_id for r in again} == {o["Id"] for o in objects(fake, realm, "Customer")}


async def test_a_batch_past_intuits_memory_is_looked_up_and_its_objects_adopted(fake, realm, ctx, connector):
    items = await _lost(fake, connector, ctx, _customers(3), ago=timedelta(minutes=6))
    fake.forget_requestids()
    again = await connector.push(ctx, "customer", items)
    assert all(r.ok for r in again), [r.error for r in again]
    assert _queries(fake) == 1
    assert len(objects(fake, realm, "Customer")) == 3
    assert {r.external_id for r in again} == {o["Id"] for o in objects(fake, realm, "Customer")}


async def test_a_record_changed_after_its_create_was_lost_is_looked_up_and_adopted(fake, realm, ctx, connector):
    # The POS sent new content after the lost create: the engine's re-pend set retries to 0 and
    # forgot the old call's key, but not that a create went unanswered. QuickBooks holds the object
    # of the old content: the new create finds it by its name and updates it, rather than make a
    # second one. (A new name cannot be found that way: QuickBooks filters names, not Notes.)
    items = await _lost(fake, connector, ctx, _customers(1))
    fake.forget_requestids()
    changed = push_item("customer", {"id": "C-0", "first_name": "N0", "email": "n0@example.com"}, key=0)
    changed = replace(changed, first_unanswered_at=items[0].first_unanswered_at)
    again = await connector.push(ctx, "customer", [changed])
    assert again[0].ok, again[0].error
    assert _queries(fake) == 1
    assert len(objects(fake, realm, "Customer")) == 1
    assert again[0].external_id == objects(fake, realm, "Customer")[0]["Id"]


async def test_a_create_lost_again_after_its_look_up_reports_the_batch_and_that_it_was_looked_up(
        fake, realm, ctx, connector):
    first, second = _customers(2)
    fake.fail_next(1)  # the look-up finds nothing (the earlier try never arrived); the batch fails
    again = await connector.push(ctx, "customer", [replace(first, retries=1), second])
    assert _queries(fake) == 1
    assert all(isinstance(r.error, TransientError) for r in again)
    assert again[0].call_key and again[0].call_key == again[1].call_key
    assert [r.looked_up for r in again] == [True, False]


async def test_a_stale_sync_token_is_read_again_and_the_update_sent_once_more(fake, realm, ctx, connector):
    first = await one(connector, ctx, "customer", CUSTOMER_EXAMPLE)
    fake.edit_in_quickbooks(realm, "Customer", first.external_id)  # someone edits it in QuickBooks
    second = await one(connector, ctx, "customer", {**CUSTOMER_EXAMPLE, "email": "ana@example.org"},
                       external_id=first.external_id, remote_version=first.remote_version, version="v2")
    assert second.ok and second.action == "updated" and second.remote_version == "2", second.error
    (customer,) = objects(fake, realm, "Customer")
    assert customer["PrimaryEmailAddr"] == {"Address": "ana@example.org"}
    assert fake.count("query") == 1


async def test_a_display_name_used_by_an_employee_gets_advice_or_the_pos_id_as_chosen(fake, realm, connector):
    fake.add_employee(realm, "Ana Lopez")
    ctx = context_for(fake, realm)
    refused = await one(connector, ctx, "customer", CUSTOMER_EXAMPLE)
    assert refused.error.code == "duplicate_name" and "employee" in refused.error.advice
    renaming = context_for(fake, realm, QuickBooksSettings(duplicate_names="add_pos_id"))
    renamed = await one(connector, renaming, "customer", CUSTOMER_EXAMPLE)
    assert renamed.ok
    assert objects(fake, realm, "Customer")[0]["DisplayName"] == "Ana Lopez (C-1001)"


async def test_a_pos_number_too_long_for_doc_number_is_advice_not_a_cut(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    result = await one(connector, ctx, "sale", {**SALE_EXAMPLE, "number": "2026-11-27-REG1-000123"}, key=9,
                       references=ids)
    assert result.error.code == "doc_number_too_long" and "21" in result.error.advice
    assert not objects(fake, realm, "SalesReceipt")


async def test_an_unknown_account_comes_back_as_advice_naming_it(fake, realm, connector):
    ctx = context_for(fake, realm, QuickBooksSettings(sales_service_account="999"))
    result = await one(connector, ctx, "product", {**PRODUCT_EXAMPLE, "service": True})
    assert result.error.code == "invalid_reference" and "Account 999" in result.error.advice
    assert result.error.request_id  # the batch's intuit_tid, for Intuit's support


# --- whole-call failures --------------------------------------------------------------------------


async def test_a_fault_with_http_200_fails_the_records_with_intuits_detail(fake, realm, ctx, connector):
    fake.fault_next(1)
    [result] = await connector.push(ctx, "customer", [push_item("customer", CUSTOMER_EXAMPLE)])
    assert isinstance(result.error, PermanentError) and "Injected whole-call fault" in result.error.advice
    assert not objects(fake, realm, "Customer")


async def test_throttling_with_an_xml_body_is_a_rate_limit_of_60_seconds(fake, ctx, connector):
    fake.throttle_next(1)
    with pytest.raises(RateLimited) as caught:
        await connector.push(ctx, "customer", [push_item("customer", CUSTOMER_EXAMPLE)])
    assert caught.value.retry_after_s == 60.0


async def test_5xx_and_timeouts_are_transient(fake, ctx, connector):
    fake.fail_next(1, status=503)
    with pytest.raises(TransientError):
        await connector.push(ctx, "customer", [push_item("customer", CUSTOMER_EXAMPLE)])
    fake.delay_next(1, seconds=3.0)  # the connector's time-out is 2 s
    with pytest.raises(TransientError) as caught:
        await connector.push(ctx, "customer", [push_item("customer", CUSTOMER_EXAMPLE)])
    assert caught.value.code == "network"


async def test_an_expired_token_is_refused_as_such_and_a_foreign_company_as_reconnect(fake, realm, connector):
    ctx = context_for(fake, realm)
    fake.expire_access_tokens()
    with pytest.raises(TokenRefused):
        await connector.push(ctx, "customer", [push_item("customer", CUSTOMER_EXAMPLE)])
    foreign = context_for(fake, "123")
    with pytest.raises(ConnectionBroken) as caught:
        await connector.push(foreign, "customer", [push_item("customer", CUSTOMER_EXAMPLE)])
    assert not isinstance(caught.value, TokenRefused) and "Reconnect" in caught.value.advice


async def test_an_update_without_a_known_sync_token_reads_it_first(fake, realm, ctx, connector):
    first = await one(connector, ctx, "supplier", SUPPLIER_EXAMPLE)
    fake.edit_in_quickbooks(realm, "Vendor", first.external_id)
    again = await one(connector, ctx, "supplier", {**SUPPLIER_EXAMPLE, "phone": "+44 1"}, external_id=first.external_id,
                      version="v2")  # a link from before versions were kept: no remote_version
    assert again.ok and again.remote_version == "2" and fake.count("query") == 1


async def test_an_object_deleted_in_quickbooks_comes_back_as_advice(fake, realm, ctx, connector):
    first = await one(connector, ctx, "customer", CUSTOMER_EXAMPLE)
    del fake.companies[realm].objects["Customer"][first.external_id]
    again = await one(connector, ctx, "customer", {**CUSTOMER_EXAMPLE, "phone": "+44 1"},
                      external_id=first.external_id, remote_version=first.remote_version, version="v2")
    assert again.error.code == "object_inactive" and "active again" in again.error.advice


async def test_a_lost_renamed_create_is_adopted_under_its_new_name(fake, realm, connector):
    fake.add_employee(realm, "Ana Lopez")
    ctx = context_for(fake, realm, QuickBooksSettings(duplicate_names="add_pos_id"))
    # What a lost, renamed try left behind in QuickBooks (and Intuit has forgotten its requestid).
    company = fake.companies[realm]
    fake._store(company, "Customer", {"DisplayName": "Ana Lopez (C-1001)", "Notes": "POS customer C-1001"})  # noqa: SLF001
    [again] = await connector.push(ctx, "customer", [push_item("customer", CUSTOMER_EXAMPLE, retries=1)])
    assert again.ok and again.action == "created"
    assert [c["DisplayName"] for c in objects(fake, realm, "Customer")] == ["Ana Lopez (C-1001)"]


async def test_a_renamed_customer_keeps_its_name_on_later_updates(fake, realm, connector):
    fake.add_employee(realm, "Ana Lopez")
    ctx = context_for(fake, realm, QuickBooksSettings(duplicate_names="add_pos_id"))
    first = await one(connector, ctx, "customer", CUSTOMER_EXAMPLE)
    again = await one(connector, ctx, "customer", {**CUSTOMER_EXAMPLE, "phone": "+44 1"}, version="v2",
                      external_id=first.external_id, remote_version=first.remote_version)
    assert again.ok, again.error
    (customer,) = objects(fake, realm, "Customer")
    assert customer["DisplayName"] == "Ana Lopez (C-1001)" and customer["PrimaryPhone"] == {"FreeFormNumber": "+44 1"}


async def test_each_batch_is_announced_with_its_requestid_and_not_sent_once_the_engine_lost_it(fake, realm, ctx,
                                                                                                connector):
    from app.sync.announce import LeaseLost

    customers = [push_item("customer", {"id": f"C-{i}", "first_name": f"Ann {i}"}, key=i) for i in range(3)]
    announced: list[tuple[str, list[int], int]] = []

    async def announcer(key, item_keys, looked_up):
        announced.append((key, sorted(item_keys), len(fake.calls)))

    assert all(r.ok for r in await connector.push(replace(ctx, announcer=announcer), "customer", customers))
    batches = [(n, c) for n, c in enumerate(fake.calls) if c.kind == "batch"]
    assert [(key, keys) for key, keys, _ in announced] == [(batches[0][1].requestid, [0, 1, 2])]
    assert announced[0][2] <= batches[0][0]  # written before the call reached Intuit

    async def taken_over(key, item_keys, looked_up):
        raise LeaseLost("held by another job")

    before = len(fake.calls)
    more = [push_item("customer", {"id": "C-9", "first_name": "Bo"}, key=9)]
    with pytest.raises(LeaseLost):
        await connector.push(replace(ctx, announcer=taken_over), "customer", more)
    assert not [c for c in fake.calls[before:] if c.kind == "batch"]
    assert len(fake.companies[realm].created("Customer")) == 3
