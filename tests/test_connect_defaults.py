"""Settings chosen from the organisation's own lists when it is connected: the choice itself (pure),
and a fresh Australian or UK shop synced green through the real OAuth flow and real arq workers."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from sqlalchemy import func, select

from app.connections.defaults import choose, values_in
from app.connectors.xero import XeroConnector, XeroSettings
from app.connectors.xero import lists as xero_lists
from app.models import Connection, Link
from tests.fakes.fake_xero import FakeXero
from tests.fakes.xero_books import Books, COUNTRY_CHARTS, COUNTRY_TAX_RATES
from tests.xero.test_end_to_end import connect_xero, stack, sync_until_settled  # noqa: F401 - fixture


def org_lists(country: str) -> dict[str, list[dict]]:
    books = Books(name=f"Org {country}", account_codes=set(COUNTRY_CHARTS[country]), chart=COUNTRY_CHARTS[country],
                  tax_rows=COUNTRY_TAX_RATES[country])
    return {"accounts": [asdict(e) for a in books.account_list() if (e := xero_lists.account_entry(a))],
            "tax_rates": [asdict(e) for r in books.tax_rate_list() if (e := xero_lists.tax_rate_entry(r))]}


def xero_defaults() -> dict:
    return XeroSettings().model_dump(mode="json")


def test_an_australian_organisation_gets_its_own_accounts_and_gst_types():
    seen = {"payment_accounts": {"Cash", "Card", "Store credit"}, "sales_tax_types": {"GST 10%", "GST Free"},
            "purchase_tax_types": {"GST 10%", "GST Free"}, "custom_line_accounts": {"tip"}}
    chosen, needs = choose(XeroConnector, xero_defaults(), org_lists("AU"), seen)
    assert (chosen["sales_inventory_account"], chosen["purchases_non_inventory_account"], chosen["cogs_account"],
            chosen["inventory_asset_account"], chosen["rounding_account"]) == ("410", "510", "510", "140", "420")
    assert chosen["payment_accounts"] == {"Cash": "100", "Card": "100", "Gift card": "225"}
    assert chosen["sales_tax_types"]["GST 10%"] == "OUTPUT" and chosen["sales_tax_types"]["GST Free"] == "EXEMPTOUTPUT"
    assert chosen["purchase_tax_types"]["GST 10%"] == "INPUT"
    assert chosen["purchase_tax_types"]["GST Free"] == "EXEMPTEXPENSES"
    assert "VAT 20%" not in chosen["sales_tax_types"]  # the demo's guess this organisation cannot take
    assert chosen["untaxed_tax_type"] == "BASEXCLUDED"
    assert chosen["custom_line_accounts"]["tip"] == "220" and chosen["custom_line_accounts"]["gift_card_sold"] == "225"
    assert chosen["custom_line_accounts"]["other"] == "420"
    # A payment type the shop uses that no account of this organisation fits: the shop chooses.
    assert [n["setting"] for n in needs] == ["payment_accounts.Store credit"]
    assert "Store credit" not in chosen["payment_accounts"]


def test_a_uk_organisation_keeps_the_values_it_accepts():
    seen = {"payment_accounts": {"Cash", "Card"}, "sales_tax_types": {"VAT 20%"}}
    chosen, needs = choose(XeroConnector, xero_defaults(), org_lists("UK"), seen)
    assert chosen == xero_defaults() and needs == []


def test_a_setting_nothing_fits_is_listed_and_its_value_kept():
    lists = org_lists("AU")
    lists["accounts"] = [a for a in lists["accounts"] if a["type"] != "INVENTORY"]
    chosen, needs = choose(XeroConnector, xero_defaults(), lists, {})
    assert chosen["inventory_asset_account"] == "630"
    assert [n["setting"] for n in needs] == ["inventory_asset_account"]


def test_pos_values_of_a_record():
    found = values_in({"lines": [{"tax_rate": "GST 10%"}], "custom_lines": [{"kind": "tip", "tax_rate": "GST Free"}],
                       "payments": [{"payment_type": "Cash"}], "totals_by_payment_type": [{"payment_type": "Card"}]})
    assert found == {"payment_type": {"Cash", "Card"}, "tax_rate": {"GST 10%", "GST Free"},
                     "custom_line_kind": {"tip"}}


def fresh_shop(tax: str, untaxed: str) -> dict[str, list[dict]]:
    """A shop's first records, in its own country's words, sent before it connects the program."""
    line = {"product_id": "P-1", "quantity": "2", "unit_price": "11.00", "tax_rate": tax}
    return {
        "customers": [{"id": "C-1", "first_name": "Mia", "last_name": "Chen"}],
        "suppliers": [{"id": "S-1", "name": "Bean Traders"}],
        "products": [{"id": "P-1", "sku": "BEANS-1", "name": "Beans", "price": "11.00", "cost": "5.00", "tax_rate": tax,
                      "tracked": True},
                     {"id": "P-2", "sku": "MILK-1", "name": "Milk", "price": "2.00", "tax_rate": untaxed}],
        "purchases": [{"id": "PO-1", "number": "PO-1", "supplier_id": "S-1", "status": "received",
                       "received_at": "2026-11-25T10:00:00Z",
                       "lines": [{"product_id": "P-1", "quantity": "10", "unit_cost": "5.00", "tax_rate": tax}]}],
        "sales": [
            {"id": "SALE-1", "number": "1", "date": "2026-11-27T10:00:00Z", "customer_id": "C-1", "total": "24.00",
             "lines": [line, {"product_id": "P-2", "quantity": "1", "unit_price": "2.00", "tax_rate": untaxed}],
             "payments": [{"payment_type": "Cash", "amount": "10.00"}, {"payment_type": "Card", "amount": "14.00"}]},
            {"id": "SALE-2", "number": "2", "date": "2026-11-27T11:00:00Z", "total": "25.00",
             "lines": [line], "custom_lines": [{"kind": "tip", "amount": "3.00"}],
             "payments": [{"payment_type": "Card", "amount": "25.00"}]},
        ],
        "shift-reports": [{"id": "SH-1", "register_id": "REG-1", "opened_at": "2026-11-27T08:00:00Z",
                           "closed_at": "2026-11-27T18:00:00Z", "sales_total": "49.00",
                           "totals_by_payment_type": [{"payment_type": "Cash", "amount": "10.00"},
                                                      {"payment_type": "Card", "amount": "39.00"}]}],
    }


@pytest.fixture
def fake():
    fake = FakeXero(client_id="possync-test", client_secret="shh", check_tokens=True, per_minute=600)
    with fake.serve() as url:
        fake.url = url
        yield fake


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize(("country", "tax", "untaxed"), [("AU", "GST 10%", "GST Free"), ("UK", "VAT 20%", "Zero rated")])
async def test_a_fresh_shop_syncs_green_after_connecting_with_no_manual_change(stack, fake, monkeypatch,
                                                                                country, tax, untaxed):
    tenant = fake.add_tenant(f"Shop ({country})", country=country)
    records = fresh_shop(tax, untaxed)
    for collection, items in records.items():
        assert (await stack.api.post(f"/v1/{collection}/batch", {"items": items})).json()["accepted"] == len(items)

    connection_id = await connect_xero(stack, fake)
    connection = (await stack.api.get(f"/v1/connections/{connection_id}")).json()
    assert connection["needs_choice"] == []
    await sync_until_settled(stack, monkeypatch)

    async with stack.deps.sessions() as session:
        states = dict((await session.execute(
            select(Link.entity_type + ":" + Link.state, func.count()).group_by(Link.entity_type, Link.state))).all())
        settings = (await session.get(Connection, connection_id)).settings
    # Every record reached Xero; the shift report is skipped as the default (individual sales) says.
    assert states == {"customer:synced": 1, "supplier:synced": 1, "product:synced": 2, "purchase_order:synced": 1,
                      "sale:synced": 2, "shift_report:skipped": 1}, states
    books = fake.books[tenant]
    assert len(books.invoices) == 2 and len(books.purchase_orders) == 1 and len(books.payments) == 3
    for collection in ("/v1/customers", "/v1/products", "/v1/sales"):
        listed = (await stack.api.get(collection)).json()["items"]
        assert {r["symbol"] for r in listed} == {"green"}, listed
    if country == "AU":
        sale_taxes = {line["TaxType"] for inv in books.invoices.values() for line in inv["LineItems"]}
        assert sale_taxes == {"OUTPUT", "EXEMPTOUTPUT", "BASEXCLUDED"}
        assert settings["payment_accounts"]["Cash"] == "100" and settings["custom_line_accounts"]["tip"] == "220"
    else:
        assert settings["sales_tax_types"]["VAT 20%"] == "OUTPUT2" and settings["payment_accounts"]["Card"] == "091"


async def company_lists(country: str, added_items: tuple[tuple[str, str], ...] = ()) -> dict[str, list[dict]]:
    """A fake QuickBooks company's lists, read the way a connection reads them (the connector's
    program_list over HTTP to the fake); `added_items` (Name, Type) are items the shop created."""
    from app.connectors.quickbooks import QuickBooksConnector
    from tests.fakes.fake_quickbooks import FakeQuickBooks
    from tests.quickbooks.conftest import app_settings, context_for

    fake = FakeQuickBooks()
    realm = fake.add_realm(f"Shop ({country})", country=country)
    for name, type_ in added_items:
        fake._store(fake.companies[realm], "Item", {"Name": name, "Type": type_, "IncomeAccountRef": {"value": "31"}})
    connector = QuickBooksConnector(app_settings(), transport=fake.transport(), timeout_s=2.0)
    try:
        ctx = context_for(fake, realm)
        return {kind: [asdict(e) for e in await connector.program_list(ctx, kind)]
                for kind in ("accounts", "tax_rates", "payment_methods", "items")}
    finally:
        await connector.aclose()


def quickbooks_defaults(**changes) -> dict:
    from app.connectors.quickbooks import QuickBooksSettings

    return QuickBooksSettings(**changes).model_dump(mode="json")


async def test_an_australian_quickbooks_company_gets_its_own_accounts_gst_codes_and_deposit_accounts():
    from app.connectors.quickbooks import QuickBooksConnector

    seen = {"tax_codes": {"GST 10%", "GST Free"}, "payment_types": {"Cash", "Card", "EFTPOS", "Store credit"}}
    chosen, needs = choose(QuickBooksConnector, quickbooks_defaults(), await company_lists("AU"), seen)
    assert (chosen["sales_inventory_account"], chosen["sales_service_account"], chosen["cogs_account"],
            chosen["purchases_non_inventory_account"], chosen["inventory_asset_account"],
            chosen["mixed_payments_account"]) == ("7", "7", "12", "13", "20", "21")
    # By the percent the POS name states, the name's words breaking ties; never a purchase-only code.
    assert chosen["tax_codes"] == {"GST 10%": "31", "GST Free": "32"}
    assert chosen["payment_types"] == {
        "Cash": {"deposit_account": "23", "payment_method": "21"},  # Cash on hand, Cash
        "Card": {"deposit_account": "21", "payment_method": "24"},  # Undeposited Funds, a card method
        "EFTPOS": {"deposit_account": "21", "payment_method": "23"},
    }
    # Store credit is owed to the customer, a liability QuickBooks takes as no deposit account.
    assert [n["setting"] for n in needs] == ["payment_types.Store credit"]


async def test_a_uk_quickbooks_company_gets_vat_codes_by_rate_and_keeps_accepted_values():
    from app.connectors.quickbooks import QuickBooksConnector

    seen = {"tax_codes": {"VAT 20%", "VAT 5%", "Zero rated", "Exempt", "Service charge"},
            "payment_types": {"Cash", "Card"}}
    defaults = quickbooks_defaults(tax_codes={"Exempt": "5"})
    chosen, needs = choose(QuickBooksConnector, defaults, await company_lists("GB"), seen)
    assert chosen["tax_codes"] == {"VAT 20%": "2", "VAT 5%": "3", "Zero rated": "4", "Exempt": "5"}
    assert chosen["payment_types"] == defaults["payment_types"]
    assert {k: v for k, v in chosen.items() if k != "tax_codes"} == {k: v for k, v in defaults.items()
                                                                      if k != "tax_codes"}
    # A POS rate whose name states no percent cannot be matched by rate: the shop chooses.
    assert needs == [{"setting": "tax_codes.Service charge",
                      "reason": "Nothing of this organisation fits 'Service charge': choose an active tax code "
                                "with a sales rate."}]


async def test_the_us_sandbox_company_keeps_its_defaults():
    from app.connectors.quickbooks import QuickBooksConnector

    lists = await company_lists("US")
    assert lists["tax_rates"] == []  # automated sales tax: lines say TAX or NON
    chosen, needs = choose(QuickBooksConnector, quickbooks_defaults(), lists,
                           {"payment_types": {"Cash", "Card"}, "tax_codes": {"Sales tax 8.875%"}})
    assert chosen == quickbooks_defaults() and needs == []


async def test_an_australian_quickbooks_company_gets_its_own_items_for_lines():
    """Custom lines, rounding and shift summaries carry an Item; the demo's Item 1 is not one of this
    company's, so each is chosen from its own items (never an inactive one); a tip, owed to staff, only
    goes to an item named for it, else the shop chooses."""
    from app.connectors.quickbooks import QuickBooksConnector

    seen = {"custom_line_items": {"delivery", "tip", "gift_card_sold"}}
    chosen, needs = choose(QuickBooksConnector, quickbooks_defaults(), await company_lists("AU"), seen)
    # Services (13) for what the shop charges for; Sales (12) for rounding and the shift's sales.
    assert chosen["custom_line_items"] == {"service_charge": "13", "surcharge": "13", "delivery": "13", "other": "13"}
    assert (chosen["rounding_item"], chosen["shift_summary_item"]) == ("12", "12")
    assert sorted(n["setting"] for n in needs) == ["custom_line_items.gift_card_sold", "custom_line_items.tip"]
    assert all("Service or Non-inventory item" in n["reason"] for n in needs)

    # A company with items of its own for them: those are chosen, an Inventory item never is.
    lists = await company_lists("AU", (("Tips payable", "Service"), ("Gift card liability", "Service"),
                                       ("Rounding", "Inventory")))
    chosen, needs = choose(QuickBooksConnector, quickbooks_defaults(), lists, seen)
    names = {e["id"]: e["name"] for e in lists["items"]}
    assert {k: names[v] for k, v in chosen["custom_line_items"].items() if k in ("tip", "gift_card_sold")} == {
        "tip": "Tips payable", "gift_card_sold": "Gift card liability"}
    assert names[chosen["rounding_item"]] == "Sales" and needs == []


async def test_a_us_company_sends_the_zero_rates_seen_in_records_non_taxable():
    """US companies send TAX or NON per line: a POS rate named for 0 % that the default list lacks
    ("Tax free") would be sent taxable; seen in records, it joins us_non_taxable_rates."""
    from app.connectors.quickbooks import QuickBooksConnector

    seen = {"tax_codes": {"Sales tax 8.875%", "Tax free", "Exempt", "GST Free"}}
    chosen, needs = choose(QuickBooksConnector, quickbooks_defaults(), await company_lists("US"), seen)
    assert chosen["us_non_taxable_rates"] == [*quickbooks_defaults()["us_non_taxable_rates"], "GST Free", "Tax free"]
    assert needs == []
    # A company with tax codes maps rates to codes instead: nothing is added.
    chosen, _ = choose(QuickBooksConnector, quickbooks_defaults(), await company_lists("AU"), seen)
    assert chosen["us_non_taxable_rates"] == quickbooks_defaults()["us_non_taxable_rates"]
