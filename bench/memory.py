"""Memory over a long run: `python -m bench.memory --records 1000000` (DATABASE_URL, REDIS_URL).

Production shape (`possync serve` and `--workers` `possync worker` processes, a store connected to
the sandbox). Customers and sales go in through the batch API, 1,000 a call, while the workers
push them; every `--every` records the API's and each worker's resident memory (RSS) is sampled,
and once more when everything is green. Flat means the last samples are within a few MB of the
ones after warm-up: no cache, log or result that grows with the records handled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from bench.fairness import rss_mb
from bench.harness import running_possync
from bench.payloads import Generator
from bench.run import create_store_key, expect

BATCH = 1000


async def synced_count(env: dict[str, str], connection_id: str) -> int:
    from sqlalchemy import text

    from app.db import make_engine
    from app.settings import Settings

    engine = make_engine(Settings(**{k: v for k, v in env.items() if k in ("DATABASE_URL", "POSSYNC_ENCRYPTION_KEYS")}))
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM links WHERE connection_id = CAST(:c AS uuid) "
                                              "AND state = 'synced'"), {"c": connection_id}))
    finally:
        await engine.dispose()


async def run(args, env: dict[str, str]) -> list[dict]:
    key = await create_store_key(env, "bench memory")
    headers = {"Authorization": f"Bearer {key}"}
    gen = Generator(prefix=f"M{int(time.time())}", seed=11)
    samples: list[dict] = []
    async with running_possync(transport="http", env=env, workers=args.workers, log_dir=Path(tempfile.mkdtemp())) as client:
        procs = client.procs.procs
        connection_id = expect(await client.post("/v1/connections", json={"connector": "sandbox"}, headers=headers),
                               201).json()["id"]
        product = gen.make("product")
        expect(await client.put(f"/v1/products/{product['id']}", json=product, headers=headers), 201)
        started = time.monotonic()

        async def sample(sent: int) -> None:
            samples.append({"sent": sent, "synced": await synced_count(env, connection_id),
                            "seconds": round(time.monotonic() - started, 1),
                            **{name: rss_mb(proc.pid) for name, proc in procs}})
            print(f"sample {samples[-1]}", flush=True)  # a long run shows its curve as it goes

        sent = 0
        while sent < args.records:
            entity_type, path = ("customer", "customers") if (sent // BATCH) % 2 == 0 else ("sale", "sales")
            items = [gen.make(entity_type) for _ in range(min(BATCH, args.records - sent))]
            expect(await client.post(f"/v1/{path}/batch", json={"items": items}, headers=headers), 200)
            sent += len(items)
            if sent % args.every == 0:
                await sample(sent)
        # The workers' memory matters most while they drain: sampled every `--every` records synced.
        deadline = time.monotonic() + args.timeout
        next_sample = (samples[-1]["synced"] // args.every + 1) * args.every if samples else args.every
        while (synced := await synced_count(env, connection_id)) < sent + 1 and time.monotonic() < deadline:
            client.procs.check_alive()
            if synced >= next_sample:
                await sample(sent)
                next_sample = (synced // args.every + 1) * args.every
            await asyncio.sleep(5)
        await sample(sent)
    return samples


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--every", type=int, default=10_000, help="sample memory after this many records sent")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=3600, help="give up waiting for green after this long")
    args = p.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql") or not os.environ.get("REDIS_URL"):
        sys.exit("needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
           "POSSYNC_LOG_LEVEL": "WARNING",
           "POSSYNC_ENCRYPTION_KEYS": os.environ.get("POSSYNC_ENCRYPTION_KEYS") or Fernet.generate_key().decode()}
    from app.migrate import upgrade

    upgrade(env["DATABASE_URL"])
    samples = asyncio.run(run(args, env))
    names = [k for k in samples[0] if k not in ("sent", "synced", "seconds")]
    print(f"memory over {args.records} records, {args.workers} workers (RSS in MB; load after "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print("| records sent | synced | seconds | " + " | ".join(names) + " |")
    print("|---:|---:|---:|" + "---:|" * len(names))
    for s in samples:
        print(f"| {s['sent']} | {s['synced']} | {s['seconds']} | " + " | ".join(str(s[n]) for n in names) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
