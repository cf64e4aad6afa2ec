"""The webhook receiver under load while a drain runs: `python -m bench.webhooks`
(DATABASE_URL: PostgreSQL, REDIS_URL).

Starts `possync serve` and one `possync worker`, connects one store to the sandbox and queues
`--records` customers (the drain the worker pushes meanwhile), and links a second connection to a
Xero organisation by its tenant id. Then POSTs signed Xero deliveries (one event each, about
objects possync never made, so the worker's processing pass reads nothing back) at `--rate` a
second for `--seconds`, each on its own schedule whether or not the previous one was answered, and
prints p50 / p99 / max of the receiver's answer time. Xero wants an answer within 5 s, Intuit 3 s;
the target is p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bench.harness import running_possync
from bench.payloads import Generator
from bench.run import create_store_key, expect, percentile

WEBHOOK_KEY = "bench-webhook-key"


async def add_xero_connection(env: dict[str, str], key: str, tenant_id: str) -> None:
    """A Xero connection of the store, made in the database (no OAuth dance: no call reaches Xero)."""
    from app.db import make_engine, make_session_factory, transaction
    from app.models import Connection, ConnectionStatus
    from app.settings import Settings
    from app.stores.service import store_for_key

    settings = Settings(**{k: v for k, v in env.items() if k in ("DATABASE_URL", "REDIS_URL", "POSSYNC_ENCRYPTION_KEYS")})
    engine = make_engine(settings)
    try:
        async with transaction(make_session_factory(engine)) as session:
            store = await store_for_key(session=session, key=key)
            session.add(Connection(store_id=store.id, connector="xero", status=ConnectionStatus.ACTIVE,
                                   tenant_id=tenant_id, tenant_name="Bench organisation", settings={}))
    finally:
        await engine.dispose()


def delivery(tenant_id: str) -> bytes:
    when = time.strftime("%Y-%m-%dT%H:%M:%S.000", time.gmtime())
    event = {"resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/x", "resourceId": str(uuid.uuid4()),
             "eventDateUtc": when, "eventType": "UPDATE", "eventCategory": "INVOICE", "tenantId": tenant_id,
             "tenantType": "ORGANISATION"}
    return json.dumps({"events": [event], "firstEventSequence": 1, "lastEventSequence": 1,
                       "entropy": uuid.uuid4().hex[:20]}).encode()


async def run(args, env: dict[str, str]) -> dict:
    key = await create_store_key(env, "bench webhooks")
    tenant_id = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {key}"}
    async with running_possync(transport="http", env=env, workers=1, log_dir=Path(tempfile.mkdtemp())) as client:
        sandbox = expect(await client.post("/v1/connections", json={"connector": "sandbox"}, headers=headers), 201).json()
        await add_xero_connection(env, key, tenant_id)
        gen = Generator(prefix=f"WH{int(time.time())}", seed=5)
        items = [gen.make("customer") for _ in range(args.records)]
        for start in range(0, len(items), 1000):
            expect(await client.post("/v1/customers/batch", json={"items": items[start:start + 1000]},
                                     headers=headers), 200)

        times: list[float] = []
        statuses: dict[int | str, int] = {}

        async def one() -> None:
            body = delivery(tenant_id)
            signature = base64.b64encode(hmac.new(WEBHOOK_KEY.encode(), body, hashlib.sha256).digest()).decode()
            t = time.perf_counter()
            try:
                response = await client.post("/v1/webhooks/xero", content=body,
                                             headers={"Content-Type": "application/json", "x-xero-signature": signature})
                outcome: int | str = response.status_code
            except httpx.HTTPError as exc:  # counted, not retried: the program would retry later
                outcome = type(exc).__name__
            times.append(time.perf_counter() - t)
            statuses[outcome] = statuses.get(outcome, 0) + 1

        tasks = []
        started = time.perf_counter()
        total = int(args.rate * args.seconds)
        for n in range(total):
            # Open-loop: each delivery leaves at its own time, as the program's would.
            await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        runs = expect(await client.get(f"/v1/connections/{sandbox['id']}/runs", params={"limit": 100},
                                       headers=headers), 200).json()["items"]
        pushed = sum(r["created"] + r["updated"] for r in runs)
    return {"deliveries": len(times), "seconds": round(elapsed, 1), "rate_per_s": round(len(times) / elapsed, 1),
            "p50_ms": round(percentile(times, 50) * 1000, 1), "p99_ms": round(percentile(times, 99) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1), "statuses": statuses,
            "drain_records_pushed_meanwhile": pushed, "load_1min": os.getloadavg()[0]}


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    p.add_argument("--rate", type=float, default=50.0, help="deliveries a second")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--records", type=int, default=3000, help="customers queued for the drain")
    args = p.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        sys.exit("needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
           "POSSYNC_LOG_LEVEL": "WARNING", "XERO_WEBHOOK_KEYS": WEBHOOK_KEY,
           # Xero is offered (so deliveries find their connection) but never called.
           "XERO_CLIENT_ID": "bench", "XERO_CLIENT_SECRET": "bench", "XERO_API_URL": "http://127.0.0.1:9",
           "POSSYNC_SANDBOX_LATENCY_MS": os.environ.get("POSSYNC_SANDBOX_LATENCY_MS", "20"),
           "POSSYNC_ENCRYPTION_KEYS": os.environ.get("POSSYNC_ENCRYPTION_KEYS") or Fernet.generate_key().decode()}
    from app.migrate import upgrade

    upgrade(env["DATABASE_URL"])
    load_before = os.getloadavg()[0]
    result = asyncio.run(run(args, env))
    print(f"webhook receiver, {result['deliveries']} deliveries in {result['seconds']} s "
          f"({result['rate_per_s']}/s) during a drain ({result['drain_records_pushed_meanwhile']} records pushed "
          f"meanwhile): p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms; "
          f"answers {result['statuses']}; load average (1 min) before {load_before:.1f}, after {result['load_1min']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
