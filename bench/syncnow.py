"""SYNC NOW -> done: `python -m bench.syncnow` (DATABASE_URL: PostgreSQL; REDIS_URL unless --embedded).

Production shape: starts `possync serve` and one `possync worker`; `--embedded`: `possync serve`
alone, running the jobs itself. Connects a store to the sandbox, sends a customer, then `--presses`
times: POST /v1/customers/{id}/sync, poll the record's Sync panel every 5 ms until it is green
again with a newer last sync (what the cashier watches), then the connection's runs until that run
is finished. Prints p50 / p99 of press -> green and press -> run finished, how long the press itself
took to be answered, the server's split of the run, and the worker's (or the embedded API's) CPU
seconds while idle for 10 s (the cost of waiting for work: POSSYNC_WORKER_POLL_DELAY_S).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet

from bench.harness import running_possync
from bench.payloads import Generator
from bench.run import create_store_key, expect, percentile


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args, env: dict[str, str]) -> dict:
    key = await create_store_key(env, "bench syncnow")
    headers = {"Authorization": f"Bearer {key}"}
    async with running_possync(transport="http", env=env, workers=1, log_dir=Path(tempfile.mkdtemp())) as client:
        worker = next(p for name, p in client.procs.procs if name.startswith("worker" if env.get("REDIS_URL") else "api"))
        conn = expect(await client.post("/v1/connections", json={"connector": "sandbox"}, headers=headers), 201).json()
        item = Generator(prefix=f"SN{int(time.time())}", seed=3).make("customer")
        expect(await client.put(f"/v1/customers/{item['id']}", json=item, headers=headers), 201)
        await asyncio.sleep(2)
        before = cpu_seconds(worker.pid)
        await asyncio.sleep(10)
        idle_cpu = cpu_seconds(worker.pid) - before
        panel_path = f"/v1/customers/{item['id']}/sync"
        greens, times, answered, waits, runs_s = [], [], [], [], []
        for _ in range(args.presses):
            before_press = expect(await client.get(panel_path, headers=headers), 200).json()["connections"][0]["last_sync"]
            t = time.perf_counter()
            run_id = expect(await client.post(panel_path, headers=headers), 202).json()["run_id"]
            answered.append(time.perf_counter() - t)
            # What the cashier watches: the Sync panel, green again with a newer last sync.
            greens.append(await _until(lambda: _green_again(client, panel_path, headers, before_press)) - t)
            done = await _until(lambda: _finished(client, conn["id"], run_id, headers))
            times.append(done[0] - t)
            # The server's own clock splits it: queued -> started (the wait for a worker) and
            # started -> finished (the run).
            stamps = [datetime.fromisoformat(done[1][k]) for k in ("created_at", "started_at", "finished_at")]
            waits.append((stamps[1] - stamps[0]).total_seconds())
            runs_s.append((stamps[2] - stamps[1]).total_seconds())
            await asyncio.sleep(0.2)
        return {"green_p50_ms": round(percentile(greens, 50) * 1000, 1),
                "green_p99_ms": round(percentile(greens, 99) * 1000, 1),
                "p50_ms": round(percentile(times, 50) * 1000, 1), "p99_ms": round(percentile(times, 99) * 1000, 1),
                "answered_p50_ms": round(percentile(answered, 50) * 1000, 1),
                "wait_p50_ms": round(percentile(waits, 50) * 1000, 1), "run_p50_ms": round(percentile(runs_s, 50) * 1000, 1),
                "presses": len(times), "idle_worker_cpu_s_per_10s": round(idle_cpu, 2)}


async def _until(look, every_s: float = 0.005, within_s: float = 30.0):
    """Looks every 5 ms; the moment (perf_counter) the look first returned something, and that."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        got = await look()
        if got is not None:
            return got if isinstance(got, tuple) else time.perf_counter()
        await asyncio.sleep(every_s)
    raise TimeoutError(f"SYNC NOW: nothing seen within {within_s} s")


async def _green_again(client, panel_path: str, headers: dict, before_press: str | None):
    panel = expect(await client.get(panel_path, headers=headers), 200).json()
    line = panel["connections"][0]
    return True if panel["symbol"] == "green" and line["last_sync"] != before_press else None


async def _finished(client, connection_id: str, run_id: str, headers: dict):
    runs = expect(await client.get(f"/v1/connections/{connection_id}/runs", params={"limit": 5},
                                   headers=headers), 200).json()["items"]
    done = [r for r in runs if r["id"] == run_id and r["status"] in ("finished", "failed")]
    return (time.perf_counter(), done[0]) if done else None


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.syncnow", description=__doc__)
    p.add_argument("--presses", type=int, default=50)
    p.add_argument("--embedded", action="store_true", help="no Redis, no worker: the API runs the jobs")
    args = p.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql") or not (args.embedded or os.environ.get("REDIS_URL")):
        sys.exit("needs DATABASE_URL (PostgreSQL), and REDIS_URL unless --embedded")
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "POSSYNC_LOG_LEVEL": "WARNING",
           "POSSYNC_ENCRYPTION_KEYS": os.environ.get("POSSYNC_ENCRYPTION_KEYS") or Fernet.generate_key().decode()}
    if not args.embedded:
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    if os.environ.get("POSSYNC_WORKER_POLL_DELAY_S"):
        env["POSSYNC_WORKER_POLL_DELAY_S"] = os.environ["POSSYNC_WORKER_POLL_DELAY_S"]
    from app.migrate import upgrade

    upgrade(env["DATABASE_URL"])
    result = asyncio.run(run(args, env))
    mode = "embedded" if args.embedded else "API + 1 worker"
    print(f"SYNC NOW ({mode}, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}), {result['presses']} presses: press -> green p50 {result['green_p50_ms']} ms, p99 {result['green_p99_ms']} ms; "
          f"press -> run finished p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
          f"(press answered p50 {result['answered_p50_ms']} ms; server clock, p50: queued -> started {result['wait_p50_ms']} ms, started -> finished {result['run_p50_ms']} ms); "
          f"idle {'API' if args.embedded else 'worker'} CPU {result['idle_worker_cpu_s_per_10s']} s per 10 s "
          f"(poll delay {env.get('POSSYNC_WORKER_POLL_DELAY_S', 'default')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
