"""Batch ingest beside raw asyncpg: possync's `POST /v1/customers/batch` (1,000 new customers a
call) against `executemany` and `copy_records_to_table` of the same kind of rows into `records`.

The baselines get their rows ready-made (payload JSON, hash, times) before the clock starts and
only write; possync also parses, validates, hashes and answers per item. possync writes fresh ids
into a store of its own, the baselines into another, in one transaction per 1,000 rows; the three
take turns, call by call.
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


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


async def side_by_side(client: httpx.AsyncClient, key: str, dsn: str, store_id: uuid.UUID, tag: str, batches: int,
                       size: int) -> dict:
    """possync's `POST /v1/customers/batch` of `size` new customers, asyncpg `executemany` and
    `copy_records_to_table` of as many ready-made rows, in turn, `batches` times each.

    Taking turns puts every side under the same moment's machine (a checkpoint, a busy neighbour),
    and the median call leaves out the odd stall: records/s are `size` over each side's median
    call, and over all its calls beside (`*_total`)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    gen = Generator(prefix=f"{tag}P", seed=11)
    raw_gen = Generator(prefix=f"{tag}R", seed=11)
    bodies = [json.dumps({"items": [gen.make("customer") for _ in range(size)]}).encode() for _ in range(batches + 1)]
    rows = {name: [_rows(store_id, [raw_gen.make("customer") for _ in range(size)]) for _ in range(batches + 1)]
            for name in ("executemany", "copy")}
    conn = await asyncpg.connect(dsn)

    async def post(body: bytes) -> None:
        result = expect(await client.post("/v1/customers/batch", content=body, headers=headers), 200).json()
        if result["accepted"] != size:
            raise RuntimeError(f"possync refused items: {result['items'][:3]}")

    async def write(name: str, batch: list[tuple]) -> None:
        async with conn.transaction():
            if name == "executemany":
                await conn.executemany(INSERT_SQL, batch)
            else:
                await conn.copy_records_to_table("records", records=batch, columns=COLUMNS)

    calls: dict[str, list[float]] = {"possync": [], "executemany": [], "copy": []}
    try:
        for turn in range(batches + 1):  # the first turn warms each side up and is not counted
            for name in calls:
                started = time.perf_counter()
                await (post(bodies[turn]) if name == "possync" else write(name, rows[name][turn]))
                if turn:
                    calls[name].append(time.perf_counter() - started)
    finally:
        await conn.close()
    out: dict = {"batches": batches}
    for name, seconds in calls.items():
        out[name] = round(size / _median(seconds), 1)
        out[f"{name}_total"] = round(size * len(seconds) / sum(seconds), 1)
    out["ratio"] = round(out["possync"] / out["executemany"], 2)
    out["ratio_total"] = round(out["possync_total"] / out["executemany_total"], 2)
    return out
