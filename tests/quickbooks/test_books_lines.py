"""Sales with the lines and payments a real POS has, sent to the fake QuickBooks: custom lines by kind,
cash rounding, change given, gift card and store credit payments, and the advice when a kind, a
payment type or a part payment cannot be sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.connectors.errors import TransientError
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


def payments_of(fake, realm, invoice) -> list[tuple[str, float, str]]:
    return sorted((p["PrivateNote"], p["TotalAmt"], p["DepositToAccountRef"]["value"])
                  for p in objects(fake, realm, "Payment")
                  if p["Line"][0]["LinkedTxn"][0]["TxnId"] == invoice["Id"])


async def test_a_part_paid_sale_is_an_invoice_with_its_payment_and_the_rest_open(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    deposit = {**BASE, "lines": [BAG], "total": "44.00", "payments": [{"payment_type": "Cash", "amount": "1.00"}]}
    result = await one(connector, ctx, "sale", deposit, key=5, references=ids)
    assert result.ok, result.error
    assert objects(fake, realm, "SalesReceipt") == []
    (invoice,) = objects(fake, realm, "Invoice")
    assert invoice["Id"] == result.external_id and total_of(invoice) == Decimal("44.00")
    assert invoice["Balance"] == 43.0 and invoice["CustomerRef"] == {"value": ids[("customer", "C-1001")]}
    assert payments_of(fake, realm, invoice) == [("POS SALE-5001 payment 1", 1.0, "35")]


async def test_a_sale_paid_three_ways_puts_each_payment_in_its_own_account(fake, realm, connector):
    mapped = {**QuickBooksSettings().payment_types, "Gift card": PaymentMapping(deposit_account="33"),
              "Store credit": PaymentMapping(deposit_account="36")}
    ctx = context_for(fake, realm, QuickBooksSettings(payment_types=mapped))
    ids = await refs(connector, ctx)
    mixed = {**BASE, "lines": [BAG], "total": "44.00", "payments": [
        {"payment_type": "Cash", "amount": "30.00", "change_given": "6.00"},
        {"payment_type": "Gift card", "amount": "15.00"}, {"payment_type": "Store credit", "amount": "5.00"}]}
    result = await one(connector, ctx, "sale", mixed, key=5, references=ids)
    assert result.ok, result.error
    (invoice,) = objects(fake, realm, "Invoice")
    assert invoice["Balance"] == 0.0 and total_of(invoice) == Decimal("44.00")
    assert payments_of(fake, realm, invoice) == [("POS SALE-5001 payment 1", 24.0, "35"),
                                                 ("POS SALE-5001 payment 2", 15.0, "33"),
                                                 ("POS SALE-5001 payment 3", 5.0, "36")]


async def test_payments_are_received_once_when_answers_are_lost(fake, realm, ctx, connector):
    ids = await refs(connector, ctx)
    sale = {**BASE, "lines": [BAG], "total": "44.00", "payments": [
        {"payment_type": "Cash", "amount": "4.00"}, {"payment_type": "Card", "amount": "10.00"}]}
    fake.lose_payment_answers(1)  # QuickBooks stores both Payments; the answer never arrives
    lost = await one(connector, ctx, "sale", sale, key=5, references=ids)
    assert not lost.ok and lost.external_id == objects(fake, realm, "Invoice")[0]["Id"]
    fake.forget_requestids()  # a retry later than Intuit remembers requestids
    retried = await one(connector, ctx, "sale", sale, key=5, references=ids, external_id=lost.external_id,
                        remote_version=lost.remote_version, retries=1)
    assert retried.ok, retried.error
    (invoice,) = objects(fake, realm, "Invoice")
    assert len(objects(fake, realm, "Payment")) == 2 and invoice["Balance"] == 30.0
    # A lost answer of the Invoice itself: the retry adopts it and still receives each payment once.
    fake.kill_next(1)
    other = {**sale, "id": "S-7", "number": "7"}
    with pytest.raises(TransientError):  # nothing reached QuickBooks as far as the connector knows
        await one(connector, ctx, "sale", other, key=7, pos_id="S-7", references=ids)
    again = await one(connector, ctx, "sale", other, key=7, pos_id="S-7", references=ids, retries=1)
    assert again.ok, again.error
    assert len(objects(fake, realm, "Invoice")) == 2 and len(objects(fake, realm, "Payment")) == 4


async def test_an_invoice_without_a_customer_needs_the_walk_in_customer_setting(fake, realm, connector):
    ctx = context_for(fake, realm)
    ids = await refs(connector, ctx)
    anonymous = {k: v for k, v in BASE.items() if k != "customer_id"}
    sale = {**anonymous, "lines": [BAG], "total": "44.00", "payments": [{"payment_type": "Cash", "amount": "4.00"}]}
    result = await one(connector, ctx, "sale", sale, key=5, references=ids)
    assert not result.ok and "walk_in_customer" in result.error.advice
    walk_in = fake._store(fake.companies[realm], "Customer", {"DisplayName": "Walk-in customer"})["Id"]
    ctx = context_for(fake, realm, QuickBooksSettings(walk_in_customer=walk_in))
    result = await one(connector, ctx, "sale", sale, key=5, references=ids)
    assert result.ok, result.error
    assert objects(fake, realm, "Invoice")[0]["CustomerRef"] == {"value": walk_in}


async def test_quickbooks_per_line_tax_rounding_is_made_up_by_a_rounding_line(fake, uk_realm, connector):
    from .conftest import GLOBAL_TAX

    ctx = context_for(fake, uk_realm, QuickBooksSettings(tax_codes=GLOBAL_TAX))
    ids = await refs(connector, ctx)
    # Three lines of 0.3333 each: the POS totals 1.00 (0.9999 rounded once), QuickBooks 0.99 (each line
    # rounded to 0.33 first). Before tax, three lines of 0.07 at 20%: QuickBooks taxes each line 0.014 →
    # 0.01, 0.03 in all; the POS taxes 0.21 once: 0.042 → 0.04.
    line = {"product_id": "P-3001", "quantity": "1", "unit_price": "0.3333", "tax_rate": "VAT 20%"}
    inclusive = {**BASE, "lines": [line] * 3, "total": "1.00", "payments": [{"payment_type": "Card", "amount": "1.00"}]}
    result = await one(connector, ctx, "sale", inclusive, key=5, references=ids)
    assert result.ok, result.error
    assert "rounding line of 0.01" in result.note
    cheap = {"product_id": "P-3001", "quantity": "1", "unit_price": "0.07", "tax_rate": "VAT 20%"}
    exclusive = {**BASE, "id": "S-6", "number": "6", "prices_include_tax": False, "lines": [cheap] * 3,
                 "tax_total": "0.04", "total": "0.25", "payments": [{"payment_type": "Card", "amount": "0.25"}]}
    result = await one(connector, ctx, "sale", exclusive, key=6, pos_id="S-6", references=ids)
    assert result.ok, result.error
    receipts = {r["DocNumber"]: r for r in objects(fake, uk_realm, "SalesReceipt")}
    assert total_of(receipts["5001"]) == Decimal("1.00") and total_of(receipts["6"]) == Decimal("0.25")
    (rounding,) = [x for x in receipts["6"]["Line"] if x.get("Description") == "Rounding"]
    assert rounding["Amount"] == 0.01 and receipts["6"]["TxnTaxDetail"]["TotalTax"] == 0.03


async def test_a_shift_summary_comes_to_the_pos_net_and_tax_to_the_cent(fake, uk_realm, connector):
    from app.entities.schemas import SHIFT_REPORT_EXAMPLE

    from .conftest import GLOBAL_TAX

    ctx = context_for(fake, uk_realm, QuickBooksSettings(tax_codes=GLOBAL_TAX, sales_mode="shift_totals"))
    # The POS added up each sale's own tax (2.00); QuickBooks taxes the summed net once: 10.03 × 20% → 2.01.
    shift = {**SHIFT_REPORT_EXAMPLE, "sales_total": "12.03",
             "totals_by_payment_type": [{"payment_type": "Card", "amount": "12.03"}],
             "totals_by_tax_rate": [{"tax_rate": "VAT 20%", "net": "10.03", "tax": "2.00"}]}
    result = await one(connector, ctx, "shift_report", shift, key=6)
    assert result.ok, result.error
    assert "rounding line of -0.01" in result.note
    (receipt,) = objects(fake, uk_realm, "SalesReceipt")
    assert total_of(receipt) == Decimal("12.03") and receipt["TxnTaxDetail"]["TotalTax"] == 2.01
