"""A fresh shop connects QuickBooks and goes green with no manual change: the settings are chosen
from the company's own lists when it is connected (the same OAuth path the API serves), then real
arq workers sync every record, and each one is checked object by object in the fake QuickBooks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.models import Connection, Link
from tests.fakes.fake_quickbooks import FakeQuickBooks
from tests.quickbooks.test_end_to_end import SCALED, connect_quickbooks, stack, sync_until_settled  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def fresh_shop(tax: str, untaxed: str) -> dict[str, list[dict]]:
    """A shop's first records in its own country's words, sent before it connects QuickBooks."""
    line = {"product_id": "P-1", "quantity": "2", "unit_price": "11.00", "tax_rate": tax}
    return {
        "customers": [{"id": "C-1", "first_name": "Mia", "last_name": "Chen"}],
        "suppliers": [{"id": "S-1", "name": "Bean Traders"}],
        "products": [{"id": "P-1", "sku": "BEANS-1", "name": "Beans", "price": "11.00", "cost": "5.00", "tax_rate": tax,
                      "tracked": True, "quantity": "20"},
                     {"id": "P-2", "sku": "MILK-1", "name": "Milk", "price": "2.00", "tax_rate": untaxed}],
        "purchases": [{"id": "PO-1", "number": "PO-1", "supplier_id": "S-1", "status": "received",
                       "received_at": "2026-11-25T10:00:00Z",
                       "lines": [{"product_id": "P-1", "quantity": "10", "unit_cost": "5.00", "tax_rate": tax}]}],
        "sales": [
            # Two payment types: an Invoice with a Payment each.
            {"id": "SALE-1", "number": "1", "date": "2026-11-27T10:00:00Z", "customer_id": "C-1", "total": "24.00",
             "lines": [line, {"product_id": "P-2", "quantity": "1", "unit_price": "2.00", "tax_rate": untaxed}],
             "payments": [{"payment_type": "Cash", "amount": "10.00"}, {"payment_type": "Card", "amount": "14.00"}]},
            # Paid in full one way: a SalesReceipt.
            {"id": "SALE-2", "number": "2", "date": "2026-11-27T11:00:00Z", "total": "25.00",
             "lines": [line], "custom_lines": [{"kind": "service_charge", "amount": "3.00", "tax_rate": tax}],
             "payments": [{"payment_type": "Card", "amount": "25.00"}]},
        ],
        "shift-reports": [{"id": "SH-1", "register_id": "REG-1", "opened_at": "2026-11-27T08:00:00Z",
                           "closed_at": "2026-11-27T18:00:00Z", "sales_total": "49.00",
                           "totals_by_tax_rate": [{"tax_rate": tax, "net": "42.73", "tax": "4.27"},
                                                  {"tax_rate": untaxed, "net": "2.00", "tax": "0.00"}],
                           "totals_by_payment_type": [{"payment_type": "Cash", "amount": "10.00"},
                                                      {"payment_type": "Card", "amount": "39.00"}]}],
    }


@pytest.fixture
def fake(request):
    country = request.param
    fake = FakeQuickBooks(client_id="possync-test", client_secret="shh", check_tokens=True, **SCALED)
    fake.realm = fake.add_realm(f"Corner Cafe ({country})", country=country)
    with fake.serve() as url:
        fake.url = url
        yield fake


def ref(obj: dict, field: str) -> str:
    return obj[field]["value"]


def line_codes(doc: dict) -> list[str]:
    return [(line.get("SalesItemLineDetail") or line.get("ItemBasedExpenseLineDetail") or {}).get("TaxCodeRef",
            {}).get("value") for line in doc["Line"] if line["DetailType"] != "DiscountLineDetail"]


@pytest.mark.parametrize(("fake", "tax", "untaxed", "mode"), [
    ("AU", "GST 10%", "GST Free", "individual"),
    ("AU", "GST 10%", "GST Free", "shift_totals"),
    ("US", "Sales tax", "Exempt", "individual"),
], indirect=["fake"])
async def test_a_fresh_shop_syncs_green_on_quickbooks_with_no_manual_change(stack, fake, monkeypatch,
                                                                            tax, untaxed, mode):
    records = fresh_shop(tax, untaxed)
    for collection, items in records.items():
        assert (await stack.api.post(f"/v1/{collection}/batch", {"items": items})).json()["accepted"] == len(items)

    # The shop picks how its sales reach the books when it connects; nothing names an account or a code.
    connection_id = await connect_quickbooks(stack, fake, {"sales_mode": mode} if mode != "individual" else None)
    connection = (await stack.api.get(f"/v1/connections/{connection_id}")).json()
    assert connection["needs_choice"] == []
    await sync_until_settled(stack, monkeypatch)

    async with stack.deps.sessions() as session:
        states = dict((await session.execute(
            select(Link.entity_type + ":" + Link.state, func.count()).group_by(Link.entity_type, Link.state))).all())
        s = (await session.get(Connection, connection_id)).settings
    sales, shifts = ("synced", "skipped") if mode == "individual" else ("skipped", "synced")
    assert states == {"customer:synced": 1, "supplier:synced": 1, "product:synced": 2, "purchase_order:synced": 1,
                      f"sale:{sales}": 2, f"shift_report:{shifts}": 1}, states
    synced = {"customers", "suppliers", "products", "purchases",
              "sales" if mode == "individual" else "shift-reports"}
    for collection in synced:
        listed = (await stack.api.get(f"/v1/{collection}")).json()["items"]
        assert listed and {r["symbol"] for r in listed} == {"green"}, (collection, listed)

    company = fake.companies[fake.realm]
    kind = company.kind
    us = kind.us
    accounts = {i: (name, type_) for i, name, type_ in kind.accounts}
    # Every setting that names something names an active entry of this company of the right kind.
    assert accounts[s["sales_inventory_account"]][1] == "Income"
    assert accounts[s["cogs_account"]][1] == "Cost of Goods Sold"
    assert accounts[s["inventory_asset_account"]] == ("Inventory Asset", "Other Current Asset")
    assert accounts[s["mixed_payments_account"]][0] == "Undeposited Funds"
    for payment_type in ("Cash", "Card"):
        deposit = s["payment_types"][payment_type]["deposit_account"]
        assert accounts[deposit][1] in ("Bank", "Other Current Asset"), (payment_type, deposit)
        assert company.uses_payment_method(s["payment_types"][payment_type]["payment_method"])
    if us:
        assert s["tax_codes"] == {}
        taxed, free = "TAX", "NON"
    else:
        assert s["tax_codes"] == {tax: "31", untaxed: "32"}  # GST, GST free
        assert s["cogs_account"] == "12" and s["payment_types"]["Cash"]["deposit_account"] == "23"
        taxed, free = "31", "32"

    [customer] = company.all("Customer")
    assert customer["DisplayName"] == "Mia Chen" and customer["Notes"] == "POS customer C-1"
    [vendor] = company.all("Vendor")
    assert vendor["DisplayName"] == "Bean Traders"
    items = {i["Sku"]: i for i in company.created("Item")}
    beans, milk = items["BEANS-1"], items["MILK-1"]
    assert beans["Type"] == "Inventory" and beans["QtyOnHand"] == 20
    assert (ref(beans, "IncomeAccountRef"), ref(beans, "ExpenseAccountRef"), ref(beans, "AssetAccountRef")) == (
        s["sales_inventory_account"], s["cogs_account"], s["inventory_asset_account"])
    assert milk["Type"] == "NonInventory" and ref(milk, "IncomeAccountRef") == s["sales_non_inventory_account"]
    if us:
        assert beans["Taxable"] is True and milk["Taxable"] is False
    else:
        assert ref(beans, "SalesTaxCodeRef") == ref(beans, "PurchaseTaxCodeRef") == taxed
        assert ref(milk, "SalesTaxCodeRef") == free
    [order] = company.all("PurchaseOrder")
    assert ref(order, "VendorRef") == vendor["Id"] and order["DocNumber"] == "PO-1"
    assert order["TotalAmt"] == 50.0 and line_codes(order) == ([None] if us else [taxed])

    if mode == "individual":
        [invoice] = company.all("Invoice")
        assert invoice["DocNumber"] == "1" and ref(invoice, "CustomerRef") == customer["Id"]
        assert line_codes(invoice) == [taxed, free] and invoice["TotalAmt"] == 24.0 and invoice["Balance"] == 0
        payments = sorted(company.all("Payment"), key=lambda p: p["TotalAmt"])
        assert [(p["TotalAmt"], ref(p, "DepositToAccountRef"), ref(p, "PaymentMethodRef")) for p in payments] == [
            (10.0, s["payment_types"]["Cash"]["deposit_account"], s["payment_types"]["Cash"]["payment_method"]),
            (14.0, s["payment_types"]["Card"]["deposit_account"], s["payment_types"]["Card"]["payment_method"])]
        [receipt] = company.all("SalesReceipt")
        assert receipt["DocNumber"] == "2" and line_codes(receipt) == [taxed, taxed]
        assert ref(receipt, "DepositToAccountRef") == s["payment_types"]["Card"]["deposit_account"]
        assert receipt["TotalAmt"] == 25.0 or us  # tax inclusive outside the US: the POS total
    else:
        assert company.all("Invoice") == [] and company.all("Payment") == []
        [summary] = company.all("SalesReceipt")
        assert summary["DocNumber"] == "SHIFT-SH-1" and line_codes(summary) == [taxed, free]
        assert ref(summary, "DepositToAccountRef") == s["mixed_payments_account"]  # cash and card together
        total = Decimal(str(summary["TotalAmt"]))
        # Outside the US QuickBooks adds each line's tax on top: the rounding line makes it the POS total.
        assert us or total == Decimal("49.00"), summary


@pytest.mark.parametrize("fake", ["AU"], indirect=True)
async def test_what_cannot_be_chosen_waits_with_advice_until_the_shop_saves_it(stack, fake, monkeypatch):
    """Store credit is owed to the customer (a liability, which QuickBooks takes as no deposit account):
    it is listed as needing a choice, its sale waits naming the setting, the rest goes green; saving
    the mapping sends that sale and clears the need."""
    records = fresh_shop("GST 10%", "GST Free")
    credit = {"id": "SALE-3", "number": "3", "date": "2026-11-27T12:00:00Z", "customer_id": "C-1", "total": "22.00",
              "lines": [records["sales"][1]["lines"][0]], "payments": [{"payment_type": "Store credit", "amount": "22.00"}]}
    records["sales"].append(credit)
    for collection, items in records.items():
        assert (await stack.api.post(f"/v1/{collection}/batch", {"items": items})).json()["accepted"] == len(items)

    connection_id = await connect_quickbooks(stack, fake)
    connection = (await stack.api.get(f"/v1/connections/{connection_id}")).json()
    assert [n["setting"] for n in connection["needs_choice"]] == ["payment_types.Store credit"]
    await sync_until_settled(stack, monkeypatch)

    panel = (await stack.api.get("/v1/sales/SALE-3/sync")).json()
    assert (panel["symbol"], panel["state"], panel["waits_for"]) == ("red", "failed", "payment_types.Store credit")
    assert "payment_types" in panel["connections"][0]["advice"] and "Store credit" in panel["connections"][0]["advice"]
    others = (await stack.api.get("/v1/sales/sync-status?ids=SALE-1,SALE-2")).json()["items"]
    assert {s["symbol"] for s in others} == {"green"}

    saved = await stack.api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"payment_types": {
        **(await stack.api.get(f"/v1/connections/{connection_id}/settings")).json()["payment_types"],
        "Store credit": {"deposit_account": "21"}}})
    assert saved.status_code == 200, saved.text
    await sync_until_settled(stack, monkeypatch)
    panel = (await stack.api.get("/v1/sales/SALE-3/sync")).json()
    assert (panel["symbol"], panel["waits_for"]) == ("green", None)
    assert (await stack.api.get(f"/v1/connections/{connection_id}")).json()["needs_choice"] == []
    receipts = [r for r in fake.companies[fake.realm].all("SalesReceipt") if r["DocNumber"] == "3"]
    assert [ref(r, "DepositToAccountRef") for r in receipts] == ["21"]
