"""Batch ingest beside raw asyncpg: possync's `POST /v1/customers/batch` (1,000 new customers a
call) against `executemany` and `copy_records_to_table` of the same kind of rows into `records`.

The baselines get their rows ready-made (payload JSON, hash, times) before the clock starts and
only write; possync also parses, validates, hashes and answers per item. Each side writes fresh
ids into a store of its own, in one transaction per 1,000 rows.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx

from bench.payloads import Generator
from bench.run import expect

COLUMNS = ["store_id", "entity_type", "pos_id", "payload", "content_hash", "created_at", "updated_at"]
INSERT_SQL = f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)"


async def store_of(conn: asyncpg.Connection, key: str) -> uuid.UUID:
    return await conn.fetchval("SELECT store_id FROM api_keys WHERE key_hash = $1", hashlib.sha256(key.encode()).hexdigest())


def _rows(store_id: uuid.UUID, items: list[dict]) -> list[tuple]:
    now = datetime.now(UTC)
    out = []
    for item in items:
        text = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        out.append((store_id, "customer", item["id"], text, hashlib.sha256(text.encode()).hexdigest(), now, now))
    return out


async def possync_batches(client: httpx.AsyncClient, key: str, tag: str, batches: int, size: int) -> float:
    """Records per second of `batches` sequential calls of `size` new customers."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    gen = Generator(prefix=f"{tag}P", seed=11)
    warm = json.dumps({"items": [gen.make("customer") for _ in range(size)]}).encode()
    expect(await client.post("/v1/customers/batch", content=warm, headers=headers), 200)
    bodies = [json.dumps({"items": [gen.make("customer") for _ in range(size)]}).encode() for _ in range(batches)]
    started = time.perf_counter()
    for body in bodies:
        result = expect(await client.post("/v1/customers/batch", content=body, headers=headers), 200).json()
        if result["accepted"] != size:
            raise RuntimeError(f"possync refused items: {result['items'][:3]}")
    return round(batches * size / (time.perf_counter() - started), 1)


async def raw_batches(dsn: str, store_id: uuid.UUID, tag: str, batches: int, size: int) -> dict[str, float]:
    """Records per second of asyncpg `executemany` and of `copy_records_to_table`, same batch shape."""
    gen = Generator(prefix=f"{tag}R", seed=11)
    out = {}
    conn = await asyncpg.connect(dsn)
    try:
        for name in ("executemany", "copy"):

            async def write(rows: list[tuple], name: str = name) -> None:
                async with conn.transaction():
                    if name == "executemany":
                        await conn.executemany(INSERT_SQL, rows)
                    else:
                        await conn.copy_records_to_table("records", records=rows, columns=COLUMNS)

            await write(_rows(store_id, [gen.make("customer") for _ in range(size)]))  # warm-up
            ready = [_rows(store_id, [gen.make("customer") for _ in range(size)]) for _ in range(batches)]
            started = time.perf_counter()
            for rows in ready:
                await write(rows)
            out[name] = round(batches * size / (time.perf_counter() - started), 1)
    finally:
        await conn.close()
    return out
