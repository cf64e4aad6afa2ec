"""The program's lists behind a connection, and settings checked against them when saved."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from app.connectors.base import Credentials
from app.connectors.xero import XeroConnector
from app.db import transaction
from app.models import Connection, ConnectionStatus
from app.connections.credentials import seal_credentials
from tests.fakes.fake_xero import FakeXero
from tests.xero.conftest import app_settings

pytestmark = pytest.mark.postgres

ACCOUNTS = "/api.xro/2.0/Accounts"
TAX_RATES = "/api.xro/2.0/TaxRates"


@pytest.fixture
def fake() -> FakeXero:
    return FakeXero()


@pytest.fixture
async def xero(api, fake):
    connector = XeroConnector(app_settings(), transport=fake.transport(), timeout_s=2.0)
    api.deps.connectors["xero"] = connector
    yield connector
    api.deps.connectors.pop("xero")
    await connector.aclose()


async def connect(api, fake, tenant: str, connector: str = "xero") -> str:
    created = await api.post("/v1/connections", {"connector": connector})
    assert created.status_code == 201, created.text
    tokens = fake.issue_tokens()
    async with transaction(api.deps.sessions) as session:
        connection = await session.get(Connection, uuid.UUID(created.json()["id"]))
        connection.status = ConnectionStatus.ACTIVE
        connection.tenant_id = tenant
        connection.credentials_encrypted = seal_credentials(api.deps.secrets, Credentials(
            access_token=tokens["access_token"], refresh_token=tokens["refresh_token"], expires_at=4102444800.0))
    return created.json()["id"]


async def test_accounts_list_says_what_each_account_may_fill_and_is_kept(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    fake.books[tenant].archived_account_codes.add("429")
    connection_id = await connect(api, fake, tenant)

    response = await api.get(f"/v1/connections/{connection_id}/accounts")
    assert response.status_code == 200, response.text
    by_code = {a["id"]: a for a in response.json()["items"]}
    assert by_code["200"]["name"] == "Sales" and by_code["200"]["type"] == "REVENUE"
    assert "sales_inventory_account" in by_code["200"]["fills"] and "payment_accounts.*" not in by_code["200"]["fills"]
    assert by_code["090"]["fills"] == ["payment_accounts.*"]  # a bank account takes payments, not lines
    assert "payment_accounts.*" in by_code["810"]["fills"]  # payments enabled on a liability
    assert by_code["630"]["fills"] == ["inventory_asset_account", "custom_line_accounts.*", "rounding_account"]
    assert by_code["429"]["status"] == "archived" and by_code["429"]["fills"] == []

    calls = fake.count("GET", ACCOUNTS)
    again = await api.get(f"/v1/connections/{connection_id}/accounts")
    assert again.json() == response.json() and fake.count("GET", ACCOUNTS) == calls  # the kept copy
    refreshed = await api.get(f"/v1/connections/{connection_id}/accounts", params={"refresh": "true"})
    assert refreshed.status_code == 200 and fake.count("GET", ACCOUNTS) == calls + 1
    assert refreshed.json()["fetched_at"] > response.json()["fetched_at"]


async def test_tax_rates_list_splits_sales_and_purchase_types(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    connection_id = await connect(api, fake, tenant)
    response = await api.get(f"/v1/connections/{connection_id}/tax-rates")
    assert response.status_code == 200, response.text
    by_type = {t["id"]: t["fills"] for t in response.json()["items"]}
    assert by_type["OUTPUT2"] == ["sales_tax_types.*"] and by_type["INPUT2"] == ["purchase_tax_types.*"]
    assert by_type["NONE"] == ["sales_tax_types.*", "purchase_tax_types.*", "untaxed_tax_type"]


async def test_xero_has_no_payment_methods_and_the_sandbox_no_lists(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    connection_id = await connect(api, fake, tenant)
    missing = await api.get(f"/v1/connections/{connection_id}/payment-methods")
    assert missing.status_code == 404 and "no payment methods list" in missing.json()["detail"]
    sandbox = await api.connect_sandbox()
    none = await api.get(f"/v1/connections/{sandbox}/accounts")
    assert none.status_code == 404 and "offers no lists" in none.json()["detail"]


async def test_lists_of_a_connection_to_reconnect_are_a_409(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    connection_id = await connect(api, fake, tenant)
    async with transaction(api.deps.sessions) as session:
        (await session.get(Connection, uuid.UUID(connection_id))).status = ConnectionStatus.RECONNECT_REQUIRED
    response = await api.get(f"/v1/connections/{connection_id}/accounts")
    assert response.status_code == 409 and "reconnecting" in response.json()["detail"]
    change = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"rounding_account": "260"})
    assert change.status_code == 409 and "reconnecting" in change.json()["detail"]


async def test_an_unreachable_program_is_a_503_with_retry_after(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    connection_id = await connect(api, fake, tenant)
    fake.fail_next(10, status=503)
    response = await api.get(f"/v1/connections/{connection_id}/accounts")
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"


@pytest.mark.parametrize(
    ("change", "path", "kind"),
    [
        ({"sales_inventory_account": "999"}, "body.sales_inventory_account", "unknown_reference"),
        ({"sales_non_inventory_account": "429"}, "body.sales_non_inventory_account", "inactive"),
        ({"shift_sales_account": "300"}, "body.shift_sales_account", "wrong_kind"),
        ({"purchases_non_inventory_account": "200"}, "body.purchases_non_inventory_account", "wrong_kind"),
        ({"inventory_asset_account": "090"}, "body.inventory_asset_account", "wrong_kind"),
        ({"cogs_account": "630"}, "body.cogs_account", "wrong_kind"),
        ({"payment_accounts": {"Cash": "200"}}, "body.payment_accounts.Cash", "wrong_kind"),
        ({"custom_line_accounts": {"tip": "091"}}, "body.custom_line_accounts.tip", "wrong_kind"),
        ({"rounding_account": "090"}, "body.rounding_account", "wrong_kind"),
        ({"sales_tax_types": {"VAT 20%": "INPUT2"}}, "body.sales_tax_types.VAT 20%", "wrong_kind"),
        ({"purchase_tax_types": {"VAT 20%": "OUTPUT"}}, "body.purchase_tax_types.VAT 20%", "unknown_reference"),
    ],
)
async def test_each_setting_naming_what_xero_does_not_allow_is_refused(api, fake, xero, change, path, kind):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    fake.books[tenant].archived_account_codes.add("429")
    connection_id = await connect(api, fake, tenant)
    before = (await api.get(f"/v1/connections/{connection_id}/settings")).json()

    response = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json=change)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["path"] == path and error["type"] == kind
    assert error["value"] == list(change.values())[0] if isinstance(list(change.values())[0], str) else True
    assert error["allowed"] and error["value"] not in error["allowed"]
    assert path.removeprefix("body.") in response.json()["detail"]
    assert (await api.get(f"/v1/connections/{connection_id}/settings")).json() == before  # nothing saved


async def test_good_settings_are_saved_and_an_account_added_since_the_copy_is_found(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    connection_id = await connect(api, fake, tenant)
    assert (await api.get(f"/v1/connections/{connection_id}/accounts")).status_code == 200  # a copy is kept
    ok = await api.request("PATCH", f"/v1/connections/{connection_id}/settings",
                           json={"payment_accounts": {"Cash": "090", "Card": "091"}, "rounding_account": "429"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["rounding_account"] == "429"

    fake.books[tenant].account_codes.add("201")  # the shop adds an account in Xero after the copy
    calls = fake.count("GET", ACCOUNTS)
    added = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"shift_sales_account": "201"})
    assert added.status_code == 200, added.text
    assert fake.count("GET", ACCOUNTS) == calls + 1


async def test_australian_tax_types_refuse_the_uk_defaults(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (AU)", demo_chart=True,
                             tax_rates={"OUTPUT": Decimal(10), "INPUT": Decimal(10), "EXEMPTOUTPUT": Decimal(0)})
    connection_id = await connect(api, fake, tenant)
    response = await api.request("PUT", f"/v1/connections/{connection_id}/settings", json={})
    assert response.status_code == 422
    paths = {e["path"] for e in response.json()["errors"]}
    assert "body.sales_tax_types.VAT 20%" in paths and "body.purchase_tax_types.VAT 20%" in paths
    fixed = await api.request("PUT", f"/v1/connections/{connection_id}/settings", json={
        "sales_tax_types": {"GST": "OUTPUT", "GST free": "EXEMPTOUTPUT"},
        "purchase_tax_types": {"GST": "INPUT"}, "untaxed_tax_type": "EXEMPTOUTPUT"})
    assert fixed.status_code == 200, fixed.text


async def test_settings_are_saved_unchecked_when_xero_cannot_be_reached_and_nothing_is_kept(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    connection_id = await connect(api, fake, tenant)
    fake.fail_next(10, status=503, path_prefix=ACCOUNTS)
    fake.fail_next(10, status=503, path_prefix=TAX_RATES)
    response = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"rounding_account": "999"})
    assert response.status_code == 200, response.text
    assert response.json()["rounding_account"] == "999"


@pytest.fixture
def qbo_fake():
    from tests.fakes.fake_quickbooks import FakeQuickBooks
    return FakeQuickBooks()


@pytest.fixture
async def qbo(api, qbo_fake):
    from app.connectors.quickbooks import QuickBooksConnector
    from tests.quickbooks.conftest import app_settings as qbo_settings
    connector = QuickBooksConnector(qbo_settings(), transport=qbo_fake.transport(), timeout_s=2.0)
    api.deps.connectors["quickbooks"] = connector
    yield connector
    api.deps.connectors.pop("quickbooks")
    await connector.aclose()


async def test_quickbooks_lists_accounts_payment_methods_and_tax_codes(api, qbo_fake, qbo):
    realm = qbo_fake.add_realm("Sandbox Company_UK", us=False)
    connection_id = await connect(api, qbo_fake, realm, "quickbooks")
    accounts = {a["id"]: a for a in (await api.get(f"/v1/connections/{connection_id}/accounts")).json()["items"]}
    assert accounts["79"]["type"] == "Income" and "sales_inventory_account" in accounts["79"]["fills"]
    assert accounts["4"]["fills"] == ["inventory_asset_account", "payment_types.*.deposit_account",
                                      "mixed_payments_account"]
    assert accounts["90"]["status"] == "archived" and accounts["90"]["fills"] == []
    methods = (await api.get(f"/v1/connections/{connection_id}/payment-methods")).json()["items"]
    assert [m["name"] for m in methods][:3] == ["Cash", "Check", "Visa"]
    assert all(m["fills"] == ["payment_types.*.payment_method"] for m in methods if m["status"] == "active")
    taxes = {t["id"]: t for t in (await api.get(f"/v1/connections/{connection_id}/tax-rates")).json()["items"]}
    assert taxes["2"]["fills"] == ["tax_codes.*"] and taxes["9"]["status"] == "archived"


async def test_quickbooks_lists_the_items_lines_may_carry_and_xero_has_none(api, qbo_fake, qbo, fake, xero):
    realm = qbo_fake.add_realm("Sandbox Company_UK", us=False)
    qbo_fake._store(qbo_fake.companies[realm], "Item", {"Name": "Coffee beans", "Type": "Inventory"})
    connection_id = await connect(api, qbo_fake, realm, "quickbooks")
    response = await api.get(f"/v1/connections/{connection_id}/items")
    assert response.status_code == 200, response.text
    items = {i["name"]: i for i in response.json()["items"]}
    line_settings = ["custom_line_items.*", "rounding_item", "shift_summary_item"]
    assert (items["Services"]["id"], items["Services"]["type"], items["Services"]["fills"]) == (
        "1", "Service", line_settings)
    assert items["Sales"]["type"] == "NonInventory" and items["Sales"]["fills"] == line_settings
    assert items["Old gift wrap"]["status"] == "archived" and items["Old gift wrap"]["fills"] == []
    assert items["Coffee beans"]["fills"] == []  # stock is counted, not a line's item
    wrong = await api.request("PATCH", f"/v1/connections/{connection_id}/settings",
                              json={"rounding_item": items["Coffee beans"]["id"]})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["type"] == "wrong_kind", wrong.text

    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    missing = await api.get(f"/v1/connections/{await connect(api, fake, tenant)}/items")
    assert missing.status_code == 404 and "no items list" in missing.json()["detail"]


async def test_a_company_with_more_items_than_one_query_page_is_listed_whole(api, qbo_fake, qbo):
    """Every product synced is an Item too: a shop's items pass QuickBooks' 1,000 per query, and a
    rounding item created after them is still found (listed, and accepted when saved)."""
    realm = qbo_fake.add_realm("Sandbox Company_UK", us=False)
    company = qbo_fake.companies[realm]
    for n in range(1200):
        qbo_fake._store(company, "Item", {"Name": f"Product {n}", "Type": "NonInventory"})
    rounding = qbo_fake._store(company, "Item", {"Name": "Rounding", "Type": "Service"})["Id"]
    connection_id = await connect(api, qbo_fake, realm, "quickbooks")
    listed = (await api.get(f"/v1/connections/{connection_id}/items?refresh=true")).json()["items"]
    assert len(listed) == 4 + 1200 + 1 and listed[-1]["id"] == rounding
    saved = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"rounding_item": rounding})
    assert saved.status_code == 200 and saved.json()["rounding_item"] == rounding, saved.text


@pytest.mark.parametrize(
    ("change", "path", "kind"),
    [
        ({"sales_service_account": "80"}, "body.sales_service_account", "wrong_kind"),
        ({"cogs_account": "79"}, "body.cogs_account", "wrong_kind"),
        ({"mixed_payments_account": "90"}, "body.mixed_payments_account", "inactive"),
        ({"payment_types": {"Cash": {"deposit_account": "79"}}}, "body.payment_types.Cash.deposit_account",
         "wrong_kind"),
        ({"payment_types": {"Cash": {"deposit_account": "35", "payment_method": "8"}}},
         "body.payment_types.Cash.payment_method", "inactive"),
        ({"payment_types": {"Cash": {"deposit_account": "35", "payment_method": "42"}}},
         "body.payment_types.Cash.payment_method", "unknown_reference"),
        ({"tax_codes": {"VAT 20%": "9"}}, "body.tax_codes.VAT 20%", "inactive"),
        ({"inventory_asset_account": "35"}, "body.inventory_asset_account", "wrong_kind"),
        ({"rounding_item": "4"}, "body.rounding_item", "inactive"),
        ({"custom_line_items": {"delivery": "999"}}, "body.custom_line_items.delivery", "unknown_reference"),
        ({"shift_summary_item": "999"}, "body.shift_summary_item", "unknown_reference"),
    ],
)
async def test_each_quickbooks_setting_naming_what_the_company_does_not_allow_is_refused(
        api, qbo_fake, qbo, change, path, kind):
    realm = qbo_fake.add_realm("Sandbox Company_UK", us=False)
    connection_id = await connect(api, qbo_fake, realm, "quickbooks")
    response = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json=change)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["path"] == path and error["type"] == kind and error["value"] not in error["allowed"]


async def test_quickbooks_defaults_and_good_changes_are_saved(api, qbo_fake, qbo):
    realm = qbo_fake.add_realm("Sandbox Company_UK", us=False)
    connection_id = await connect(api, qbo_fake, realm, "quickbooks")
    ok = await api.request("PUT", f"/v1/connections/{connection_id}/settings", json={
        "tax_codes": {"VAT 20%": "2", "Exempt": "4"},
        "payment_types": {"Cash": {"deposit_account": "36", "payment_method": "2"}}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["payment_types"]["Cash"] == {"deposit_account": "36", "payment_method": "2"}


async def test_xero_tracking_categories_come_with_their_options_archived_ones_marked(api, fake, xero):
    tenant = fake.add_tenant("Demo Company (UK)", demo_chart=True)
    region = fake.books[tenant].add_tracking("Region", {"North": "ACTIVE", "South": "ARCHIVED"})
    fake.books[tenant].add_tracking("Old", {"Any": "ACTIVE"}, status="ARCHIVED")
    connection_id = await connect(api, fake, tenant)
    response = await api.get(f"/v1/connections/{connection_id}/tracking")
    assert response.status_code == 200, response.text
    items = {(i["type"], i["name"]): i for i in response.json()["items"]}
    assert items[("category", "Region")]["id"] == region["TrackingCategoryID"]
    assert items[("category", "Region")]["status"] == "active"
    assert items[("option", "North")]["parent"] == region["TrackingCategoryID"]
    assert items[("option", "North")]["status"] == "active" and items[("option", "South")]["status"] == "archived"
    assert items[("category", "Old")]["status"] == "archived" and items[("option", "Any")]["status"] == "archived"
    calls = fake.count("GET", "/api.xro/2.0/TrackingCategories")
    again = await api.get(f"/v1/connections/{connection_id}/tracking")
    assert again.json() == response.json() and fake.count("GET", "/api.xro/2.0/TrackingCategories") == calls


async def test_quickbooks_tracking_lists_classes_and_locations(api, qbo_fake, qbo):
    realm = qbo_fake.add_realm(us=True)
    connection_id = await connect(api, qbo_fake, realm, "quickbooks")
    response = await api.get(f"/v1/connections/{connection_id}/tracking")
    assert response.status_code == 200, response.text
    items = {(i["type"], i["id"]): i for i in response.json()["items"]}
    assert items[("Class", "101")]["name"] == "Retail:Cafe" and items[("Class", "101")]["parent"] == "100"
    assert items[("Class", "102")]["status"] == "archived"
    assert items[("Location", "1")]["name"] == "High Street" and items[("Location", "1")]["status"] == "active"
