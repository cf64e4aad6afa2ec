"""An external id the program returns that another record already holds fails that record, not the job."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from app.models import Link


async def test_a_merged_contact_fails_one_record_with_advice_naming_both(api, monkeypatch):
    await api.connect_sandbox()
    sandbox = api.deps.connectors["sandbox"]
    original_push = sandbox.push
    first_ids: dict[str, str] = {}

    async def push_as_if_merged(ctx, entity_type, items):
        results = await original_push(ctx, entity_type, items)
        out = []
        for item, result in zip(items, results, strict=True):
            if item.pos_id == "C-1":
                first_ids["C-1"] = result.external_id
            if item.pos_id in ("C-2", "C-3") and "C-1" in first_ids:
                result = replace(result, external_id=first_ids["C-1"])  # the program says: that is C-1
            out.append(result)
        return out

    monkeypatch.setattr(sandbox, "push", push_as_if_merged)
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await api.settle()
    # Two in one batch, both answered with C-1's object, plus a record after them that must go through.
    await api.post("/v1/customers/batch", {"items": [{"id": "C-2", "first_name": "Ana L"},
                                                     {"id": "C-3", "first_name": "A. Lopez"},
                                                     {"id": "C-4", "first_name": "Bo"}]})
    await api.settle()

    for pos_id in ("C-2", "C-3"):
        body = (await api.get(f"/v1/customers/{pos_id}/sync")).json()
        (entry,) = body["connections"]
        assert body["symbol"] == "red" and entry["state"] == "failed" and entry["external_id"] is None
        assert "customer C-1" in entry["advice"] and f"customer {pos_id}" in entry["advice"]
        assert first_ids["C-1"] in entry["error"]
    for pos_id in ("C-1", "C-4"):
        assert (await api.get(f"/v1/customers/{pos_id}/sync")).json()["symbol"] == "green"
    async with api.deps.sessions() as session:
        holders = (await session.scalars(select(Link).where(Link.external_id == first_ids["C-1"]))).all()
    assert len(holders) == 1
    runs = (await api.get(f"/v1/connections/{(await api.get('/v1/connections')).json()['items'][0]['id']}/runs")).json()
    assert all(run["status"] == "finished" for run in runs["items"]), runs


async def test_a_clash_stored_by_another_job_meanwhile_still_fails_only_the_record(api, monkeypatch):
    from app.sync import results

    await api.connect_sandbox()
    sandbox = api.deps.connectors["sandbox"]
    original_push, original_check = sandbox.push, results._refuse_taken_ids
    first_ids: dict[str, str] = {}
    checks = []

    async def push_as_if_merged(ctx, entity_type, items):
        out = []
        for item, result in zip(items, await original_push(ctx, entity_type, items), strict=True):
            if item.pos_id == "C-1":
                first_ids["C-1"] = result.external_id
            elif "C-1" in first_ids:
                result = replace(result, external_id=first_ids["C-1"])
            out.append(result)
        return out

    async def check_that_misses_the_other_job_once(session, outcomes, connection_id):
        checks.append(1)
        if len(checks) == 2:  # the second batch's first check ran before the other job committed
            return outcomes
        return await original_check(session, outcomes, connection_id)

    monkeypatch.setattr(sandbox, "push", push_as_if_merged)
    monkeypatch.setattr(results, "_refuse_taken_ids", check_that_misses_the_other_job_once)
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await api.settle()
    await api.put("/v1/customers/C-2", {"first_name": "Ana L"})
    await api.settle()
    assert len(checks) == 3  # the write was refused by the unique index and done again
    (entry,) = (await api.get("/v1/customers/C-2/sync")).json()["connections"]
    assert entry["state"] == "failed" and "customer C-1" in entry["advice"]


async def test_the_same_id_for_records_of_two_entity_types_is_no_clash(api, monkeypatch):
    # QuickBooks numbers each entity on its own: Customer 7 and Item 7 are two objects.
    await api.connect_sandbox()
    sandbox = api.deps.connectors["sandbox"]
    original_push = sandbox.push

    async def push_numbering_each_entity(ctx, entity_type, items):
        results = await original_push(ctx, entity_type, items)
        return [replace(r, external_id="7") if r.external_id else r for r in results]

    monkeypatch.setattr(sandbox, "push", push_numbering_each_entity)
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await api.put("/v1/products/P-1", {"name": "Tea", "sku": "TEA-1", "price": "3.00"})
    await api.settle()
    for url in ("/v1/customers/C-1/sync", "/v1/products/P-1/sync"):
        (entry,) = (await api.get(url)).json()["connections"]
        assert entry["state"] == "synced" and entry["external_id"] == "7", entry
