"""A batch's look-up of the records it already has probes the unique index once per POS id, even
while the table's statistics know nothing of the shop (its first import, a table not analyzed yet)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from app.sync import bulk

pytestmark = pytest.mark.postgres


async def test_a_batch_looks_its_records_up_by_the_unique_index_whatever_the_statistics(api):
    # The records arrive and are looked up at once, before any ANALYZE has seen them.
    for start in (0, 1000):
        response = await api.post("/v1/customers/batch",
                                  {"items": [{"id": f"C-{i}", "first_name": "A"} for i in range(start, start + 1000)]})
        assert response.status_code == 200, response.text
    async with api.deps.engine.begin() as conn:
        store_id = await conn.scalar(text("SELECT store_id FROM records WHERE pos_id = 'C-0'"))
        ids = [f"C-{i}" for i in range(0, 2000, 2)]
        params = {"pos_ids": ids, "store_id": str(store_id), "entity_type": "customer"}
        for statement in (bulk.EXISTING, bulk.RECORD_IDS):
            plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement.text}"), params)).scalar()
            plan = plan if isinstance(plan, list) else json.loads(plan)
            scans = list(_nodes(plan[0]["Plan"], "records"))
            assert scans, plan
            for node in scans:
                assert node["Node Type"] == "Index Scan", node
                assert "pos_id" in node["Index Cond"], node
                assert node.get("Rows Removed by Filter", 0) == 0, node
                assert node["Actual Rows"] <= 1, node  # one record a probe, never the shop's whole type
        found = (await conn.execute(bulk.EXISTING, params)).all()
        assert sorted(row[0] for row in found) == sorted(ids)


def _nodes(node: dict, relation: str):
    if node.get("Relation Name") == relation:
        yield node
    for child in node.get("Plans", []):
        yield from _nodes(child, relation)


async def test_the_look_up_of_taken_external_ids_probes_the_unique_index_whatever_the_statistics(api):
    connection_id = await api.connect_sandbox()
    # Statistics from when the shop had ten synced customers; two thousand more synced since.
    for start, count in ((0, 10), (10, 1000), (1010, 1000)):
        items = [{"id": f"C-{i}", "first_name": "A"} for i in range(start, start + count)]
        assert (await api.post("/v1/customers/batch", {"items": items})).status_code == 200
        await api.settle()
        if start == 0:
            async with api.deps.engine.begin() as conn:
                await conn.execute(text("ANALYZE links"))
    async with api.deps.engine.begin() as conn:
        taken = (await conn.execute(text("SELECT external_id FROM links WHERE external_id IS NOT NULL "
                                         "ORDER BY id DESC LIMIT 50"))).scalars().all()
        params = {"connection_id": connection_id, "entity_types": ["customer"] * 50, "external_ids": list(taken)}
        plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {bulk.TAKEN_IDS.text}"), params)).scalar()
        plan = plan if isinstance(plan, list) else json.loads(plan)
        scans = list(_nodes(plan[0]["Plan"], "links"))
        assert len(taken) == 50 and scans, plan
        for node in scans:
            assert "external_id" in node.get("Index Cond", ""), node
            assert node.get("Rows Removed by Filter", 0) == 0, node
            assert node["Actual Rows"] <= 1, node  # one link a probe, never the type's synced links
        found = (await conn.execute(bulk.TAKEN_IDS, params)).all()
        assert sorted(row[1] for row in found) == sorted(taken)
