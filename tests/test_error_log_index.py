"""The Error log's pages answer from an index, not a scan of every attempt (PostgreSQL, 100,000 attempts)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from app.models import Connection, ConnectionStatus
from bench.error_log import explain, seed_attempts

pytestmark = pytest.mark.postgres

FILTERS = [{}, {"entity_type": "sale"}, {"history": True}, {"code": "invalid_tax"}, {"entity_type": "product", "history": True}]


async def test_first_and_next_pages_read_attempts_through_an_index(api):
    from app.runs.pages import errors_query

    connection_id = uuid.UUID(await api.connect_sandbox())
    async with api.deps.sessions() as session, session.begin():
        # Another shop's connection shares the table, as in production.
        other = Connection(store_id=(await session.get(Connection, connection_id)).store_id, connector="sandbox",
                           status=ConnectionStatus.ACTIVE, settings={})
        session.add(other)
        await session.flush()
        await seed_attempts(session, connection_id=other.id, attempts=20_000)
        await seed_attempts(session, connection_id=connection_id, attempts=100_000)
    async with api.deps.engine.begin() as conn:  # committed: a rolled-back ANALYZE keeps no statistics
        await conn.execute(text("ANALYZE attempts"))
        await conn.execute(text("ANALYZE links"))

    async with api.deps.sessions() as session:
        for filters in FILTERS:
            for before in (None, 95_000):  # the first page, and a next page (a cursor)
                access = await explain(session, errors_query(connection_id=connection_id, limit=50, before=before,
                                                             **filters))
                assert access, filters
                # Attempts are never read whole; every read of them goes through an index.
                assert not any(a.startswith("attempts: Seq Scan") for a in access), (filters, before, access)
                assert any(a.startswith(("attempts: Index", "attempts: Bitmap Heap Scan")) for a in access), (
                    filters, before, access)
                if filters in ({}, {"entity_type": "sale"}):
                    # The Error log's own pages walk the failures newest first and stop at the page's
                    # end: links are looked up one by one, never scanned (the max(id) form did).
                    assert not any("Seq Scan" in a for a in access), (filters, before, access)

    # The same pages through the API: 50 each, no overlap, what fails now only.
    first = (await api.get(f"/v1/connections/{connection_id}/errors", params={"limit": 50})).json()
    assert len(first["items"]) == 50 and first["next_cursor"]
    assert {i["error_code"] for i in first["items"]} == {"invalid_tax"}
    second = (await api.get(f"/v1/connections/{connection_id}/errors",
                            params={"limit": 50, "cursor": first["next_cursor"]})).json()
    assert len(second["items"]) == 50
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
