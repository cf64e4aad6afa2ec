"""A batch's look-up of the records it already has (their hashes, or the ids of those it left
unchanged), or refers to, probes the unique index once per POS id, even while the table's statistics know nothing of the shop (its first import, a table not
analyzed yet); a sale batch's look-up of its shifts' sales probes the shift index."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from app.sync import bulk
from app.sync.coverage import shifts_with_sales_in_program

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
        params = {"pos_ids": ids, "store_id": str(store_id), "entity_type": "customer",
                  "connection_id": str(uuid.uuid4())}
        for statement in (bulk.STORED, bulk.RECORD_IDS, bulk.REFERENCED, bulk.SHIFT_REPORTS):
            sql = getattr(statement, "element", statement).text  # typed columns wrap the text
            plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), params)).scalar()
            plan = plan if isinstance(plan, list) else json.loads(plan)
            scans = list(_nodes(plan[0]["Plan"], "records"))
            assert scans, plan
            for node in scans:
                assert node["Node Type"] == "Index Scan", node
                assert "pos_id" in node["Index Cond"], node
                assert node.get("Rows Removed by Filter", 0) == 0, node
                assert node["Actual Rows"] <= 1, node  # one record a probe, never the shop's whole type
        found = (await conn.execute(bulk.RECORD_IDS, params)).all()
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


async def test_the_look_up_of_shifts_whose_sales_went_one_by_one_probes_the_shift_index(api):
    connection_id = await api.connect_sandbox()
    async with api.deps.engine.begin() as conn:
        store_id = await conn.scalar(text("SELECT store_id FROM connections WHERE id = CAST(:c AS uuid)"),
                                     {"c": connection_id})
        # 2,000 sales of two shifts, written straight in (no push), one of them in the program.
        await conn.execute(text(
            "INSERT INTO records (store_id, entity_type, pos_id, payload, content_hash, created_at, updated_at) "
            "SELECT CAST(:s AS uuid), 'sale', 'SALE-' || i, jsonb_build_object('shift_id', 'S-' || (i % 2)), "
            "'h', now(), now() FROM generate_series(1, 2000) AS i"), {"s": store_id})
        await conn.execute(text(
            "INSERT INTO links (connection_id, record_id, entity_type, state, next_attempt_at, retries, updated_at, "
            "external_id) SELECT CAST(:c AS uuid), id, 'sale', 'synced', now(), 0, now(), "
            "CASE WHEN pos_id = 'SALE-501' THEN 'SR-501' END FROM records WHERE entity_type = 'sale'"),
            {"c": connection_id})
        probe = shifts_with_sales_in_program(store_id, uuid.UUID(connection_id), {"S-0", "S-1", "S-2"})
        sql = str(probe.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))).scalar()
        plan = plan if isinstance(plan, list) else json.loads(plan)
        scans = list(_nodes(plan[0]["Plan"], "records"))
        assert len(scans) == 3, plan
        for node in scans:
            assert node.get("Index Name") == "ix_records_sale_shift", node
            assert node.get("Rows Removed by Filter", 0) == 0, node  # the shift's sales, never the shop's
        assert set((await conn.execute(text(sql))).scalars().all()) == {"S-1"}
