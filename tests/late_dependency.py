"""One scenario both programs' end-to-end tests run with a real arq worker: a sale waits for a
product that arrives late, and is green within one worker pass after it does (no sleeping)."""

from __future__ import annotations

SALE = {"number": "S-2", "date": "2026-11-27T10:00:00Z", "customer_id": "C-1",
        "lines": [{"product_id": "P-3001", "quantity": "1", "unit_price": "24.00", "tax_rate": "VAT 20%"}],
        "payments": [{"payment_type": "Card", "amount": "24.00"}]}
PRODUCT = {"sku": "BAG-1", "name": "Tote bag", "price": "24.00", "tax_rate": "VAT 20%"}


async def a_late_product_wakes_its_sale_within_one_worker_pass(stack, monkeypatch) -> None:
    await stack.api.put("/v1/customers/C-1", {"first_name": "Ana", "last_name": "Lopez"})
    await stack.api.put("/v1/sales/S-2", SALE)
    await stack.run_workers(monkeypatch)
    waiting = (await stack.api.get("/v1/sales/S-2/sync")).json()
    assert waiting["symbol"] == "red" and "product P-3001" in waiting["connections"][0]["advice"]
    await stack.api.put("/v1/products/P-3001", PRODUCT)
    await stack.run_workers(monkeypatch)  # one pass, no sleeping: the product's push wakes the sale
    synced = (await stack.api.get("/v1/sales/S-2/sync")).json()
    assert synced["symbol"] == "green", synced
