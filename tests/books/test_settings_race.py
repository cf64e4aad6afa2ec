"""A settings change while a run is pushing: what the run pushed with the old settings is pushed
again with the new ones, whether it came back red or green."""

from __future__ import annotations

from tests.books.conftest import PRODUCT
from tests.books.programs import QuickBooks, Xero

SALE = {"number": "R-1", "date": "2026-11-27T10:00:00Z", "total": "10.00",
        "lines": [{"product_id": "P-1", "quantity": "1", "unit_price": "10.00", "tax_rate": "VAT 20%"}],
        "payments": [{"payment_type": "Voucher", "amount": "10.00"}]}
TIP_SALE = {"number": "R-2", "date": "2026-11-27T10:00:00Z", "total": "13.00",
            "lines": [{"product_id": "P-1", "quantity": "1", "unit_price": "10.00", "tax_rate": "VAT 20%"}],
            "custom_lines": [{"kind": "tip", "amount": "3.00"}],
            "payments": [{"payment_type": "Cash", "amount": "13.00"}]}
MAPPED = {"payment_accounts": {"Cash": "090", "Card": "091", "Voucher": "810"},
          "custom_line_accounts": {"tip": "814"}}


def change_settings_during_the_next_sale_push(program, changes: dict) -> None:
    """The shop saves its settings while the run is between reading them and writing the outcome."""
    connector = program.api.deps.connectors[program.name]
    push = connector.push
    done: list[bool] = []

    async def pushing(ctx, entity_type, items):
        results = await push(ctx, entity_type, items)
        if entity_type == "sale" and not done:
            done.append(True)
            assert (await program.settings(changes)).status_code == 200
        return results

    connector.push = pushing


async def test_a_record_red_with_the_old_settings_is_pushed_again_with_the_new(api):
    program = Xero(api)
    await program.connect({"payment_accounts": {"Cash": "090", "Card": "091"}, "custom_line_accounts": {"tip": "814"}})
    await api.put("/v1/products/P-1", PRODUCT)
    await api.settle()
    change_settings_during_the_next_sale_push(program, MAPPED)  # Voucher mapped while its sale is refused
    assert (await api.put("/v1/sales/R-1", SALE)).status_code == 201
    await api.settle()
    body = (await api.get("/v1/sales/R-1/sync")).json()
    assert body["symbol"] == "green", body
    assert [d["total"] for d in (await program.documents()).values()] == [10]
    logs = [a["outcome"] for a in (await api.get("/v1/sales/R-1/sync/logs")).json()["items"]]
    assert logs == ["created", "failed"]  # newest first: the red attempt stays in the history


async def test_a_record_green_with_the_old_settings_is_updated_with_the_new(api):
    # QuickBooks: a paid receipt may be updated (Xero refuses edits of a paid invoice).
    program = QuickBooks(api)
    await program.connect()
    staff_tips = program.fake._store(program.company, "Item", {"Name": "Staff tips", "Type": "Service",
                                                                "IncomeAccountRef": {"value": "33"}})["Id"]
    await api.put("/v1/products/P-1", PRODUCT)
    await api.settle()
    items = {**program.default_settings()["custom_line_items"], "tip": staff_tips}
    change_settings_during_the_next_sale_push(program, {"custom_line_items": items})
    assert (await api.put("/v1/sales/R-2", TIP_SALE)).status_code == 201
    await api.settle()
    (document,) = (await program.documents()).values()
    tips = [line["SalesItemLineDetail"]["ItemRef"]["value"] for line in document["object"]["Line"]
            if line.get("Description") == "Tip"]
    assert tips == [staff_tips]  # sent again with the item the shop chose meanwhile, not a second receipt
    assert document["total"] == 13 and (await api.get("/v1/sales/R-2/sync")).json()["symbol"] == "green"
