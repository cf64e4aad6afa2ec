"""Undoing in the fake QuickBooks what deleted or voided records put there: names made inactive with a
sparse update, receipts and invoices voided, orders and refund receipts deleted, refusals as advice."""

from __future__ import annotations

from app.connectors.quickbooks import QuickBooksSettings
from app.entities.schemas import PURCHASE_ORDER_EXAMPLE, SALE_EXAMPLE, SHIFT_REPORT_EXAMPLE

from .conftest import context_for, push_item
from .test_connector import objects, one, refs

BASE = {k: v for k, v in SALE_EXAMPLE.items() if k != "payments"}


async def undo(connector, ctx, entity_type, payload, result, *, key):
    item = push_item(entity_type, payload, key=key, external_id=result.external_id)
    [out] = await connector.retract(ctx, entity_type, [item])
    return out


async def test_customers_suppliers_and_products_are_made_inactive_not_deleted(fake, realm, ctx, connector):
    await refs(connector, ctx)
    for entity_type, entity in (("customer", "Customer"), ("supplier", "Vendor"), ("product", "Item")):
        (obj,) = fake.companies[realm].created(entity)
        item = push_item(entity_type, {}, key=7, pos_id="X", external_id=obj["Id"])
        [out] = await connector.retract(ctx, entity_type, [item])
        assert out.ok and out.action == "archived", out.error
        assert fake.companies[realm].objects[entity][obj["Id"]]["Active"] is False
        assert fake.companies[realm].objects[entity][obj["Id"]]["SyncToken"] == "1"


async def test_receipts_and_invoices_are_voided_refunds_and_orders_deleted(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    paid = await one(connector, ctx, "sale", SALE_EXAMPLE, key=5, references=ids)
    owed = await one(connector, ctx, "sale", {**BASE, "id": "S-6", "number": "6", "payments": []}, key=6,
                     references=ids)
    refund = await one(connector, ctx, "sale", {**BASE, "id": "S-7", "number": "7", "status": "refund",
                                                "payments": [{"payment_type": "Cash", "amount": "44"}]},
                       key=7, references=ids)
    order = await one(connector, ctx, "purchase_order", PURCHASE_ORDER_EXAMPLE, key=8, references=ids)
    assert paid.ok and owed.ok and refund.ok and order.ok
    items = [push_item("sale", {**SALE_EXAMPLE, "status": "voided"}, key=5, external_id=paid.external_id),
             push_item("sale", {**BASE, "id": "S-6", "status": "voided"}, key=6, external_id=owed.external_id),
             push_item("sale", {**BASE, "id": "S-7"}, key=7, external_id=refund.external_id)]
    results = await connector.retract(ctx, "sale", items)
    assert [r.action for r in results] == ["voided", "voided", "deleted"], [r.error for r in results]
    (receipt,) = objects(fake, realm, "SalesReceipt")
    (invoice,) = objects(fake, realm, "Invoice")
    assert receipt["TotalAmt"] == 0 and invoice["TotalAmt"] == 0 and receipt["PrivateNote"].startswith("Voided")
    assert objects(fake, realm, "RefundReceipt") == []
    out = await undo(connector, ctx, "purchase_order", PURCHASE_ORDER_EXAMPLE, order, key=8)
    assert out.action == "deleted" and objects(fake, realm, "PurchaseOrder") == []
    # Undoing again finds the receipt already voided: nothing more is sent.
    [again] = await connector.retract(ctx, "sale", items[:1])
    assert again.action == "voided" and fake.companies[realm].objects["SalesReceipt"][receipt["Id"]]["SyncToken"] == "1"


async def test_a_shift_summary_is_voided(fake, realm, connector):
    ctx = context_for(fake, realm, QuickBooksSettings(sales_mode="shift_totals"))
    shift = await one(connector, ctx, "shift_report", SHIFT_REPORT_EXAMPLE, key=3)
    out = await undo(connector, ctx, "shift_report", SHIFT_REPORT_EXAMPLE, shift, key=3)
    assert out.action == "voided" and objects(fake, realm, "SalesReceipt")[0]["TotalAmt"] == 0


async def test_a_closed_period_is_advice_to_undo_by_hand(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    paid = await one(connector, ctx, "sale", SALE_EXAMPLE, key=5, references=ids)
    fake.close_books(realm, "2026-12-31")
    out = await undo(connector, ctx, "sale", {**SALE_EXAMPLE, "status": "voided"}, paid, key=5)
    assert not out.ok and out.error.code == "undo_refused"
    assert "void the sales receipt by hand" in out.error.advice and "closing date" in out.error.advice
    (receipt,) = objects(fake, realm, "SalesReceipt")
    assert receipt["TotalAmt"] == 44.0


async def test_an_object_gone_from_quickbooks_is_advice_not_a_crash(fake, realm, ctx, connector):
    item = push_item("customer", {}, key=9, pos_id="C-9", external_id="4242")
    [out] = await connector.retract(ctx, "customer", [item])
    assert not out.ok and out.error.code == "object_not_found"
