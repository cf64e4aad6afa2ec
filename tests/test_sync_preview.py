"""POST /v1/{collection}/{id}/sync/preview: the document possync would send, and the problems it knows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.entities import ENTITY_TYPES
from app.entities.schemas import CUSTOMER_EXAMPLE, PRODUCT_EXAMPLE, SALE_EXAMPLE
from app.models import Attempt, Link
from tests.books.programs import QuickBooks, Xero
from tests.conftest import new_store_key

pytestmark = pytest.mark.postgres


async def counts(api) -> tuple[int, int]:
    async with api.deps.sessions() as session:
        return (await session.scalar(select(func.count()).select_from(Attempt)),
                await session.scalar(select(func.count()).select_from(Link).where(Link.state == "synced")))


async def test_every_collection_previews_through_the_one_path(api):
    connection_id = await api.connect_sandbox({"entity_types": list(ENTITY_TYPES)})
    for et in ENTITY_TYPES.values():
        assert (await api.put(f"/v1/{et.collection}/{et.example['id']}", et.example)).status_code in (200, 201)
    await api.settle()
    for et in ENTITY_TYPES.values():
        response = await api.post(f"/v1/{et.collection}/{et.example['id']}/sync/preview", {})
        assert response.status_code == 200, (et.name, response.text)
        (entry,) = response.json()["connections"]
        assert entry["connection_id"] == connection_id
        if entry["action"] == "skip":  # a shift report in individual-sales mode
            assert et.name == "shift_report" and entry["problems"][0]["code"] == "skipped"
            continue
        assert entry["action"] == "update" and entry["document"]["body"], (et.name, entry)


async def test_a_xero_sale_previews_its_invoice_and_what_holds_it_back_without_sending(api):
    program = Xero(api)
    await program.connect()
    await api.put("/v1/customers/C-1001", CUSTOMER_EXAMPLE)
    paid = [{"payment_type": "Card", "amount": "43.00"}, {"payment_type": "Voucher", "amount": "1.00"}]
    # Its product has not come from the POS yet, and one payment type has no account.
    assert (await api.put("/v1/sales/SALE-5001", {**SALE_EXAMPLE, "payments": paid})).status_code == 201
    await api.settle()
    calls, before = program.fake.count(), await counts(api)

    response = await api.post("/v1/sales/SALE-5001/sync/preview")
    assert response.status_code == 200, response.text
    (entry,) = response.json()["connections"]
    problems = {p["code"]: p for p in entry["problems"]}
    assert problems["dependency_missing"]["reference"] == {"entity_type": "product", "id": "P-3001"}
    assert "has not sent" in problems["dependency_missing"]["message"]
    assert problems["payment_type_unmapped"]["setting"] == "payment_accounts.Voucher"
    assert entry["action"] == "create" and entry["document"] is None  # refused by the mapper, as a push would be
    assert program.fake.count() == calls and await counts(api) == before  # nothing sent, nothing written

    payments = {"Cash": "090", "Card": "091", "Gift card": "810", "Store credit": "805", "Voucher": "810"}
    assert (await program.settings({"payment_accounts": payments})).status_code == 200
    await api.put("/v1/products/P-3001", PRODUCT_EXAMPLE)
    await api.settle()
    calls = program.fake.count()
    (entry,) = (await api.post("/v1/sales/SALE-5001/sync/preview", {})).json()["connections"]
    assert entry["action"] == "update" and entry["problems"] == []
    document = entry["document"]
    assert document["endpoint"] == "Invoices" and document["body"]["InvoiceNumber"] == "POS-5001"
    assert document["body"]["LineItems"][0]["ItemCode"] == PRODUCT_EXAMPLE["sku"]
    assert document["body"]["LineItems"][0]["TaxType"] == "OUTPUT2"
    assert [(p["Account"]["Code"], p["Amount"]) for p in document["payments"]] == [("091", 43.0), ("810", 1.0)]
    assert program.fake.count() == calls


async def test_a_quickbooks_product_previews_its_item(api):
    program = QuickBooks(api)
    await program.connect()
    await api.put("/v1/products/P-3001", PRODUCT_EXAMPLE)
    await api.settle()
    (entry,) = (await api.post("/v1/products/P-3001/sync/preview", {})).json()["connections"]
    assert entry["action"] == "update" and entry["document"]["endpoint"] == "Item"
    assert entry["document"]["body"]["Name"] == PRODUCT_EXAMPLE["name"] and entry["problems"] == []


async def test_preview_of_another_stores_record_is_404(api):
    await api.connect_sandbox()
    await api.put("/v1/customers/C-1001", CUSTOMER_EXAMPLE)
    other = {"Authorization": f"Bearer {await new_store_key(api.deps, 'Other')}"}
    response = await api.client.post("/v1/customers/C-1001/sync/preview", headers=other)
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
