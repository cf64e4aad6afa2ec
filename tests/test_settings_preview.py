"""POST /v1/connections/{id}/settings/preview: what a settings change would do, with nothing saved."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.entities.schemas import CUSTOMER_EXAMPLE, PRODUCT_EXAMPLE
from app.models import Connection, Link, ProgramList
from tests.books.programs import Xero
from tests.conftest import new_store_key

pytestmark = pytest.mark.postgres


async def snapshot(api, connection_id: str):
    async with api.deps.sessions() as session:
        connection = await session.get(Connection, connection_id)
        links = sorted((link.id, link.state, link.next_attempt_at, link.waiting_for, link.error_code)
                       for link in (await session.scalars(select(Link))).all())
        lists = sorted((row.kind, row.fetched_at) for row in (await session.scalars(select(ProgramList))).all())
        return connection.settings, connection.needs_choice, links, lists


def sale(pos_id: str, date: str, **extra) -> dict:
    return {"number": pos_id, "date": date, "lines": [{"product_id": "P-9", "quantity": "1", "unit_price": "5.00"}],
            "payments": [{"payment_type": "Card", "amount": "5.00"}], **extra}


async def test_a_sales_mode_change_names_the_records_it_affects_and_saves_nothing(api):
    connection_id = await api.connect_sandbox()
    # Sales of tomorrow whose product has not arrived: not in the program yet.
    for pos_id in ("S-1", "S-2"):
        assert (await api.put(f"/v1/sales/{pos_id}", sale(pos_id, "2099-01-02T10:00:00Z"))).status_code == 201
    assert (await api.put("/v1/sales/S-OLD", sale("S-OLD", "2026-01-02T10:00:00Z"))).status_code == 201
    shift = {"register_id": "REG-1", "opened_at": "2099-01-02T08:00:00Z", "closed_at": "2099-01-02T18:00:00Z",
             "sales_total": "10.00"}
    assert (await api.put("/v1/shift-reports/SH-1", shift)).status_code == 201
    await api.settle()
    before = await snapshot(api, connection_id)

    response = await api.post(f"/v1/connections/{connection_id}/settings/preview",
                              {"sales_mode": "shift_totals", "effective_from": "2099-01-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    change = response.json()["sales_mode_change"]
    assert (change["sales_mode_before"], change["sales_mode_after"]) == ("individual", "shift_totals")
    assert change["will_skip"] == {"sale": ["S-1", "S-2"]} and change["will_sync"] == {"shift_report": ["SH-1"]}
    assert change["counts"] == {"sale": 2, "shift_report": 1}  # S-OLD is dated before the change
    assert response.json()["changed"] == ["sales_mode"]
    assert await snapshot(api, connection_id) == before  # nothing changed


async def test_a_sale_is_previewed_by_its_shifts_close_as_the_engine_judges_it(api):
    """A sales-mode change dated 2099-01-01: a sale rung up before it in a shift that closes after it
    is judged by the close (so it is affected); a sale of an open shift counts as closing now (so it
    is not, whatever its date); a sale with no shift goes by its own date."""
    connection_id = await api.connect_sandbox()
    late_shift = {"register_id": "REG-1", "opened_at": "2098-12-31T20:00:00Z", "closed_at": "2099-01-01T02:00:00Z",
                  "sales_total": "5.00"}
    open_shift = {"register_id": "REG-2", "opened_at": "2099-01-02T08:00:00Z", "sales_total": "5.00"}
    assert (await api.put("/v1/shift-reports/SH-LATE", late_shift)).status_code == 201
    assert (await api.put("/v1/shift-reports/SH-OPEN", open_shift)).status_code == 201
    sales = {"S-LATE": sale("S-LATE", "2098-12-31T23:00:00Z", shift_id="SH-LATE"),
             "S-OPEN": sale("S-OPEN", "2099-01-02T10:00:00Z", shift_id="SH-OPEN"),
             "S-ALONE": sale("S-ALONE", "2099-01-02T10:00:00Z"),
             "S-BEFORE": sale("S-BEFORE", "2098-12-31T10:00:00Z")}
    for pos_id, body in sales.items():
        assert (await api.put(f"/v1/sales/{pos_id}", body)).status_code == 201
    await api.settle()

    response = await api.post(f"/v1/connections/{connection_id}/settings/preview",
                              {"sales_mode": "shift_totals", "effective_from": "2099-01-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    change = response.json()["sales_mode_change"]
    assert change["will_skip"] == {"sale": ["S-ALONE", "S-LATE"]}
    assert change["will_sync"] == {"shift_report": ["SH-LATE"]}


async def test_turning_a_type_off_and_on_is_counted_per_entity_type(api):
    connection_id = await api.connect_sandbox({"entity_types": ["customer", "product"]})
    await api.put("/v1/customers/C-1001", CUSTOMER_EXAMPLE)
    await api.put("/v1/suppliers/S-1", {"name": "Bean Traders"})
    await api.put("/v1/suppliers/S-2", {"name": "Milk Co"})
    await api.settle()
    before = await snapshot(api, connection_id)
    response = await api.post(f"/v1/connections/{connection_id}/settings/preview",
                              {"entity_types": ["product", "supplier"]})
    assert response.status_code == 200, response.text
    assert response.json()["by_entity_type"] == {
        "customer": {"resent": 0, "skipped": 1, "start_syncing": 0},
        "supplier": {"resent": 0, "skipped": 0, "start_syncing": 2},
    }
    assert response.json()["sales_mode_change"] is None
    assert await snapshot(api, connection_id) == before


async def test_a_new_mapping_previews_the_records_waiting_on_it_and_a_refused_value(api):
    program = Xero(api)
    connection_id = await program.connect()
    await api.put("/v1/products/P-3001", PRODUCT_EXAMPLE)
    await api.put("/v1/sales/V-1", {"number": "V-1", "date": "2026-11-27T10:00:00Z",
                                    "lines": [{"product_id": "P-3001", "quantity": "1", "unit_price": "24.00",
                                               "tax_rate": "VAT 20%"}],
                                    "payments": [{"payment_type": "Voucher", "amount": "24.00"}]})
    await api.settle()
    await api.get(f"/v1/connections/{connection_id}/accounts")  # keeps a copy of the chart
    before = await snapshot(api, connection_id)
    payments = {"Cash": "090", "Card": "091", "Gift card": "810", "Store credit": "805", "Voucher": "810"}
    response = await api.post(f"/v1/connections/{connection_id}/settings/preview", {"payment_accounts": payments})
    assert response.status_code == 200, response.text
    assert response.json()["by_entity_type"] == {"sale": {"resent": 1, "skipped": 0, "start_syncing": 0}}
    assert response.json()["refused"] == []
    refused = await api.post(f"/v1/connections/{connection_id}/settings/preview", {"sales_inventory_account": "090"})
    (error,) = refused.json()["refused"]
    assert error["path"] == "body.sales_inventory_account" and error["type"] == "wrong_kind"
    assert await snapshot(api, connection_id) == before


async def test_bad_proposals_are_refused_like_a_save_and_other_stores_get_404(api):
    connection_id = await api.connect_sandbox()
    bad = await api.post(f"/v1/connections/{connection_id}/settings/preview", {"no_such_setting": 1})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    other = {"Authorization": f"Bearer {await new_store_key(api.deps, 'Other')}"}
    response = await api.client.post(f"/v1/connections/{connection_id}/settings/preview", json={}, headers=other)
    assert response.status_code == 404
