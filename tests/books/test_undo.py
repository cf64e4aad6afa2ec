"""Records change after they are synced: voided sales and deleted records are undone in the program."""

from __future__ import annotations

from tests.books.conftest import PRODUCT

SALE = {"number": "V-1", "date": "2026-11-27T10:00:00Z", "customer_id": "C-1", "total": "10.00",
        "lines": [{"product_id": "P-1", "quantity": "1", "unit_price": "10.00", "tax_rate": "VAT 20%"}],
        "payments": [{"payment_type": "Card", "amount": "10.00"}]}


async def entry(api, collection, pos_id) -> dict:
    body = (await api.get(f"/v1/{collection}/{pos_id}/sync")).json()
    (only,) = body["connections"]
    return {**only, "symbol": body["symbol"]}


async def setup(program, api):
    await program.connect()
    await api.put("/v1/customers/C-1", {"first_name": "Ana", "last_name": "Lopez"})
    await api.put("/v1/products/P-1", PRODUCT)


def status_of(program, doc) -> str:
    if program.name == "sandbox":
        return doc["object"].data.get("program_status", "active")
    return doc["status"]


async def test_a_sale_voided_after_sync_is_voided_in_the_program(program, api):
    await setup(program, api)
    await api.put("/v1/sales/V-1", SALE)
    await api.settle()
    assert status_of(program, (await program.documents())["V-1"]) in ("PAID", "active")
    await api.put("/v1/sales/V-1", {**SALE, "status": "voided"})
    await api.settle()
    documents = await program.documents()
    assert list(documents) == ["V-1"]  # still one document: voided, not another one
    assert status_of(program, documents["V-1"]) in ("VOIDED", "voided")
    if program.name == "xero":
        assert documents["V-1"]["object"]["Payments"] == [] and documents["V-1"]["object"]["AmountPaid"] == 0
    if program.name == "quickbooks":
        assert documents["V-1"]["total"] == 0
    done = await entry(api, "sales", "V-1")
    assert done["symbol"] == "green" and done["state"] == "synced" and done["status"] == "voided"


async def test_a_void_the_program_refuses_says_what_to_do_by_hand(program, api):
    await setup(program, api)
    await api.put("/v1/sales/V-1", {**SALE, "note": "paid by card [reconciled]"})
    await api.settle()
    if program.name == "xero":
        for payment in program.books.payments.values():
            payment["IsReconciled"] = True  # the shop reconciled it in Xero meanwhile
    if program.name == "quickbooks":
        program.fake.close_books(program.realm, "2026-11-30")  # QuickBooks refuses in a closed period instead
    await api.put("/v1/sales/V-1", {**SALE, "note": "paid by card [reconciled]", "status": "voided"})
    await api.settle()
    refused = await entry(api, "sales", "V-1")
    assert refused["symbol"] == "red" and refused["state"] == "failed"
    assert "by hand" in refused["advice"]
    assert ("closing date" if program.name == "quickbooks" else "nreconcile") in refused["advice"]
    assert status_of(program, (await program.documents())["V-1"]) in ("PAID", "active")


async def test_a_part_paid_sale_voided_after_sync_loses_its_payments_then_is_voided(program, api):
    await setup(program, api)
    part = {**SALE, "payments": [{"payment_type": "Cash", "amount": "4.00"}, {"payment_type": "Card", "amount": "1.00"}]}
    await api.put("/v1/sales/V-1", part)
    await api.settle()
    assert status_of(program, (await program.documents())["V-1"]) in ("AUTHORISED", "active")
    await api.put("/v1/sales/V-1", {**part, "status": "voided"})
    await api.settle()
    documents = await program.documents()
    assert list(documents) == ["V-1"] and status_of(program, documents["V-1"]) in ("VOIDED", "voided")
    if program.name == "quickbooks":
        assert program.company.all("Payment") == [] and documents["V-1"]["total"] == 0
    if program.name == "xero":
        assert documents["V-1"]["object"]["Payments"] == []
    assert (await entry(api, "sales", "V-1"))["symbol"] == "green"


async def test_deleted_customers_and_products_are_archived_and_keep_their_history(program, api):
    await setup(program, api)
    await api.put("/v1/products/P-2", {**PRODUCT, "sku": "TEA", "name": "Tea"})
    await api.settle()
    for collection, pos_id in (("customers", "C-1"), ("products", "P-2")):
        deleted = await api.request("DELETE", f"/v1/{collection}/{pos_id}")
        assert deleted.status_code == 200 and deleted.json()["deleted_at"], deleted.text
        again = await api.request("DELETE", f"/v1/{collection}/{pos_id}")
        assert again.status_code == 200
    await api.settle()
    customer, product = await entry(api, "customers", "C-1"), await entry(api, "products", "P-2")
    assert customer["status"] == "archived" and customer["symbol"] == "green"
    if program.name == "xero":
        assert program.books.contacts[customer["external_id"]]["ContactStatus"] == "ARCHIVED"
        assert product["status"] == "deleted" and product["external_id"] not in program.books.items
    elif program.name == "quickbooks":
        # QuickBooks deletes no names: both are made inactive, their history kept there too.
        assert product["status"] == "archived"
        assert program.company.objects["Customer"][customer["external_id"]]["Active"] is False
        assert program.company.objects["Item"][product["external_id"]]["Active"] is False
    else:
        objects = {o.id: o for o in await program.objects()}
        assert objects[customer["external_id"]].data["program_status"] == "archived"
        assert objects[product["external_id"]].data["program_status"] == "archived"
    # History and panel stay: the record still answers, with its attempts.
    assert (await api.get("/v1/customers/C-1")).json()["deleted_at"] is not None
    outcomes = [a["outcome"] for a in (await api.get("/v1/customers/C-1/sync/logs")).json()["items"]]
    assert outcomes == ["archived", "created"]
    # Sent again, it is back in the POS.
    back = await api.put("/v1/customers/C-1", {"first_name": "Ana", "last_name": "Lopez"})
    assert back.status_code == 200 and back.json()["deleted_at"] is None
    assert (await api.get("/v1/nonsense/C-1")).status_code == 404
    assert (await api.request("DELETE", "/v1/customers/NOPE")).status_code == 404


async def test_a_tracked_item_xero_must_keep_is_left_with_advice(api):
    from tests.books.programs import Xero

    program = Xero(api)
    await program.connect()
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await api.put("/v1/products/P-1", {**PRODUCT, "tracked": True, "quantity": "5"})
    await api.put("/v1/sales/V-1", SALE)
    await api.settle()
    await api.request("DELETE", "/v1/products/P-1")
    await api.settle()
    refused = await entry(api, "products", "P-1")
    assert refused["state"] == "failed" and "archive the item by hand in Xero" in refused["advice"]
    assert refused["external_id"] in program.books.items


async def test_a_record_deleted_before_it_reached_the_program_is_skipped(program, api):
    await program.connect()
    await api.put("/v1/customers/C-9", {"email": "nobody@invalid.example"})  # no name: refused by both
    await api.settle()
    assert (await entry(api, "customers", "C-9"))["state"] == "failed"
    await api.request("DELETE", "/v1/customers/C-9")
    await api.settle()
    gone = await entry(api, "customers", "C-9")
    assert gone["state"] == "skipped" and "before it reached" in gone["advice"] and gone["symbol"] == "none"
