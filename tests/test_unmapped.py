"""POS values no setting maps yet: the record waits with advice, /unmapped counts it, saving the
mapping sends exactly those records again."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.entities.schemas import CUSTOMER_EXAMPLE, PRODUCT_EXAMPLE
from app.connectors.quickbooks.settings import QuickBooksSettings
from app.models import Attempt
from tests.books.programs import QuickBooks, Xero
from tests.conftest import new_store_key
from tests.quickbooks.conftest import GLOBAL_TAX

pytestmark = pytest.mark.postgres

LINE = {"product_id": "P-3001", "quantity": "1", "unit_price": "24.00", "tax_rate": "VAT 20%"}


def sale(number: str, **extra) -> dict:
    return {"number": number, "date": "2026-11-27T10:00:00Z", "lines": [LINE], **extra}


async def attempts_of(api, pos_id: str) -> int:
    async with api.deps.sessions() as session:
        return len((await session.scalars(select(Attempt).where(Attempt.pos_id == pos_id))).all())


async def test_unmapped_values_are_listed_with_their_waiting_records_and_a_mapping_wakes_only_them(api):
    program = Xero(api)
    connection_id = await program.connect({"custom_line_accounts": {"service_charge": "200"}})
    await api.put("/v1/customers/C-1001", CUSTOMER_EXAMPLE)
    await api.put("/v1/products/P-3001", PRODUCT_EXAMPLE)
    voucher = [{"payment_type": "Voucher", "amount": "24.00"}]
    sales = {
        "V-1": sale("V-1", payments=voucher),
        "V-2": sale("V-2", payments=voucher),
        "K-1": sale("K-1", payments=[{"payment_type": "Card", "amount": "26.00"}],
                    custom_lines=[{"kind": "delivery", "amount": "2.00"}]),
        "T-1": sale("T-1", lines=[{**LINE, "tax_rate": "GST 10%"}], payments=[{"payment_type": "Card", "amount": "24.00"}]),
        "OK-1": sale("OK-1", payments=[{"payment_type": "Card", "amount": "24.00"}]),
    }
    for pos_id, body in sales.items():
        assert (await api.put(f"/v1/sales/{pos_id}", body)).status_code == 201
    await api.settle()

    (entry,) = (await api.get("/v1/sales/V-1/sync")).json()["connections"]
    assert entry["state"] == "failed" and "payment_accounts" in entry["advice"] and "Voucher" in entry["advice"]
    (entry,) = (await api.get("/v1/sales/T-1/sync")).json()["connections"]
    assert entry["state"] == "failed" and "sales_tax_types" in entry["advice"]

    response = await api.get(f"/v1/connections/{connection_id}/unmapped")
    assert response.status_code == 200, response.text
    listed = {(i["kind"], i["value"], i["setting"]): (i["records"], i["entity_types"]) for i in response.json()["items"]}
    assert listed == {
        ("payment_type", "Voucher", "payment_accounts"): (2, {"sale": 2}),
        ("custom_line_kind", "delivery", "custom_line_accounts"): (1, {"sale": 1}),
        ("tax_rate", "GST 10%", "sales_tax_types"): (1, {"sale": 1}),
    }
    assert response.json()["items"][0]["value"] == "Voucher"  # the most waited-on first

    before = {pos_id: await attempts_of(api, pos_id) for pos_id in sales}
    payments = {"Cash": "090", "Card": "091", "Gift card": "810", "Store credit": "805", "Voucher": "810"}
    assert (await program.settings({"payment_accounts": payments})).status_code == 200
    await api.settle()

    after = {pos_id: await attempts_of(api, pos_id) for pos_id in sales}
    # Exactly the two that waited on Voucher were sent again; the others were not touched.
    assert {p for p in sales if after[p] != before[p]} == {"V-1", "V-2"}
    assert sorted(await program.documents()) == ["OK-1", "V-1", "V-2"]
    left = (await api.get(f"/v1/connections/{connection_id}/unmapped")).json()["items"]
    assert {i["value"] for i in left} == {"delivery", "GST 10%"}


async def test_a_quickbooks_record_with_an_unmapped_tax_rate_waits_on_tax_codes(api):
    program = QuickBooks(api)
    connection_id = await program.connect()
    await api.put("/v1/products/P-3001", {**PRODUCT_EXAMPLE, "tax_rate": "Luxury 25%"})
    await api.settle()
    (entry,) = (await api.get("/v1/products/P-3001/sync")).json()["connections"]
    assert entry["state"] == "failed" and "tax_codes" in entry["advice"], entry
    (item,) = (await api.get(f"/v1/connections/{connection_id}/unmapped")).json()["items"]
    assert (item["kind"], item["value"], item["setting"], item["records"]) == ("tax_rate", "Luxury 25%", "tax_codes", 1)


async def test_unmapped_of_another_stores_connection_is_404(api):
    program = Xero(api)
    connection_id = await program.connect()
    other = {"Authorization": f"Bearer {await new_store_key(api.deps, 'Other')}"}
    response = await api.client.get(f"/v1/connections/{connection_id}/unmapped", headers=other)
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


async def test_a_record_waiting_for_a_setting_is_told_apart_from_a_refused_one_everywhere_it_shows(api):
    """Both are red and failed; only the one waiting for a mapping says which setting to save, in the
    Sync panel, sync-status, the list view and the Error log. Saving it sends that record again."""
    program = QuickBooks(api)
    connection_id = await program.connect()
    await api.put("/v1/products/P-WAIT", {**PRODUCT_EXAMPLE, "id": "P-WAIT", "sku": "W-1", "tax_rate": "Luxury 25%"})
    await api.put("/v1/products/P-LONG", {**PRODUCT_EXAMPLE, "id": "P-LONG", "sku": "L-1", "name": "x" * 101})  # QuickBooks refuses
    await api.settle()
    waiting, refused = "tax_codes.Luxury 25%", None

    for pos_id, waits in (("P-WAIT", waiting), ("P-LONG", refused)):
        panel = (await api.get(f"/v1/products/{pos_id}/sync")).json()
        assert (panel["symbol"], panel["state"], panel["waits_for"]) == ("red", "failed", waits), panel
        assert panel["connections"][0]["waits_for"] == waits
    status = (await api.get("/v1/products/sync-status?ids=P-WAIT,P-LONG")).json()["items"]
    assert [(s["symbol"], s["state"], s["waits_for"]) for s in status] == [("red", "failed", waiting),
                                                                            ("red", "failed", refused)]
    lines = {line["id"]: line for line in (await api.get("/v1/products")).json()["items"]}
    assert lines["P-WAIT"]["waits_for"] == lines["P-WAIT"]["connections"][0]["waits_for"] == waiting
    assert lines["P-LONG"]["waits_for"] is lines["P-LONG"]["connections"][0]["waits_for"] is None
    errors = {e["pos_id"]: e for e in (await api.get(f"/v1/connections/{connection_id}/errors")).json()["items"]}
    assert errors["P-WAIT"]["waits_for"] == waiting and errors["P-WAIT"]["error_code"] == "tax_rate_unmapped"
    assert errors["P-LONG"]["waits_for"] is None

    before = await attempts_of(api, "P-LONG")
    assert (await program.settings({"tax_codes": {**GLOBAL_TAX, "Luxury 25%": "2"}})).status_code == 200
    await api.settle()
    panel = (await api.get("/v1/products/P-WAIT/sync")).json()
    assert (panel["symbol"], panel["waits_for"]) == ("green", None)
    assert await attempts_of(api, "P-LONG") == before  # the refused one is not sent again by the save


async def test_patch_saves_one_mapping_entry_and_sends_only_the_record_waiting_on_it(api):
    """PATCH is a JSON merge patch: the new tax code alone is enough, the other codes stay, and only the
    record that waited on it is sent again (the refused one and the synced ones are left alone)."""
    program = QuickBooks(api)
    connection_id = await program.connect()
    await api.put("/v1/products/P-WAIT", {**PRODUCT_EXAMPLE, "id": "P-WAIT", "sku": "W-1", "tax_rate": "Luxury 25%"})
    await api.put("/v1/products/P-LONG", {**PRODUCT_EXAMPLE, "id": "P-LONG", "sku": "L-1", "name": "x" * 101})
    await api.put("/v1/products/P-OK", {**PRODUCT_EXAMPLE, "id": "P-OK", "sku": "O-1", "name": "Other product"})
    await api.settle()
    assert (await api.get("/v1/products/P-OK/sync")).json()["symbol"] == "green"
    before = {pos_id: await attempts_of(api, pos_id) for pos_id in ("P-WAIT", "P-LONG", "P-OK")}
    one_code = {"tax_codes": {"Luxury 25%": "2"}}

    preview = await api.post(f"/v1/connections/{connection_id}/settings/preview", one_code)
    assert preview.status_code == 200, preview.text
    assert preview.json()["changed"] == ["tax_codes"]
    assert preview.json()["by_entity_type"]["product"]["resent"] == 1

    saved = await program.settings(one_code)
    assert saved.status_code == 200, saved.text
    assert saved.json()["tax_codes"] == {**GLOBAL_TAX, "Luxury 25%": "2"}
    await api.settle()
    after = {pos_id: await attempts_of(api, pos_id) for pos_id in before}
    assert {p for p in before if after[p] != before[p]} == {"P-WAIT"}
    panel = (await api.get("/v1/products/P-WAIT/sync")).json()
    assert (panel["symbol"], panel["waits_for"]) == ("green", None)
    assert (await api.get(f"/v1/connections/{connection_id}/unmapped")).json()["items"] == []


async def test_patch_merges_nested_mappings_null_removes_and_put_replaces(api):
    program = QuickBooks(api)
    connection_id = await program.connect()
    url = f"/v1/connections/{connection_id}/settings"
    start = (await api.get(url)).json()

    # One field of one payment type's mapping: the deposit account and the other types stay.
    changed = await api.request("PATCH", url, json={"payment_types": {"Card": {"payment_method": "1"}}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["payment_types"] == {**start["payment_types"],
                                               "Card": {"deposit_account": "4", "payment_method": "1"}}

    # null removes a mapping entry, and a whole setting (back to its default).
    changed = await api.request("PATCH", url, json={"tax_codes": {"No VAT": None}, "doc_number_prefix": "POS-"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["tax_codes"] == {k: v for k, v in GLOBAL_TAX.items() if k != "No VAT"}
    default_prefix = (await api.request("PATCH", url, json={"doc_number_prefix": None})).json()["doc_number_prefix"]
    assert default_prefix != "POS-"
    assert default_prefix == QuickBooksSettings().doc_number_prefix

    # A nested value of the wrong shape is still refused, naming its path; nothing is saved.
    wrong = await api.request("PATCH", url, json={"payment_types": {"Card": {"deposit_acount": "4"}}})
    assert wrong.status_code == 422 and "deposit_acount" in wrong.json()["errors"][0]["path"], wrong.text
    assert (await api.get(url)).json()["payment_types"]["Card"] == {"deposit_account": "4", "payment_method": "1"}

    # PUT stays a full replacement: what it does not name goes back to its default.
    replaced = await api.request("PUT", url, json={"tax_codes": {"VAT 20%": "2"}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["tax_codes"] == {"VAT 20%": "2"}
    assert replaced.json()["payment_types"] == QuickBooksSettings().model_dump(mode="json")["payment_types"]
