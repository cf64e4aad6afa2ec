"""Many shops, one of them big: `python -m bench.fairness` (DATABASE_URL: PostgreSQL, REDIS_URL).

Production shape: `possync serve` and `--workers` `possync worker` processes, every shop its own
store connected to the sandbox program (each sandbox call takes `--latency-ms`, like a program over
the network). Two phases of `--seconds` each, measured the same way:

1. **quiet**: `--small-shops` shops each send one sale every `1 / --rate` seconds;
2. **busy**: the same, while a big shop drains a backlog of `--big-records` sales and customers it
   sent just before.

A small shop's time to green is the server's own clock: the link's last sync minus the record's
arrival (no polling load on the API). Fair scheduling means the busy phase's p99 stays near the
quiet one's and under 5 s whatever the big shop's backlog. Also printed: how far the big shop got
during the busy phase, the API's and the workers' memory (RSS) at each phase's end, and the CPU time
a quiet-phase sale costs the API, the workers and PostgreSQL (from the first sale sent until the
last is green).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bench.harness import running_possync
from bench.payloads import Generator
from bench.run import chunks, create_store_key, expect, percentile

BATCH = 1000
IDLE_S = 10.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class CpuMeter:
    """CPU time used by possync's processes and by PostgreSQL's (the server on this machine)
    between start and stop: what a sale costs, whatever the load."""

    def __init__(self, procs) -> None:
        self.procs = procs
        self.started: dict[str, float] = {}
        self.postgres: dict[int, float] = {}

    def start(self) -> None:
        self.started = {name: cpu_s(proc.pid) for name, proc in self.procs}
        self.postgres = {pid: cpu_s(pid) for pid in postgres_pids()}

    def stop(self) -> dict[str, float]:
        used = {"api": 0.0, "workers": 0.0}
        for name, proc in self.procs:
            used["workers" if name.startswith("worker") else "api"] += cpu_s(proc.pid) - self.started[name]
        used["postgres"] = sum(cpu_s(pid) - self.postgres.get(pid, 0.0) for pid in postgres_pids())
        return used


def per_sale_ms(used: dict[str, float], sales: int) -> dict[str, float]:
    return {name: round(1000 * seconds / max(1, sales), 1) for name, seconds in used.items()}


class Shop:
    def __init__(self, key: str, name: str, seed: int) -> None:
        self.headers = {"Authorization": f"Bearer {key}"}
        self.gen = Generator(prefix=name, seed=seed)
        self.connection_id = ""


async def open_shop(client: httpx.AsyncClient, env: dict[str, str], name: str, seed: int) -> Shop:
    shop = Shop(await create_store_key(env, name), name, seed)
    connection = expect(await client.post("/v1/connections", json={"connector": "sandbox"}, headers=shop.headers), 201)
    shop.connection_id = connection.json()["id"]
    # What its sales refer to, sent first, so the measured sales never wait on a dependency.
    for entity_type, path in (("product", "products"), ("customer", "customers")):
        item = shop.gen.make(entity_type)
        expect(await client.put(f"/v1/{path}/{item['id']}", json=item, headers=shop.headers), 201)
    return shop


async def small_shop_sales(client: httpx.AsyncClient, shop: Shop, seconds: float, rate: float,
                           sent: list[tuple[str, str]]) -> None:
    """One sale every 1/rate s (first one at a random offset, so the shops do not march in step)."""
    await asyncio.sleep(random.random() / rate)
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        sale = shop.gen.make("sale")
        expect(await client.put(f"/v1/sales/{sale['id']}", json=sale, headers=shop.headers), 201)
        sent.append((shop.connection_id, sale["id"]))
        await asyncio.sleep(1 / rate)


async def times_to_green(env: dict[str, str], sent: list[tuple[str, str]], bound_s: float) -> list[float | None]:
    """Seconds from arrival to green per sale (None: not green within bound_s of the phase's end)."""
    from sqlalchemy import text

    from app.db import make_engine
    from app.settings import Settings

    engine = make_engine(Settings(**{k: v for k, v in env.items() if k in ("DATABASE_URL", "POSSYNC_ENCRYPTION_KEYS")}))
    query = text("""SELECT extract(epoch FROM l.last_synced_at - r.updated_at) FROM links l
                    JOIN records r ON r.id = l.record_id
                    WHERE l.connection_id = CAST(:connection AS uuid) AND r.entity_type = 'sale' AND r.pos_id = :pos_id
                      AND l.state = 'synced'""")
    deadline = time.monotonic() + bound_s
    try:
        while True:
            found: list[float | None] = []
            async with engine.connect() as conn:
                for connection_id, pos_id in sent:
                    value = await conn.scalar(query, {"connection": connection_id, "pos_id": pos_id})
                    found.append(float(value) if value is not None else None)
            if all(v is not None for v in found) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(1)
    finally:
        await engine.dispose()


async def big_backlog(client: httpx.AsyncClient, shop: Shop, records: int) -> None:
    sales = records // 2
    for entity_type, path, count in (("customer", "customers", records - sales), ("sale", "sales", sales)):
        items = [shop.gen.make(entity_type) for _ in range(count)]
        for chunk in chunks(items, BATCH):
            expect(await client.post(f"/v1/{path}/batch", json={"items": chunk}, headers=shop.headers), 200)


def summary(values: list[float | None]) -> dict:
    done = [v for v in values if v is not None]
    return {"sales": len(values), "green": len(done),
            "p50_s": round(percentile(done, 50), 2) if done else None,
            "p99_s": round(percentile(done, 99), 2) if done else None,
            "max_s": round(max(done), 2) if done else None}


async def run(args, env: dict[str, str]) -> dict:
    tag = f"F{int(time.time())}"
    async with running_possync(transport="http", env=env, workers=args.workers, log_dir=Path(tempfile.mkdtemp())) as client:
        procs = client.procs.procs
        small = [await open_shop(client, env, f"{tag}-S{n}", n) for n in range(args.small_shops)]
        big = await open_shop(client, env, f"{tag}-BIG", 999_999)
        await asyncio.sleep(5)  # the shops' first records go green before anything is measured

        def memory() -> dict[str, float]:
            return {name: rss_mb(proc.pid) for name, proc in procs}

        result: dict = {"small_shops": args.small_shops, "rate_per_shop": args.rate, "seconds": args.seconds,
                        "workers": args.workers, "latency_ms": args.latency_ms, "big_records": args.big_records}
        cpu = CpuMeter(procs)
        cpu.start()
        await asyncio.sleep(IDLE_S)  # what the processes use with nothing to do (sweeps, queue looks)
        result["idle_cpu_percent"] = {name: round(100 * s / IDLE_S, 1) for name, s in cpu.stop().items()}
        sent: list[tuple[str, str]] = []
        cpu.start()
        await asyncio.gather(*(small_shop_sales(client, s, args.seconds, args.rate, sent) for s in small))
        result["quiet"] = summary(await times_to_green(env, sent, 60))
        result["quiet"]["cpu_ms_a_sale"] = per_sale_ms(cpu.stop(), len(sent))
        result["quiet"]["rss_mb"] = memory()

        started = time.monotonic()
        await big_backlog(client, big, args.big_records)
        result["big_backlog_sent_s"] = round(time.monotonic() - started, 1)
        sent = []
        await asyncio.gather(*(small_shop_sales(client, s, args.seconds, args.rate, sent) for s in small))
        result["busy"] = summary(await times_to_green(env, sent, 60))
        result["busy"]["rss_mb"] = memory()
        result["big_green_after_busy_phase"] = await big_progress(env, big)
    return result


async def big_progress(env: dict[str, str], shop: Shop) -> dict[str, int]:
    from sqlalchemy import text

    from app.db import make_engine
    from app.settings import Settings

    engine = make_engine(Settings(**{k: v for k, v in env.items() if k in ("DATABASE_URL", "POSSYNC_ENCRYPTION_KEYS")}))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT state, count(*) FROM links WHERE connection_id = CAST(:c AS uuid) "
                                           "GROUP BY state"), {"c": shop.connection_id})
            return {state: count for state, count in rows.all()}
    finally:
        await engine.dispose()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small-shops", type=int, default=100)
    p.add_argument("--rate", type=float, default=1.0, help="sales a second per small shop")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    p.add_argument("--big-records", type=int, default=20_000, help="the big shop's backlog (half sales)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--latency-ms", type=int, default=20, help="each sandbox call takes this long")
    args = p.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql") or not os.environ.get("REDIS_URL"):
        sys.exit("needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
           "POSSYNC_LOG_LEVEL": "WARNING", "POSSYNC_SANDBOX_LATENCY_MS": str(args.latency_ms),
           "POSSYNC_ENCRYPTION_KEYS": os.environ.get("POSSYNC_ENCRYPTION_KEYS") or Fernet.generate_key().decode()}
    from app.migrate import upgrade

    upgrade(env["DATABASE_URL"])
    result = asyncio.run(run(args, env))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"fairness ({args.small_shops} small shops × {args.rate}/s for {args.seconds:.0f} s per phase, "
          f"{args.workers} workers, sandbox {args.latency_ms} ms a call, load after {load})")
    print(f"  idle : CPU % over {IDLE_S:.0f} s with no sales: {result['idle_cpu_percent']}")
    for phase in ("quiet", "busy"):
        r = result[phase]
        print(f"  {phase:5}: {r['green']}/{r['sales']} green, time to green p50 {r['p50_s']} s, p99 {r['p99_s']} s, "
              f"max {r['max_s']} s; RSS MB {r['rss_mb']}")
        if "cpu_ms_a_sale" in r:
            print(f"         CPU ms a sale (sent to green): {r['cpu_ms_a_sale']}")
    print(f"  big shop: {args.big_records} records sent in {result['big_backlog_sent_s']} s; "
          f"its links after the busy phase: {result['big_green_after_busy_phase']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
