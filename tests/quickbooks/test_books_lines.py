"""Sales with the lines and payments a real POS has, sent to the fake QuickBooks: custom lines by kind,
cash rounding, change given, gift card and store credit payments, and the advice when a kind, a
payment type or a part payment cannot be sent."""

from __future__ import annotations

from decimal import Decimal

from app.connectors.quickbooks import QuickBooksSettings
from app.connectors.quickbooks.settings import PaymentMapping
from app.entities.schemas import SALE_EXAMPLE

from .conftest import context_for
from .test_connector import objects, one, refs

BASE = {k: v for k, v in SALE_EXAMPLE.items() if k not in ("payments", "lines")}
BAG = {"product_id": "P-3001", "quantity": "2", "unit_price": "24.00", "discount": "4.00", "tax_rate": "VAT 20%"}


def liability_items(fake, realm) -> dict[str, str]:
    """Service items whose income accounts are liabilities, as the settings' advice tells a shop to make."""
    company = fake.companies[realm]
    return {kind: fake._store(company, "Item", {"Name": name, "Type": "Service",
                                                "IncomeAccountRef": {"value": "33"}})["Id"]
            for kind, name in (("tip", "Tips payable"), ("gift_card_sold", "Gift card sold"))}


def total_of(document) -> Decimal:
    return Decimal(str(document["TotalAmt"])).quantize(Decimal("0.01"))


async def test_custom_lines_go_to_the_item_of_their_kind_and_the_receipt_comes_to_the_pos_total(fake, realm, connector):
    items = liability_items(fake, realm)
    settings = QuickBooksSettings(custom_line_items={**QuickBooksSettings().custom_line_items, **items})
    ctx = context_for(fake, realm, settings)
    ids = await refs(connector, ctx)
    sale = {**BASE, "lines": [BAG], "total": "74.40", "custom_lines": [
        {"kind": "service_charge", "description": "Service 10%", "amount": "4.40", "tax_rate": "VAT 20%"},
        {"kind": "tip", "amount": "3.00"},
        {"kind": "gift_card_sold", "description": "Gift card GC-77", "amount": "25.00"},
        {"kind": "delivery", "amount": "-2.00"}],
        "payments": [{"payment_type": "Cash", "amount": "80.00", "change_given": "5.60"}]}
    result = await one(connector, ctx, "sale", sale, key=5, references=ids)
    assert result.ok, result.error
    (receipt,) = objects(fake, realm, "SalesReceipt")
    assert total_of(receipt) == Decimal("74.40")
    by_item = {line["SalesItemLineDetail"]["ItemRef"]["value"]: line for line in receipt["Line"]
               if line["DetailType"] == "SalesItemLineDetail" and line.get("Description") != "Bag"}
    assert by_item[items["tip"]]["Amount"] == 3.0 and by_item[items["tip"]]["Description"] == "Tip"
    assert by_item[items["gift_card_sold"]]["Description"] == "Gift card GC-77"
    services = [line["Amount"] for line in receipt["Line"] if line["DetailType"] == "SalesItemLineDetail"
                and line["SalesItemLineDetail"]["ItemRef"]["value"] == "1"]
    assert sorted(services) == [-2.0, 4.4]
    assert receipt["DepositToAccountRef"] == {"value": "35"}  # cash, net of the change given


async def test_cash_rounding_is_a_line_on_the_rounding_item(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    sale = {**BASE, "lines": [{**BAG, "unit_price": "24.01", "discount": "0"}], "cash_rounding": "-0.02",
            "total": "48.00", "payments": [{"payment_type": "Cash", "amount": "50.00", "change_given": "2.00"}]}
    result = await one(connector, ctx, "sale", sale, key=5, references=ids)
    assert result.ok, result.error
    (receipt,) = objects(fake, realm, "SalesReceipt")
    (rounding,) = [line for line in receipt["Line"] if line.get("Description") == "Cash rounding"]
    assert rounding["Amount"] == -0.02 and rounding["SalesItemLineDetail"]["ItemRef"] == {"value": "1"}
    assert rounding["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    assert total_of(receipt) == Decimal("48.00")


async def test_a_sale_of_custom_lines_only_needs_no_product(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    sale = {**BASE, "lines": [], "custom_lines": [{"kind": "other", "amount": "12.50"}],
            "payments": [{"payment_type": "Card", "amount": "12.50"}]}
    result = await one(connector, ctx, "sale", sale, key=5, references=ids)
    assert result.ok, result.error
    (receipt,) = objects(fake, realm, "SalesReceipt")
    assert total_of(receipt) == Decimal("12.50") and len(receipt["Line"]) == 1


async def test_gift_card_and_store_credit_payments_land_on_their_own_accounts(fake, realm, connector):
    payments = {**QuickBooksSettings().payment_types, "Gift card": PaymentMapping(deposit_account="33"),
                "Store credit": PaymentMapping(deposit_account="36")}
    ctx = context_for(fake, realm, QuickBooksSettings(payment_types=payments))
    ids = await refs(connector, ctx)
    for key, kind in enumerate(("Gift card", "Store credit"), start=5):
        sale = {**BASE, "id": f"S-{key}", "number": str(key), "lines": [BAG],
                "payments": [{"payment_type": kind, "amount": "44.00"}]}
        result = await one(connector, ctx, "sale", sale, key=key, references=ids)
        assert result.ok, result.error
    accounts = {r["DocNumber"]: r["DepositToAccountRef"]["value"] for r in objects(fake, realm, "SalesReceipt")}
    assert accounts == {"5": "33", "6": "36"}


async def test_an_unmapped_kind_or_payment_type_fails_with_advice_naming_the_setting(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    tip = {**BASE, "lines": [BAG], "custom_lines": [{"kind": "tip", "amount": "3.00"}],
           "payments": [{"payment_type": "Card", "amount": "47.00"}]}
    result = await one(connector, ctx, "sale", tip, key=5, references=ids)
    assert not result.ok and result.error.code == "custom_line_kind_unmapped"
    assert "custom_line_items" in result.error.advice
    voucher = {**BASE, "id": "S-6", "number": "6", "lines": [BAG],
               "payments": [{"payment_type": "Voucher", "amount": "44.00"}]}
    result = await one(connector, ctx, "sale", voucher, key=6, references=ids)
    assert not result.ok and result.error.code == "payment_type_unmapped"
    assert "payment_types" in result.error.advice
    assert objects(fake, realm, "SalesReceipt") == []


async def test_a_part_paid_sale_is_not_sent_as_a_paid_receipt(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    deposit = {**BASE, "lines": [BAG], "total": "44.00", "payments": [{"payment_type": "Cash", "amount": "1.00"}]}
    result = await one(connector, ctx, "sale", deposit, key=5, references=ids)
    assert not result.ok and result.error.code == "part_payment_unsupported"
    assert "43.00" in result.error.message
    assert objects(fake, realm, "SalesReceipt") == []
