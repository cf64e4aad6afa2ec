"""Batch ingest of two checkouts side by side: `python -m bench.ingest_ab OTHER_CHECKOUT` (PostgreSQL).

Starts `possync serve` from this checkout and from OTHER_CHECKOUT (say a `git worktree` of an older
commit) on the same database, pinned to CPU 0 when `taskset` exists, then takes turns: one
1,000-customer `POST /v1/customers/batch` to each, then one asyncpg `executemany` of 1,000
ready-made rows, `--turns` times after two turns of warm-up. Each server writes into a store of
its own. Prints each side's median call and its ratio to `executemany`'s. `--kind`:
- `new`: every call sends new customers;
- `catalogue`: every batch is sent once before the clock starts, then each again in turn (a POS
  sending its catalogue again);
- `retry`: each call sends a batch just sent once more (a POS that lost the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.baselines import server_env, wait_up
from bench.harness import REPO, child_env, free_port
from bench.ingest_baseline import INSERT_SQL, _median, _rows, store_of
from bench.lean import dsn_from
from bench.payloads import Generator
from bench.run import create_store_key, expect

SIZE = 1000


async def run(args, env: dict[str, str], log_dir: Path) -> dict[str, float]:
    trees = {"this": REPO, "other": Path(args.other).resolve()}
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    procs, clients, headers = [], {}, {}
    try:
        for name, tree in trees.items():
            port = free_port()
            proc_env = child_env(env)
            proc_env["PYTHONPATH"] = str(tree)
            log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append(subprocess.Popen([*pin, sys.executable, "-c", "from app.cli import main; main()", "serve",
                                           "--host", "127.0.0.1", "--port", str(port)], cwd=tree, env=proc_env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            clients[name] = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120)
            headers[name] = {"Authorization": f"Bearer {await create_store_key(env, f'ingest ab {name}')}",
                             "Content-Type": "application/json"}
            await wait_up(clients[name], procs[-1], name)
        if pin:
            os.sched_setaffinity(0, {1})
        conn = await asyncpg.connect(dsn_from(env["DATABASE_URL"]))
        raw_store = await store_of(conn, (await create_store_key(env, "ingest ab raw")))
        gen = Generator(prefix=f"AB{int(time.time())}", seed=9)
        turns = args.turns + 2
        catalogue = {name: [json.dumps({"items": [gen.make("customer") for _ in range(SIZE)]}).encode()
                            for _ in range(turns)] for name in trees} if args.kind == "catalogue" else {}
        for name, bodies in catalogue.items():
            for body in bodies:
                expect(await clients[name].post("/v1/customers/batch", content=body, headers=headers[name]), 200)
        calls: dict[str, list[float]] = {name: [] for name in (*trees, "executemany")}
        for turn in range(turns):
            for name, client in clients.items():
                if args.kind == "catalogue":
                    body = catalogue[name][turn]
                else:
                    body = json.dumps({"items": [gen.make("customer") for _ in range(SIZE)]}).encode()
                if args.kind == "retry":
                    expect(await client.post("/v1/customers/batch", content=body, headers=headers[name]), 200)
                started = time.perf_counter()
                expect(await client.post("/v1/customers/batch", content=body, headers=headers[name]), 200)
                if turn >= 2:
                    calls[name].append(time.perf_counter() - started)
            rows = _rows(raw_store, [gen.make("customer") for _ in range(SIZE)])
            started = time.perf_counter()
            async with conn.transaction():
                await conn.executemany(INSERT_SQL, rows)
            if turn >= 2:
                calls["executemany"].append(time.perf_counter() - started)
        await conn.close()
        return {name: _median(seconds) * 1000 for name, seconds in calls.items()}
    finally:
        for client in clients.values():
            await client.aclose()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_ab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("other", help="the other checkout (a directory holding app/)")
    p.add_argument("--turns", type=int, default=60, help="measured turns (60)")
    p.add_argument("--kind", choices=("new", "catalogue", "retry"), default="new")
    args = p.parse_args(argv)
    env = server_env()
    log_dir = Path(tempfile.mkdtemp(prefix="possync-ingest-ab-"))
    medians = asyncio.run(run(args, env, log_dir))
    base = medians["executemany"]
    print(f"{args.kind}, {args.turns} turns; median call, and executemany's median ÷ it:")
    for name, ms in medians.items():
        print(f"  {name:<12} {ms:7.2f} ms  {base / ms:.3f}")
    shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
