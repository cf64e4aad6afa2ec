"""possync benchmarks, one command: `python -m bench.run` (options: `--help`; see bench/README.md).

1. Ingest: PUT one record at a time (records/s, p50/p95 latency) and POST /batch with 1,000 records
   (records/s), for each of the six entity types, into a store with no connection.
2. End to end: a store connected to the built-in sandbox receives N mixed records in dependency
   order (via /batch) and is polled with GET /v1/{collection}/sync-status until every record is
   green; the connection's runs give the number of runs and pushes per connector call.

SQLite in a temp folder and in-process jobs by default; PostgreSQL when DATABASE_URL is set, and
Redis plus `--workers` `possync worker` processes when REDIS_URL is set. Only 127.0.0.1 traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench.harness import REPO, running_possync
from bench.payloads import COLLECTION, ORDER, Generator, mixed_counts

RESULTS = REPO / "bench" / "results"
STATUS_IDS_PER_CALL = 200  # the API's limit for sync-status
MAX_BATCH = 1000  # the API's limit for /batch


# --- helpers ---------------------------------------------------------------------------------------

def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def redact(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


def expect(response: httpx.Response, *codes: int) -> httpx.Response:
    if response.status_code not in codes:
        raise RuntimeError(f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
                           f"{response.text[:500]}")
    return response


async def create_store_key(env: dict[str, str], name: str) -> str:
    """A store and its API key, made with the app's own service (as `possync store create` does)."""
    from app.db import make_engine, make_session_factory, transaction
    from app.settings import Settings
    from app.stores.service import create_store

    settings = Settings(**{k: v for k, v in env.items() if k in ("DATABASE_URL", "REDIS_URL", "POSSYNC_ENCRYPTION_KEYS")})
    engine = make_engine(settings)
    try:
        async with transaction(make_session_factory(engine)) as session:
            _store, key = await create_store(session=session, name=name)
            return key
    finally:
        await engine.dispose()


# --- 1. ingest -------------------------------------------------------------------------------------

async def bench_ingest(client: httpx.AsyncClient, key: str, run_tag: str, args) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    gen = Generator(prefix=f"{run_tag}-I", seed=args.seed)
    if args.ingest_connected:
        # Ingest as a connected shop does: every change also marks links pending and rings the jobs,
        # which then run while the bench keeps sending.
        expect(await client.post("/v1/connections", json={"connector": "sandbox"}, headers=headers), 201)
    # Warm-up (not measured): connection pool, first-query caches, SQLite page cache.
    for _ in range(args.warmup):
        p = gen.make("customer")
        expect(await client.put(f"/v1/customers/{p['id']}", json=p, headers=headers), 200, 201)

    results: dict[str, Any] = {}
    for et in ORDER:
        coll = COLLECTION[et]
        payloads = [gen.make(et) for _ in range(args.puts)]
        latencies: list[float] = []
        sem = asyncio.Semaphore(args.concurrency)

        async def put(p: dict[str, Any]) -> None:
            async with sem:
                t = time.perf_counter()
                expect(await client.put(f"/v1/{coll}/{p['id']}", json=p, headers=headers), 201)
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        if args.concurrency == 1:
            for p in payloads:
                await put(p)
        else:
            await asyncio.gather(*(put(p) for p in payloads))
        put_s = time.perf_counter() - started

        batch_seconds: list[float] = []
        for _ in range(args.batch_repeats):
            items = [gen.make(et) for _ in range(args.batch_size)]
            body = json.dumps({"items": items}).encode()
            t = time.perf_counter()
            r = expect(await client.post(f"/v1/{coll}/batch", content=body,
                                         headers={**headers, "Content-Type": "application/json"}), 200)
            batch_seconds.append(time.perf_counter() - t)
            data = r.json()
            if data["accepted"] != len(items):
                raise RuntimeError(f"{coll}/batch refused {data['refused']} items: {data['items'][:3]}")
        results[et] = {
            "put": {
                "records": len(payloads),
                "concurrency": args.concurrency,
                "seconds": round(put_s, 3),
                "records_per_s": round(len(payloads) / put_s, 1),
                "p50_ms": round(percentile(latencies, 50) * 1000, 2),
                "p95_ms": round(percentile(latencies, 95) * 1000, 2),
                "max_ms": round(max(latencies) * 1000, 2),
            },
            "batch": {
                "records_per_batch": args.batch_size,
                "batches": len(batch_seconds),
                "seconds_each": [round(s, 3) for s in batch_seconds],
                "records_per_s": round(args.batch_size * len(batch_seconds) / sum(batch_seconds), 1),
            },
        }
        print(f"  ingest {et:<15} PUT {results[et]['put']['records_per_s']:>8.1f} rec/s   "
              f"batch {results[et]['batch']['records_per_s']:>8.1f} rec/s", flush=True)
    return results


# --- 2. end to end ---------------------------------------------------------------------------------

async def poll_until_green(client, headers, ids: dict[str, list[str]], deadline: float, interval: float):
    pending = {et: list(v) for et, v in ids.items() if v}
    polls = calls = 0
    while pending and time.monotonic() < deadline:
        polls += 1
        for et in list(pending):
            still: list[str] = []
            for chunk in chunks(pending[et], STATUS_IDS_PER_CALL):
                calls += 1
                r = expect(await client.get(f"/v1/{COLLECTION[et]}/sync-status", params={"ids": ",".join(chunk)},
                                            headers=headers), 200)
                # Settled: green, or "none" for a record no program should get (a skipped shift report).
                still += [item["id"] for item in r.json()["items"] if item["symbol"] == "red"]
            if still:
                pending[et] = still
            else:
                del pending[et]
        if pending:
            procs = getattr(client, "procs", None)
            if procs is not None:
                procs.check_alive()
            await asyncio.sleep(interval)
    return pending, polls, calls


async def connection_runs(client, headers, connection_id: str, settle_s: float = 15.0) -> list[dict[str, Any]]:
    """Every run of the connection, once none is still queued or running (bounded wait)."""
    deadline = time.monotonic() + settle_s
    while True:
        runs, cursor = [], None
        for _ in range(1000):  # pages; bounded
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            r = expect(await client.get(f"/v1/connections/{connection_id}/runs", params=params, headers=headers), 200)
            page = r.json()
            runs += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        if all(run["status"] in ("finished", "failed") for run in runs) or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(0.25)


async def bench_sync(client: httpx.AsyncClient, key: str, run_tag: str, args) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    settings = {"sales_mode": args.sales_mode}
    r = expect(await client.post("/v1/connections", json={"connector": "sandbox", "settings": settings},
                                 headers=headers), 201)
    connection_id = r.json()["id"]

    counts = mixed_counts(args.records)
    gen = Generator(prefix=f"{run_tag}-S", seed=args.seed)
    payloads = {et: [gen.make(et) for _ in range(counts[et])] for et in ORDER}
    ids = {et: [p["id"] for p in payloads[et]] for et in ORDER}

    started = time.perf_counter()
    deadline = time.monotonic() + args.timeout
    for et in ORDER:  # dependency order: customers, suppliers, products, purchases, sales, shift reports
        for chunk in chunks(payloads[et], min(args.batch_size, MAX_BATCH)):
            data = expect(await client.post(f"/v1/{COLLECTION[et]}/batch", json={"items": chunk},
                                            headers=headers), 200).json()
            if data["accepted"] != len(chunk):
                raise RuntimeError(f"{et} batch refused {data['refused']} items: {data['items'][:3]}")
    ingested = time.perf_counter()
    pending, polls, status_calls = await poll_until_green(client, headers, ids, deadline, args.poll_interval)
    green_at = time.perf_counter()

    runs = await connection_runs(client, headers, connection_id)
    totals = Counter()
    for run in runs:
        for name in ("created", "updated", "failed", "retried", "skipped", "calls"):
            totals[name] += run[name]
    pushed = totals["created"] + totals["updated"] + totals["failed"]
    remaining = sum(len(v) for v in pending.values())
    stuck = {}
    for et, left in pending.items():  # explain a timeout with the first few Sync panels
        for pos_id in left[:3]:
            panel = await client.get(f"/v1/{COLLECTION[et]}/{pos_id}/sync", headers=headers)
            stuck[f"{et}:{pos_id}"] = panel.json() if panel.status_code == 200 else panel.text[:300]
    total_s = green_at - started
    result = {
        "records": args.records,
        "mix": counts,
        "sales_mode": args.sales_mode,
        "all_green": remaining == 0,
        "not_green": remaining,
        "seconds_total": round(total_s, 3),
        "records_per_s": round((args.records - remaining) / total_s, 1),
        "seconds_ingest": round(ingested - started, 3),
        "seconds_after_ingest": round(green_at - ingested, 3),
        "runs": len(runs),
        "connector_calls": totals["calls"],
        "pushed": pushed,
        "pushes_per_call": round(pushed / totals["calls"], 1) if totals["calls"] else None,
        "created": totals["created"],
        "updated": totals["updated"],
        "skipped": totals["skipped"],
        "retried": totals["retried"],
        "failed": totals["failed"],
        "status_polls": polls,
        "status_calls": status_calls,
    }
    if stuck:
        result["examples_not_green"] = stuck
    return result


# --- main ------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=["http", "asgi"], default="http",
                   help="http: `possync serve` subprocess on 127.0.0.1 (default); asgi: the app in-process")
    p.add_argument("--workers", type=int, default=2, help="`possync worker` processes when REDIS_URL is set (2)")
    p.add_argument("--only", choices=["ingest", "sync"], help="run one part only")
    p.add_argument("--puts", type=int, default=200, help="single PUTs per entity type (200)")
    p.add_argument("--concurrency", type=int, default=1, help="PUTs in flight at once (1: one at a time)")
    p.add_argument("--batch-size", type=int, default=1000, help="records per POST /batch (1000, the API's max)")
    p.add_argument("--batch-repeats", type=int, default=2, help="/batch calls per entity type (2)")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured PUTs before the ingest part (20)")
    p.add_argument("--ingest-connected", action="store_true",
                   help="connect the sandbox to the ingest store first (ingest then also queues sync work)")
    p.add_argument("--records", type=int, default=1000, help="records in the end-to-end sync part (1000)")
    p.add_argument("--sales-mode", choices=["individual", "shift_totals"], default="individual",
                   help="the sandbox connection's sales mode (individual: shift reports are skipped)")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for all green (600)")
    p.add_argument("--poll-interval", type=float, default=0.25, help="seconds between sync-status polls")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reset-db", action="store_true",
                   help="PostgreSQL only: downgrade to base and migrate again first (DESTROYS that database's data)")
    p.add_argument("--output", type=Path, default=RESULTS / "latest.json", help="JSON results file")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (SQLite file, process logs)")
    args = p.parse_args(argv)
    if args.records < len(ORDER):
        p.error(f"--records must be at least {len(ORDER)}")
    if not 1 <= args.batch_size <= MAX_BATCH:
        p.error(f"--batch-size must be between 1 and {MAX_BATCH}")
    return args


def print_table(result: dict[str, Any]) -> None:
    m = result["meta"]
    print()
    print(f"possync bench - {m['date']} - {m['database']}, {m['jobs']}, transport {m['transport']}, "
          f"{m['cpu_count']} CPUs")
    if "ingest" in result:
        print()
        print("Ingest (store " + ("connected to the sandbox" if m["options"]["ingest_connected"]
                                  else "with no connection") + ")")
        print(f"  {'entity type':<15} {'PUT rec/s':>10} {'p50 ms':>8} {'p95 ms':>8}   {'batch rec/s':>11}")
        for et, row in result["ingest"].items():
            put, batch = row["put"], row["batch"]
            print(f"  {et:<15} {put['records_per_s']:>10.1f} {put['p50_ms']:>8.2f} {put['p95_ms']:>8.2f}   "
                  f"{batch['records_per_s']:>11.1f}")
    if "sync" in result:
        s = result["sync"]
        print()
        print(f"End-to-end sync to the sandbox: {s['records']} records "
              f"({', '.join(f'{k} {v}' for k, v in s['mix'].items())})")
        state = "all green" if s["all_green"] else f"TIMED OUT with {s['not_green']} not green"
        print(f"  {state} after {s['seconds_total']:.2f} s -> {s['records_per_s']:.1f} records/s "
              f"(ingest {s['seconds_ingest']:.2f} s, then {s['seconds_after_ingest']:.2f} s)")
        print(f"  runs {s['runs']}, connector calls {s['connector_calls']}, pushes/call {s['pushes_per_call']}, "
              f"created {s['created']}, updated {s['updated']}, skipped {s['skipped']}, "
              f"retried {s['retried']}, failed {s['failed']}")
    print()
    print(f"JSON: {result['meta']['output']}")


async def main_async(args: argparse.Namespace, env: dict[str, str], log_dir: Path) -> dict[str, Any]:
    run_tag = uuid.uuid4().hex[:6].upper()
    result: dict[str, Any] = {}
    async with running_possync(transport=args.transport, env=env, workers=args.workers, log_dir=log_dir) as client:
        if args.only in (None, "ingest"):
            key = await create_store_key(env, f"bench ingest {run_tag}")
            result["ingest"] = await bench_ingest(client, key, run_tag, args)
        if args.only in (None, "sync"):
            key = await create_store_key(env, f"bench sync {run_tag}")
            print(f"  sync   {args.records} records ...", flush=True)
            result["sync"] = await bench_sync(client, key, run_tag, args)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="possync-bench-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    redis_url = os.environ.get("REDIS_URL") or ""
    env = {
        "DATABASE_URL": database_url,
        "POSSYNC_ENCRYPTION_KEYS": os.environ.get("POSSYNC_ENCRYPTION_KEYS") or Fernet.generate_key().decode(),
        "POSSYNC_LOG_LEVEL": os.environ.get("POSSYNC_LOG_LEVEL", "WARNING"),
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    is_sqlite = database_url.startswith("sqlite")
    if args.reset_db and is_sqlite:
        sys.exit("--reset-db is for PostgreSQL; the SQLite database is a fresh temp file anyway")

    from app.migrate import downgrade, upgrade

    if args.reset_db:
        downgrade(database_url, "base")
    upgrade(database_url)

    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.run", *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
        "database": "sqlite (temp file)" if is_sqlite else f"postgresql ({redact(database_url)})",
        "jobs": f"redis + {args.workers} worker processes" if redis_url else "in-process jobs (no Redis)",
        "transport": args.transport,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "output": str(args.output),
    }
    print(f"possync bench: {meta['database']}, {meta['jobs']}, transport {args.transport}; logs in {tmp}", flush=True)
    failed = False
    try:
        result = {"meta": meta, **asyncio.run(main_async(args, env, tmp))}
    except Exception as exc:
        print(f"bench failed: {type(exc).__name__}: {exc}\nprocess logs: {tmp}", file=sys.stderr)
        raise SystemExit(1) from exc
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    if "sync" in result and not result["sync"]["all_green"]:
        failed = True
        print(f"not all green within {args.timeout:.0f}s; examples in the JSON; logs in {tmp}", file=sys.stderr)
        args.keep = True
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
