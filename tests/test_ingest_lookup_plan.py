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
