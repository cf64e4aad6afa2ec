"""possync beside bare baselines, one command: `python -m bench.baselines` (PostgreSQL: DATABASE_URL).

Starts `possync serve`, the lean app (`bench/lean.py`, uvicorn + asyncpg, only the SELECTs the
answer needs) and the mirror app (`bench/mirror.py`, possync's exact statement stream on asyncpg) on
the same database and data: a store with 100 green customers and one with `--linked` (20,000).
Figures: `sync-status` for 100 ids, the Sync panel, `sync-status` in the big store (each from 16
connections of `wrk`, or in-process httpx clients without wrk / with `--httpx`, for `--seconds`
per server), and batch ingest (1,000 customers a call) against raw asyncpg `executemany` and
`copy_records_to_table`. Answers must be byte-identical (checked first). With `taskset` the
servers run on CPU 0 and this client on CPU 1. Writes docs/PERFORMANCE.md unless `--no-doc`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import platform
import shutil
import subprocess
import sys
import signal
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import httpx
from cryptography.fernet import Fernet

from bench.harness import REPO, child_env, free_port
from bench.ingest_baseline import side_by_side, store_of
from bench.lean import dsn_from
from bench.mirror import capture
from bench.payloads import Generator
from bench.run import create_store_key, expect, percentile

DOC = REPO / "docs" / "PERFORMANCE.md"
CONCURRENCY = 16
SERVERS = ("possync", "mirror", "lean")
MARKER = "<!-- written by bench.baselines above; kept as is below -->"


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


async def wait_up(client: httpx.AsyncClient, proc: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}")
        try:
            if (await client.get("/healthz", timeout=2)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{name} did not answer /healthz within 60 s")


async def load(client: httpx.AsyncClient, path: str, params: dict, headers: dict, seconds: float) -> dict:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            r = await client.get(path, params=params, headers=headers)
            latencies.append(time.perf_counter() - t)
            if r.status_code != 200:
                raise RuntimeError(f"{path} -> {r.status_code}: {r.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - started
    return {"requests": len(latencies), "rps": round(len(latencies) / wall, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2)}


def wrk(base: str, path: str, params: dict, headers: dict, seconds: float, cpu: int | None) -> dict:
    """The same load from `wrk` (one thread, 16 connections), pinned to the client CPU."""
    url = str(httpx.URL(base + path, params=params))
    cmd = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{max(1, round(seconds))}s", "--latency",
           *[x for k, v in headers.items() for x in ("-H", f"{k}: {v}")], url]
    out = subprocess.run(pinned(cmd, cpu), capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    fields = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            fields["rps"] = float(parts[1])
        elif parts[:1] in (["50%"], ["99%"]):
            value = parts[1]
            ms = float(value[:-2]) if value.endswith("ms") else float(value[:-2]) / 1000 if value.endswith("us") \
                else float(value[:-1]) * 1000
            fields[f"p{parts[0][:-1]}_ms"] = round(ms, 2)
        elif "requests in" in line:
            fields["requests"] = int(parts[0])
        elif line.strip().startswith("Non-2xx"):
            raise RuntimeError(f"wrk saw errors: {line.strip()}")
    return fields


async def green_store(client: httpx.AsyncClient, key: str, tag: str, count: int, timeout_s: float,
                      dsn: str | None = None) -> list[str]:
    """Connect the store to the sandbox, send `count` customers, wait until every one is green.

    With `dsn` the pushes are skipped: the connection is paused while the customers arrive, then
    their links are marked synced in SQL. The reads measured do not care how the links got there,
    and on a loaded two-core machine the sandbox needs most of an hour to push 20,000 records.
    """
    headers = {"Authorization": f"Bearer {key}"}
    connection_id = expect(await client.post("/v1/connections", json={"connector": "sandbox"}, headers=headers),
                           201).json()["id"]
    if dsn:
        await _sql(dsn, "UPDATE connections SET status = 'paused' WHERE id = $1", uuid.UUID(connection_id))
    gen = Generator(prefix=tag, seed=7)
    ids: list[str] = []
    for start in range(0, count, 1000):
        items = [gen.make("customer") for _ in range(min(1000, count - start))]
        expect(await client.post("/v1/customers/batch", json={"items": items}, headers=headers), 200)
        ids += [i["id"] for i in items]
    if dsn:
        await _sql(dsn, """UPDATE links SET state = 'synced', action = 'created', external_id = 'SEED-' || record_id,
                           last_synced_at = now(), next_attempt_at = now(), updated_at = now()
                           WHERE connection_id = $1""", uuid.UUID(connection_id))
        await _sql(dsn, "UPDATE connections SET status = 'active' WHERE id = $1", uuid.UUID(connection_id))
    deadline = time.monotonic() + timeout_s
    waiting = list(ids)
    while waiting:  # the numbers are for green records
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} of {count} customers not green after {timeout_s:.0f} s")
        body = expect(await client.get("/v1/customers/sync-status", params={"ids": ",".join(waiting[:200])},
                                       headers=headers), 200).json()
        waiting = [i["id"] for i in body["items"] if i["symbol"] != "green"] + waiting[200:]
        if body["items"] and body["items"][0]["symbol"] != "green":
            await asyncio.sleep(0.5)
    return ids


async def _sql(dsn: str, statement: str, *args) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def run(args, env: dict[str, str], log_dir: Path) -> dict:
    cpu_server = 0 if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else None
    client_cpu = 1 if cpu_server is not None else None
    procs: list[subprocess.Popen] = []
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    def start(name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(pinned(cmd, cpu_server), cwd=REPO, env=child_env(env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    keys = {name: await create_store_key(env, f"bench baselines {name}") for name in ("small", "linked", "ingest", "raw")}
    tag = f"BL{int(time.time())}"
    try:
        ports = {name: free_port() for name in SERVERS}
        api = start("possync", [sys.executable, "-c", "from app.cli import main; main()", "serve",
                                "--host", "127.0.0.1", "--port", str(ports["possync"])])
        lean = start("lean", [sys.executable, "-m", "bench.lean", "--port", str(ports["lean"])])
        clients = {name: httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=120)
                   for name, port in ports.items()}
        pc = clients["possync"]
        await wait_up(pc, api, "possync")
        await wait_up(clients["lean"], lean, "lean")
        small = await green_store(pc, keys["small"], tag + "S", 100, 120)
        linked = await green_store(pc, keys["linked"], tag + "L", args.linked, args.linked_timeout,
                                   dsn_from(env["DATABASE_URL"]))
        # Fresh planner statistics, as autovacuum would have them: just after 20,000 inserts the
        # planner still believes the table tiny and filters the store's rows instead of looking
        # the 100 ids up in the index (77 ms instead of 0.7 ms per query, measured with EXPLAIN).
        await _sql(dsn_from(env["DATABASE_URL"]), "ANALYZE records, links")
        figures = {  # name: (key, path, params)
            "status": (keys["small"], "/v1/customers/sync-status", {"ids": ",".join(small)}),
            "panel": (keys["small"], f"/v1/customers/{small[0]}/sync", None),
            "status_linked": (keys["linked"], "/v1/customers/sync-status", {"ids": ",".join(linked[-100:])}),
        }
        # The mirror needs possync's statements for exactly these requests: captured in this
        # process, one request at a time, before any load.
        streams: dict = {}
        for key, path, params in figures.values():
            got, _bodies = await capture(env, {"Authorization": f"Bearer {key}"}, [(path, params)])
            streams.update(got)
        streams_file = log_dir / "streams.pickle"
        streams_file.write_bytes(pickle.dumps(streams))
        mirror = start("mirror", [sys.executable, "-m", "bench.mirror", "--port", str(ports["mirror"]),
                                  "--streams", str(streams_file)])
        await wait_up(clients["mirror"], mirror, "mirror")
        if cpu_server is not None:
            os.sched_setaffinity(0, {client_cpu})
        use_wrk = shutil.which("wrk") is not None and not args.httpx
        out: dict = {"figures": {}, "pinned": cpu_server is not None,
                     "client": "wrk -t1 -c16" if use_wrk else "httpx, 16 concurrent"}
        for figure, (key, path, params) in figures.items():
            headers = {"Authorization": f"Bearer {key}"}
            answers = {name: (await c.get(path, params=params, headers=headers)).content for name, c in clients.items()}
            for name in ("lean", "mirror"):
                if answers[name] != answers["possync"]:
                    raise RuntimeError(f"{figure}: {name}'s answer differs from possync's:\n"
                                       f"{answers['possync'][:300]!r}\n{answers[name][:300]!r}")
            row = out["figures"][figure] = {}
            for name, client in clients.items():
                await load(client, path, params or {}, headers, args.warmup)
                if use_wrk:
                    row[name] = await asyncio.to_thread(wrk, str(client.base_url).rstrip("/"), path, params or {},
                                                        headers, args.seconds, client_cpu)
                else:
                    row[name] = await load(client, path, params or {}, headers, args.seconds)
                print(f"  {figure:<14} {name:<8} {row[name]['rps']:>8.1f} req/s  p50 {row[name]['p50_ms']:.1f} ms  "
                      f"p99 {row[name]['p99_ms']:.1f} ms", flush=True)
            row["ratio"] = round(row["possync"]["rps"] / row["lean"]["rps"], 2)
        conn = await asyncpg.connect(dsn_from(env["DATABASE_URL"]))
        try:
            raw_store = await store_of(conn, keys["raw"])
        finally:
            await conn.close()
        ing = out["ingest"] = await side_by_side(pc, keys["ingest"], dsn_from(env["DATABASE_URL"]), raw_store, tag,
                                                 args.batches, 1000)
        print(f"  batch ingest   possync {ing['possync']:,.0f} rec/s, executemany {ing['executemany']:,.0f}, "
              f"copy {ing['copy']:,.0f} (median calls): {ing['ratio']} of executemany; over all calls "
              f"{ing['possync_total']:,.0f} / {ing['executemany_total']:,.0f} = {ing['ratio_total']}", flush=True)
        for c in clients.values():
            await c.aclose()
        return out
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


FIGURES = {"status": "`sync-status`, 100 ids", "panel": "Sync panel",
           "status_linked": "`sync-status`, 100 ids, store with {linked:,} linked records"}


def write_doc(result: dict, meta: dict) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    kept = DOC.read_text().partition(MARKER)[2] if DOC.exists() else ""
    lines = []
    for figure, row in result["figures"].items():
        name = FIGURES[figure].format(linked=meta["linked"])
        cells = " | ".join(f"{row[s]['rps']:,} ({row[s]['p50_ms']} / {row[s]['p99_ms']} ms)" for s in SERVERS)
        lines.append(f"| {name}, requests/s (p50 / p99) | {cells} | {row['ratio']} |")
    ing = result["ingest"]
    lines.append(f"| batch ingest, 1,000 customers a call, records/s (median call) | {ing['possync']:,} | "
                 f"raw `executemany` {ing['executemany']:,} | `copy_records_to_table` {ing['copy']:,} | "
                 f"{ing['ratio']} of executemany |")
    table = "\n".join(lines)
    DOC.write_text(f"""# Performance against baselines

Made by `{meta['command']}` on {meta['date']}: {meta['machine']}, {meta['cpus']} CPUs, Python
{meta['python']}, load average before the run {meta['load']}, after {meta['load_after']}; servers pinned
to CPU 0 and the client ({result['client']}, {meta['seconds']} s per server and figure) to CPU 1:
{result['pinned']}. PostgreSQL runs on the same machine, shared by every server. The machine is shared
with other work, so absolute numbers move between runs; the ratios, measured in one run, are the
figures to compare.

| figure | possync | mirror | lean | possync ÷ lean |
| --- | ---: | ---: | ---: | ---: |
{table}

- **lean** (`bench/lean.py`): uvicorn + asyncpg, only the SELECTs the answer needs.
- **mirror** (`bench/mirror.py`): uvicorn + asyncpg sending possync's exact statement stream for the
  same request (same checkouts, transactions, SQL and parameters, captured from SQLAlchemy's events and
  the gate's statements on the driver connection: its key look-up and fast-lane reads).
- Every answer is checked byte for byte against possync's before the clock starts.
- The big store's customers arrive through the batch API while its sandbox connection is paused;
  their {meta['linked']:,} links are then marked synced in SQL (pushing them through the sandbox takes
  most of an hour on this machine, and the read does not care how they got there).
- Batch ingest: {ing['batches']} calls of 1,000 new customers each, taking turns call by call with asyncpg
  writing as many ready-made rows into `records` (one transaction per 1,000; `bench/ingest_baseline.py`).
  Records/s are 1,000 over each side's median call; over all calls: possync {ing['possync_total']:,},
  `executemany` {ing['executemany_total']:,}, {ing['ratio_total']} of executemany.
{MARKER}{kept}""")


def server_env() -> dict[str, str]:
    """The servers' environment on DATABASE_URL's PostgreSQL database, migrated; exits without one."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgresql"):
        sys.exit("set DATABASE_URL to a PostgreSQL database (postgresql+asyncpg://...)")
    from app.migrate import upgrade

    upgrade(database_url)
    # The store's request limit (1200/minute by default) would answer 429s under load: lifted for the run.
    return {"DATABASE_URL": database_url, "POSSYNC_LOG_LEVEL": "WARNING", "POSSYNC_STORE_RATE_LIMIT": "1000000/minute",
            "POSSYNC_ENCRYPTION_KEYS": os.environ.get("POSSYNC_ENCRYPTION_KEYS") or Fernet.generate_key().decode()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server (20)")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per server first (3)")
    p.add_argument("--linked", type=int, default=20_000, help="customers in the linked store (20,000)")
    p.add_argument("--linked-timeout", type=float, default=120, help="seconds to wait for them to be green (120)")
    p.add_argument("--batches", type=int, default=30, help="ingest calls of 1,000 customers per side (30)")
    p.add_argument("--httpx", action="store_true", help="load from in-process httpx even when wrk exists")
    p.add_argument("--no-doc", action="store_true", help="do not write docs/PERFORMANCE.md")
    args = p.parse_args(argv)
    env = server_env()
    meta = {"command": "python -m bench.baselines " + " ".join(sys.argv[1:] if argv is None else argv),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "seconds": args.seconds}
    # SIGTERM ends the run like Ctrl-C does, so the servers it started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log_dir = Path(tempfile.mkdtemp(prefix="possync-baselines-"))
    print(f"possync vs lean, load {meta['load']}; logs in {log_dir}", flush=True)
    result = asyncio.run(run(args, env, log_dir))
    meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["linked"] = args.linked
    if not args.no_doc:
        write_doc(result, meta)
    shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
