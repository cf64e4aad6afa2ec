"""Lines and payments a real POS has: custom lines, gift cards, store credit, refunds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.entities import ENTITY_TYPES
from app.entities.schemas import CUSTOMER_EXAMPLE, MORE_SALE_EXAMPLES, PRODUCT_EXAMPLE
from tests.books.programs import PROGRAMS

D = Decimal


async def tour_basics(api):
    await api.put("/v1/customers/C-1001", CUSTOMER_EXAMPLE)
    await api.put("/v1/products/P-3001", PRODUCT_EXAMPLE)


async def test_the_openapi_examples_sync_as_documented(program, api):
    await program.connect()
    await tour_basics(api)
    documented = (await api.client.get("/openapi.json")).json()
    examples = documented["paths"]["/v1/sales/{pos_id}"]["put"]["requestBody"]["content"]["application/json"]["examples"]
    assert {"example", "refund", "custom_lines_and_deposit"} <= set(examples)
    for name, example in MORE_SALE_EXAMPLES.items():
        value = example["value"]
        assert (await api.put(f"/v1/sales/{value['id']}", value)).status_code == 201, name
    await api.settle()
    documents = await program.documents()
    refund, mixed = documents["SALE-5002"], documents["SALE-5003"]
    assert refund["total"] == D("22.00") and mixed["total"] == D("54.40")
    if program.name == "xero":
        assert refund["kind"] == "credit_note" and refund["status"] == "PAID"
        lines = {line.get("Description"): (line.get("AccountCode"), line["LineAmount"]) for line in mixed["object"]["LineItems"]}
        assert lines["Tip"] == ("814", 3.0) and lines["Gift card GC-77"] == ("810", 25.0)
        assert lines["Service 10%"] == ("200", 2.4)
        books = program.books
        paid_to = sorted((p["Account"]["Code"], p["Amount"]) for p in books.payments.values()
                         if p.get("Invoice", {}).get("InvoiceID") == mixed["object"]["InvoiceID"])
        assert paid_to == [("090", 39.4), ("810", 10.0)]
        assert mixed["status"] == "AUTHORISED" and mixed["object"]["AmountDue"] == 5.0
    elif program.name == "quickbooks":
        assert refund["kind"] == "RefundReceipt" and refund["object"]["DepositToAccountRef"] == {"value": "4"}
        lines = {line.get("Description"): (line["SalesItemLineDetail"]["ItemRef"]["value"], line["Amount"])
                 for line in mixed["object"]["Line"]}
        assert lines["Tip"] == (program.items["tip"], 3.0)
        assert lines["Gift card GC-77"] == (program.items["gift_card_sold"], 25.0)
        assert lines["Service 10%"] == ("1", 2.4)
        # Paid two ways and in part: an Invoice, a Payment per payment type, 5.00 left open.
        assert mixed["kind"] == "Invoice" and mixed["object"]["Balance"] == 5.0
        assert sorted((p["DepositToAccountRef"]["value"], p["TotalAmt"]) for p in program.payments(mixed["object"])) == [
            ("35", 39.4), (program.GIFT_CARD_ACCOUNT, 10.0)]
    else:
        kinds = [line["kind"] for line in mixed["object"].data["document_lines"]]
        assert kinds == ["product", "service_charge", "tip", "gift_card_sold"]
        assert mixed["object"].data["amount_due"] == "5.00"


@pytest.mark.parametrize("name", ["xero", "quickbooks"])
async def test_store_credit_payment_goes_to_its_own_account(api, name):
    program = PROGRAMS[name](api)
    await program.connect()
    await tour_basics(api)
    sale = {"number": "SC-1", "date": "2026-11-27T10:00:00Z", "customer_id": "C-1001", "total": "24.00",
            "lines": [{"product_id": "P-3001", "quantity": "1", "unit_price": "24.00", "tax_rate": "VAT 20%"}],
            "payments": [{"payment_type": "Store credit", "amount": "20.00"}, {"payment_type": "Card", "amount": "4.00"}]}
    assert (await api.put("/v1/sales/SC-1", sale)).status_code == 201
    await api.settle()
    doc = (await program.documents())["SC-1"]
    assert doc["total"] == D("24.00")
    if name == "quickbooks":
        # One SalesReceipt has one deposit account: an Invoice with a Payment per payment type instead.
        assert doc["kind"] == "Invoice" and doc["object"]["Balance"] == 0.0
        assert sorted((p["DepositToAccountRef"]["value"], p["TotalAmt"]) for p in program.payments(doc["object"])) == [
            ("4", 4.0), (program.STORE_CREDIT_ACCOUNT, 20.0)]
        return
    assert doc["status"] == "PAID"
    assert sorted((p["Account"]["Code"], p["Amount"]) for p in program.books.payments.values()) == [
        ("091", 4.0), ("805", 20.0)]


async def test_an_unmapped_payment_type_or_line_kind_fails_the_record_with_advice_naming_the_setting(api):
    from tests.books.programs import Xero

    program = Xero(api)
    await program.connect({"custom_line_accounts": {"service_charge": "200"}})
    await tour_basics(api)
    base = {"date": "2026-11-27T10:00:00Z", "lines": [
        {"product_id": "P-3001", "quantity": "1", "unit_price": "24.00", "tax_rate": "VAT 20%"}]}
    # Not a 422: the POS may add payment types and line kinds at any time.
    assert (await api.put("/v1/sales/V-1", {**base, "number": "V-1",
                                            "payments": [{"payment_type": "Voucher", "amount": "24.00"}]})).status_code == 201
    assert (await api.put("/v1/sales/V-2", {**base, "number": "V-2",
                                            "custom_lines": [{"kind": "tip", "amount": "2.00"}]})).status_code == 201
    await api.settle()
    for pos_id, setting in (("V-1", "payment_accounts"), ("V-2", "custom_line_accounts")):
        (entry,) = (await api.get(f"/v1/sales/{pos_id}/sync")).json()["connections"]
        assert entry["state"] == "failed" and setting in entry["advice"], entry
    assert await program.documents() == {}
    # Mapping it in the settings is what the record waited for.
    assert (await program.settings({"custom_line_accounts": {"service_charge": "200", "tip": "814"},
                                    "payment_accounts": {"Cash": "090", "Card": "091", "Voucher": "810"}})).status_code == 200
    await api.settle()
    assert sorted(await program.documents()) == ["V-1", "V-2"]


def test_every_sale_example_is_valid():
    schema = ENTITY_TYPES["sale"].schema
    for example in MORE_SALE_EXAMPLES.values():
        schema.model_validate(example["value"])


async def test_a_sale_and_its_refund_are_two_documents_with_their_own_totals(program, api):
    await program.connect()
    await tour_basics(api)
    sale = {"number": "5101", "date": "2026-11-27T10:00:00Z", "customer_id": "C-1001", "total": "48.00",
            "lines": [{"product_id": "P-3001", "quantity": "2", "unit_price": "24.00", "tax_rate": "VAT 20%"}],
            "payments": [{"payment_type": "Card", "amount": "48.00"}]}
    refund = {**sale, "number": "5102", "status": "refund", "date": "2026-11-28T10:00:00Z", "total": "24.00",
              "lines": [{"product_id": "P-3001", "quantity": "1", "unit_price": "24.00", "tax_rate": "VAT 20%"}],
              "payments": [{"payment_type": "Store credit", "amount": "24.00"}]}
    assert (await api.put("/v1/sales/S-5101", sale)).status_code == 201
    assert (await api.put("/v1/sales/S-5102", refund)).status_code == 201
    await api.settle()
    documents = await program.documents()
    assert sorted(documents) == ["S-5101", "S-5102"]
    assert documents["S-5101"]["total"] == D("48.00") and documents["S-5102"]["total"] == D("24.00")
    if program.name == "xero":
        credit = documents["S-5102"]["object"]
        assert documents["S-5102"]["kind"] == "credit_note" and credit["Type"] == "ACCRECCREDIT"
        assert credit["Status"] == "PAID" and credit["RemainingCredit"] == 0
        assert [(p["Account"]["Code"], p["Amount"]) for p in program.books.payments.values()
                if p.get("CreditNote")] == [("805", 24.0)]
    elif program.name == "quickbooks":
        refunded = documents["S-5102"]["object"]
        assert documents["S-5102"]["kind"] == "RefundReceipt"
        assert refunded["DepositToAccountRef"] == {"value": program.STORE_CREDIT_ACCOUNT}
        assert documents["S-5101"]["kind"] == "SalesReceipt" and program.company.all("Payment") == []
    else:
        assert documents["S-5102"]["object"].data["status"] == "refund"
        assert documents["S-5102"]["object"].data["amount_due"] == "0.00"
