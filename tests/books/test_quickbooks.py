"""Books scenarios against the fake QuickBooks through the real engine and API: what QuickBooks holds,
object by object, after custom lines, cash rounding, refunds, voids after sync, deletions and a part
payment (an Invoice with its Payment, the rest open)."""

from __future__ import annotations

from decimal import Decimal

from tests.books.conftest import PRODUCT
from tests.books.programs import QuickBooks

D = Decimal
SALE = {"number": "V-1", "date": "2026-11-27T10:00:00Z", "customer_id": "C-1", "total": "10.00",
        "lines": [{"product_id": "P-1", "quantity": "1", "unit_price": "10.00", "tax_rate": "VAT 20%"}],
        "payments": [{"payment_type": "Card", "amount": "10.00"}]}


async def entry(api, collection, pos_id) -> dict:
    body = (await api.get(f"/v1/{collection}/{pos_id}/sync")).json()
    (only,) = body["connections"]
    return {**only, "symbol": body["symbol"]}


async def setup(api, settings: dict | None = None, program: QuickBooks | None = None) -> QuickBooks:
    program = program or QuickBooks(api)
    await program.connect(settings)
    assert (await api.put("/v1/customers/C-1", {"first_name": "Ana", "last_name": "Lopez"})).status_code == 201
    assert (await api.put("/v1/products/P-1", PRODUCT)).status_code == 201
    return program


async def test_custom_lines_cash_rounding_change_and_a_refund_each_come_to_the_pos_total(api):
    program = QuickBooks(api)
    tips = program.fake._store(program.company, "Item", {"Name": "Tips payable", "Type": "Service",
                                                         "IncomeAccountRef": {"value": "33"}})["Id"]
    await setup(api, {"custom_line_items": {"service_charge": "1", "tip": tips}}, program=program)
    sales = {
        "L-1": {**SALE, "number": "L-1", "total": "14.00", "custom_lines": [
            {"kind": "service_charge", "amount": "1.00", "tax_rate": "VAT 20%"}, {"kind": "tip", "amount": "3.00"}],
            "payments": [{"payment_type": "Cash", "amount": "20.00", "change_given": "6.00"}]},
        "L-2": {**SALE, "number": "L-2", "total": "9.95", "cash_rounding": "-0.03",
                "lines": [{**SALE["lines"][0], "unit_price": "9.98"}],
                "payments": [{"payment_type": "Cash", "amount": "9.95"}]},
        "L-3": {**SALE, "number": "L-3", "status": "refund"},
    }
    for pos_id, body in sales.items():
        assert (await api.put(f"/v1/sales/{pos_id}", body)).status_code == 201, pos_id
    await api.settle()
    documents = await program.documents()
    assert sorted(documents) == ["L-1", "L-2", "L-3"]  # exactly one document per sale
    assert {k: (d["kind"], d["total"]) for k, d in documents.items()} == {
        "L-1": ("SalesReceipt", D("14.00")), "L-2": ("SalesReceipt", D("9.95")), "L-3": ("RefundReceipt", D("10.00"))}
    tip_lines = [line for line in documents["L-1"]["object"]["Line"]
                 if line["SalesItemLineDetail"]["ItemRef"]["value"] == tips]
    assert [line["Amount"] for line in tip_lines] == [3.0]
    for pos_id in sales:
        assert (await entry(api, "sales", pos_id))["symbol"] == "green"


async def test_an_unmapped_kind_fails_with_advice_until_the_setting_names_it(api):
    program = await setup(api, {"custom_line_items": {"service_charge": "1"}})
    body = {**SALE, "total": "13.00", "custom_lines": [{"kind": "tip", "amount": "3.00"}],
            "payments": [{"payment_type": "Card", "amount": "13.00"}]}
    assert (await api.put("/v1/sales/V-1", body)).status_code == 201
    await api.settle()
    failed = await entry(api, "sales", "V-1")
    assert failed["state"] == "failed" and "custom_line_items" in failed["advice"]
    assert await program.documents() == {}
    named = await program.settings({"custom_line_items": {"service_charge": "1", "tip": program.items["tip"]}})
    assert named.status_code == 200, named.text
    await api.settle()
    assert (await program.documents())["V-1"]["total"] == D("13.00")


async def test_a_part_paid_sale_is_an_invoice_whose_payment_is_received_once_however_often_it_is_pushed(api):
    program = await setup(api)
    body = {**SALE, "total": "10.00", "payments": [{"payment_type": "Cash", "amount": "1.00"}]}
    assert (await api.put("/v1/sales/V-1", body)).status_code == 201
    await api.settle()
    assert (await api.put("/v1/sales/V-1", {**body, "note": "layby: 9.00 due Friday"})).status_code == 200
    await api.settle()
    documents = await program.documents()
    assert list(documents) == ["V-1"] and documents["V-1"]["kind"] == "Invoice"
    invoice = documents["V-1"]["object"]
    assert documents["V-1"]["total"] == D("10.00") and invoice["Balance"] == 9.0
    assert invoice["CustomerMemo"] == {"value": "layby: 9.00 due Friday"}
    assert [(p["TotalAmt"], p["DepositToAccountRef"]["value"]) for p in program.company.all("Payment")] == [(1.0, "35")]
    done = await entry(api, "sales", "V-1")
    assert done["symbol"] == "green" and done["external_id"] == invoice["Id"]


async def test_a_sale_voided_after_sync_is_voided_in_quickbooks(api):
    program = await setup(api)
    await api.put("/v1/sales/V-1", SALE)
    await api.settle()
    assert (await program.documents())["V-1"]["total"] == D("10.00")
    await api.put("/v1/sales/V-1", {**SALE, "status": "voided"})
    await api.settle()
    documents = await program.documents()
    assert list(documents) == ["V-1"] and documents["V-1"]["status"] == "voided"
    assert documents["V-1"]["total"] == D("0.00")
    done = await entry(api, "sales", "V-1")
    assert done["symbol"] == "green" and done["status"] == "voided"


async def test_a_void_in_a_closed_period_says_what_to_do_by_hand(api):
    program = await setup(api)
    await api.put("/v1/sales/V-1", SALE)
    await api.settle()
    program.fake.close_books(program.realm, "2026-11-30")
    await api.put("/v1/sales/V-1", {**SALE, "status": "voided"})
    await api.settle()
    refused = await entry(api, "sales", "V-1")
    assert refused["state"] == "failed" and "by hand" in refused["advice"]
    assert (await program.documents())["V-1"]["status"] == "active"


async def test_deleted_customers_and_products_are_made_inactive(api):
    program = await setup(api)
    await api.settle()
    for collection, pos_id in (("customers", "C-1"), ("products", "P-1")):
        assert (await api.request("DELETE", f"/v1/{collection}/{pos_id}")).status_code == 200
    await api.settle()
    customer, product = await entry(api, "customers", "C-1"), await entry(api, "products", "P-1")
    assert customer["status"] == "archived" and product["status"] == "archived"
    assert program.company.objects["Customer"][customer["external_id"]]["Active"] is False
    assert program.company.objects["Item"][product["external_id"]]["Active"] is False

