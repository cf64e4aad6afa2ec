"""How fast the Error log's first and next pages answer with many attempts (PostgreSQL).

    .venv/bin/python -m bench.error_log                  # DATABASE_URL, 100,000 attempts
    .venv/bin/python -m bench.error_log --attempts 1000000 --pages 20

Seeds a store, a sandbox connection and `--attempts` attempts (ten per record; the latest try of
one record in ten failed and still fails; older tries failed and retried, as a program outage
leaves them), then times `errors_page` — the query `GET /v1/connections/{id}/errors` runs — for the
first page and for each next page, with and without an entity type filter. It prints p50 / max
per kind of page and the plan's access path to attempts. The seeded rows stay in their own store;
`--drop` deletes that store afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.opaque import OpaqueIds
from app.db import make_engine, make_session_factory, transaction
from app.migrate import upgrade
from app.models import Connection, ConnectionStatus, Store
from app.runs.pages import errors_page, errors_query
from app.settings import Settings

TRIES_PER_RECORD = 10


async def seed_attempts(session: AsyncSession, *, connection_id: uuid.UUID, attempts: int) -> None:
    """`attempts` tries over attempts/10 records of the connection's store, in one INSERT each."""
    store_id = await session.scalar(select(Connection.store_id).where(Connection.id == connection_id))
    records = max(1, attempts // TRIES_PER_RECORD)
    prefix = uuid.uuid4().hex[:8]
    params = {"store": store_id, "connection": connection_id, "records": records, "prefix": prefix,
              "tries": TRIES_PER_RECORD}
    await session.execute(text("""
        INSERT INTO records (store_id, entity_type, pos_id, payload, content_hash, created_at, updated_at)
        SELECT :store, (ARRAY['customer','product','sale'])[1 + g % 3], :prefix || '-' || g,
               jsonb_build_object('id', :prefix || '-' || g), md5(g::text) || md5(:prefix), now(), now()
        FROM generate_series(1, :records) AS g
    """), params)
    # One record in ten still fails (state failed); the others synced after their failed tries.
    await session.execute(text("""
        INSERT INTO links (connection_id, record_id, entity_type, state, next_attempt_at, retries, updated_at)
        SELECT :connection, r.id, r.entity_type,
               CASE WHEN r.id % 10 = 0 THEN 'failed' ELSE 'synced' END, now(), 0, now()
        FROM records r WHERE r.store_id = :store AND r.pos_id LIKE :prefix || '-%'
    """), params)
    await session.execute(text("""
        INSERT INTO attempts (link_id, connection_id, entity_type, pos_id, outcome, error_code, error,
                              content_hash, duration_ms, created_at)
        SELECT l.id, l.connection_id, l.entity_type, r.pos_id,
               CASE WHEN t < :tries THEN 'retry' WHEN l.state = 'failed' THEN 'failed' ELSE 'created' END,
               CASE WHEN t < :tries THEN 'unavailable' WHEN l.state = 'failed' THEN 'invalid_tax' END,
               CASE WHEN t < :tries OR l.state = 'failed' THEN 'seeded failure' END,
               r.content_hash, 12, now() - ((:tries - t) || ' minutes')::interval
        FROM links l JOIN records r ON r.id = l.record_id
        CROSS JOIN generate_series(1, :tries) AS t
        WHERE l.connection_id = :connection AND r.pos_id LIKE :prefix || '-%'
        ORDER BY t, l.id
    """), params)


def access_path(plan: dict) -> list[str]:
    """How the plan reads the attempts and links tables: "attempts: Index Scan <index>", …"""
    found = []
    if plan.get("Relation Name") in ("attempts", "links"):
        found.append(f"{plan['Relation Name']}: {plan['Node Type']} {plan.get('Index Name', '')}".strip())
    for child in plan.get("Plans", []):
        found += access_path(child)
    return found


async def explain(session: AsyncSession, query) -> list[str]:
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    (raw,) = (await session.execute(text("EXPLAIN (FORMAT JSON) " + sql))).one()
    document = raw if isinstance(raw, list) else json.loads(raw)
    return access_path(document[0]["Plan"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=10, help="next pages read after each first page")
    parser.add_argument("--repeats", type=int, default=20, help="times each walk is repeated")
    parser.add_argument("--drop", action="store_true", help="delete the seeded store afterwards")
    args = parser.parse_args()
    settings = Settings()
    if not settings.database_url.startswith("postgresql"):
        raise SystemExit("bench.error_log needs DATABASE_URL pointing at PostgreSQL")
    upgrade(settings.database_url)  # alembic runs its own event loop: before this one starts
    asyncio.run(run(args, settings))


async def run(args: argparse.Namespace, settings: Settings) -> None:
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    ids = OpaqueIds(b"bench-error-log-opaque-ids-key-0")
    async with transaction(sessions) as session:
        store = Store(name="bench error log")
        session.add(store)
        await session.flush()
        connection = Connection(store_id=store.id, connector="sandbox", status=ConnectionStatus.ACTIVE, settings={})
        session.add(connection)
        await session.flush()
        started = time.perf_counter()
        await seed_attempts(session, connection_id=connection.id, attempts=args.attempts)
        seeded_s = time.perf_counter() - started
    async with engine.begin() as conn:  # committed: a rolled-back ANALYZE keeps no statistics
        await conn.execute(text("ANALYZE attempts"))
        await conn.execute(text("ANALYZE links"))
    print(f"seeded {args.attempts} attempts in {seeded_s:.1f} s")
    for label, filters in (("now failing", {}), ("now failing, sales", {"entity_type": "sale"}),
                           ("history", {"history": True})):
        firsts, nexts = [], []
        for _ in range(args.repeats):
            cursor = None
            for page in range(args.pages + 1):
                async with sessions() as session:
                    started = time.perf_counter()
                    _rows, cursor = await errors_page(session=session, connection_id=connection.id,
                                                      entity_type=filters.get("entity_type"), since=None, code=None,
                                                      cursor=cursor, limit=50, ids=ids,
                                                      history=filters.get("history", False))
                    (firsts if page == 0 else nexts).append((time.perf_counter() - started) * 1000)
                if cursor is None:
                    break
        async with sessions() as session:
            path = await explain(session, errors_query(connection_id=connection.id, limit=50, before=None, **filters))
        print(f"{label:20} first page p50 {statistics.median(firsts):6.1f} ms max {max(firsts):6.1f} ms | "
              f"next pages p50 {statistics.median(nexts or [0]):6.1f} ms max {max(nexts or [0]):6.1f} ms | "
              f"reads {', '.join(path)}")
    if args.drop:
        async with transaction(sessions) as session:
            await session.execute(text("DELETE FROM stores WHERE id = :id"), {"id": store.id})
    await engine.dispose()


if __name__ == "__main__":
    main()
