"""Dependencies wake what waits on them: a late product makes its sale green in one worker pass."""

from __future__ import annotations

import pytest

from app.entities.schemas import CUSTOMER_EXAMPLE, PRODUCT_EXAMPLE
from tests.conftest import arq_stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SALE = {"number": "S-2", "date": "2026-11-27T10:00:00Z", "customer_id": "C-1001",
        "lines": [{"product_id": "P-3001", "quantity": "1", "unit_price": "24.00", "tax_rate": "VAT 20%"}],
        "payments": [{"payment_type": "Card", "amount": "24.00"}]}


@pytest.fixture
async def arq_env(migrated):
    async with arq_stack(migrated, POSSYNC_SWEEP_INTERVAL_S=3600) as stack:
        yield stack


async def entry(api, collection, pos_id):
    body = (await api.get(f"/v1/{collection}/{pos_id}/sync")).json()
    (only,) = body["connections"]
    return body["symbol"], only


async def test_a_late_product_wakes_its_sale_within_one_worker_pass(arq_env, monkeypatch):
    api = arq_env.api
    await api.post("/v1/connections", {"connector": "sandbox"})
    await api.put("/v1/customers/C-1001", {k: v for k, v in CUSTOMER_EXAMPLE.items() if k != "id"})
    await api.put("/v1/sales/S-2", SALE)
    await arq_env.run_workers(monkeypatch)
    symbol, waiting = await entry(api, "sales", "S-2")
    # The product never came: red, with advice naming it, not a silent back-off.
    assert symbol == "red" and waiting["state"] == "failed"
    assert "product P-3001" in waiting["error"] and "product P-3001" in waiting["advice"]

    await api.put("/v1/products/P-3001", {k: v for k, v in PRODUCT_EXAMPLE.items() if k != "id"})
    await arq_env.run_workers(monkeypatch)  # one pass, no sleeping
    symbol, synced = await entry(api, "sales", "S-2")
    assert symbol == "green" and synced["state"] == "synced"


async def test_a_fixed_dependency_wakes_the_record_it_held_back(arq_env, monkeypatch):
    api = arq_env.api
    await api.post("/v1/connections", {"connector": "sandbox"})
    await api.put("/v1/customers/C-1001", {"first_name": "Ana", "email": "ana@invalid.example"})
    await api.put("/v1/products/P-3001", {k: v for k, v in PRODUCT_EXAMPLE.items() if k != "id"})
    await api.put("/v1/sales/S-2", SALE)
    await arq_env.run_workers(monkeypatch)
    symbol, held = await entry(api, "sales", "S-2")
    assert symbol == "red" and "customer C-1001" in held["advice"]

    await api.put("/v1/customers/C-1001", {"first_name": "Ana", "email": "ana@example.com"})
    await arq_env.run_workers(monkeypatch)
    assert (await entry(api, "sales", "S-2"))[0] == "green"
