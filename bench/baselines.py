"""possync beside a bare baseline, one command: `python -m bench.baselines` (PostgreSQL: DATABASE_URL).

Starts `possync serve` and the lean app (`bench/lean.py`, uvicorn + asyncpg, only the SELECTs it
needs) on the same database, with the same data: a store connected to the sandbox and 100
customers synced. Each server in turn gets `GET /v1/customers/sync-status?ids=<100 ids>` from 16
connections of `wrk` (or in-process httpx clients without wrk, or with `--httpx`) for `--seconds`; requests/s, p50 and p99 and the ratio
possync / lean come from that one run. The answers must be byte-identical (checked first).
With `taskset` the servers run on CPU 0 and this client on CPU 1. Writes docs/PERFORMANCE.md
unless `--no-doc`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bench.harness import REPO, child_env, free_port
from bench.payloads import Generator
from bench.run import create_store_key, expect, percentile

DOC = REPO / "docs" / "PERFORMANCE.md"
CONCURRENCY = 16
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


async def run(args, env: dict[str, str], log_dir: Path) -> dict:
    key = await create_store_key(env, "bench baselines")
    cpu_server = 0 if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else None
    procs: list[subprocess.Popen] = []
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    def start(name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(pinned(cmd, cpu_server), cwd=REPO, env=child_env(env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    try:
        p_port, l_port = free_port(), free_port()
        api = start("api", [sys.executable, "-c", "from app.cli import main; main()", "serve",
                            "--host", "127.0.0.1", "--port", str(p_port)])
        lean = start("lean", [sys.executable, "-m", "bench.lean", "--port", str(l_port)])
        if cpu_server is not None:
            os.sched_setaffinity(0, {1})
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{p_port}", limits=limits, timeout=60) as pc, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{l_port}", limits=limits, timeout=60) as lc:
            await wait_up(pc, api, "possync")
            await wait_up(lc, lean, "lean")
            expect(await pc.post("/v1/connections", json={"connector": "sandbox"}, headers=headers), 201)
            gen = Generator(prefix=f"BL{int(time.time())}", seed=7)
            items = [gen.make("customer") for _ in range(100)]
            expect(await pc.post("/v1/customers/batch", json={"items": items}, headers=headers), 200)
            params = {"ids": ",".join(i["id"] for i in items)}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # wait for the sandbox sync: the numbers are for green records
                body = expect(await pc.get("/v1/customers/sync-status", params=params, headers=headers), 200).json()
                if all(i["symbol"] == "green" for i in body["items"]):
                    break
                await asyncio.sleep(0.25)
            a = (await pc.get("/v1/customers/sync-status", params=params, headers=headers)).content
            b = (await lc.get("/v1/customers/sync-status", params=params, headers=headers)).content
            if a != b:
                raise RuntimeError(f"lean's answer differs from possync's:\n{a[:300]!r}\n{b[:300]!r}")
            out = {}
            use_wrk = shutil.which("wrk") is not None and not args.httpx
            client_cpu = 1 if cpu_server is not None else None
            for name, client in (("possync", pc), ("lean", lc)):
                await load(client, "/v1/customers/sync-status", params, headers, args.warmup)
                if use_wrk:
                    out[name] = await asyncio.to_thread(wrk, str(client.base_url).rstrip("/"), "/v1/customers/sync-status",
                                                        params, headers, args.seconds, client_cpu)
                else:
                    out[name] = await load(client, "/v1/customers/sync-status", params, headers, args.seconds)
                print(f"  {name:<8} {out[name]['rps']:>8.1f} req/s  p50 {out[name]['p50_ms']:.1f} ms  "
                      f"p99 {out[name]['p99_ms']:.1f} ms", flush=True)
            out["ratio"] = round(out["possync"]["rps"] / out["lean"]["rps"], 2)
            out["pinned"] = cpu_server is not None
            out["client"] = "wrk -t1 -c16" if use_wrk else "httpx, 16 concurrent"
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


def write_doc(result: dict, meta: dict) -> None:
    p, lean = result["possync"], result["lean"]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    kept = DOC.read_text().partition(MARKER)[2] if DOC.exists() else ""
    DOC.write_text(f"""# Performance against baselines

Made by `{meta['command']}` on {meta['date']}: {meta['machine']}, {meta['cpus']} CPUs, Python
{meta['python']}, load average before the run {meta['load']}; servers pinned to CPU 0 and the client
({result['client']}, {meta['seconds']} s per server) to CPU 1: {result['pinned']}.
PostgreSQL runs on the same machine, shared by both servers. Expect ±20 % between runs on a shared
machine; the ratio, measured in one run, is the figure to compare.

| figure | possync | lean | possync ÷ lean |
| --- | ---: | ---: | ---: |
| `sync-status`, 100 ids, requests/s | {p['rps']:,} | {lean['rps']:,} | {result['ratio']} |
| `sync-status`, 100 ids, p50 / p99 ms | {p['p50_ms']} / {p['p99_ms']} | {lean['p50_ms']} / {lean['p99_ms']} | |

The lean app (`bench/lean.py`) is uvicorn + asyncpg, looks the key up and sends one status query
(`pos_id = ANY($3)`); its answer is checked byte for byte against possync's before the clock starts.
{MARKER}{kept}""")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server (20)")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per server first (3)")
    p.add_argument("--httpx", action="store_true", help="load from in-process httpx even when wrk exists")
    p.add_argument("--no-doc", action="store_true", help="do not write docs/PERFORMANCE.md")
    args = p.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgresql"):
        sys.exit("set DATABASE_URL to a PostgreSQL database (postgresql+asyncpg://...)")
    # The store's request limit (1200/minute by default) would answer 429s under load: lifted for the run.
    env = {"DATABASE_URL": database_url, "POSSYNC_LOG_LEVEL": "WARNING", "POSSYNC_STORE_RATE_LIMIT": "1000000/minute",
           "POSSYNC_ENCRYPTION_KEYS": os.environ.get("POSSYNC_ENCRYPTION_KEYS") or Fernet.generate_key().decode()}
    from app.migrate import upgrade

    upgrade(database_url)
    meta = {"command": "python -m bench.baselines " + " ".join(sys.argv[1:] if argv is None else argv),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "seconds": args.seconds}
    log_dir = Path(tempfile.mkdtemp(prefix="possync-baselines-"))
    print(f"possync vs lean, load {meta['load']}; logs in {log_dir}", flush=True)
    result = asyncio.run(run(args, env, log_dir))
    print(f"  possync / lean = {result['ratio']}")
    if not args.no_doc:
        write_doc(result, meta)
    shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
