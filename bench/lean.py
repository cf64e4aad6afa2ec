"""The "lean" baseline: a bare ASGI app on uvicorn + asyncpg that answers
`GET /v1/{collection}/sync-status?ids=...` with the same bytes as possync, sending only the SELECTs
it needs (the key look-up, then one status query). It shares possync's database and nothing else.

Run by `python -m bench.baselines`; by hand: `python -m bench.lean --port 8001` (DATABASE_URL set).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from urllib.parse import parse_qs

import asyncpg

COLLECTIONS = {"customers": "customer", "suppliers": "supplier", "products": "product",
               "purchase-orders": "purchase_order", "sales": "sale", "shift-reports": "shift_report"}

KEY_SQL = """SELECT s.id FROM stores s JOIN api_keys k ON k.store_id = s.id
             WHERE k.key_hash = $1 AND (k.revoked_at IS NULL OR k.revoked_at > now())"""
STATUS_SQL = """SELECT r.pos_id, l.state, l.next_attempt_at, l.retries FROM records r
  LEFT JOIN (SELECT links.record_id, links.state, links.next_attempt_at, links.retries FROM links
             JOIN connections c ON c.id = links.connection_id
             WHERE c.status IN ('active', 'paused', 'reconnect_required')) l ON l.record_id = r.id
  WHERE r.store_id = $1 AND r.entity_type = $2 AND r.pos_id = ANY($3::varchar[])"""


def _iso(dt) -> str | None:
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def _item(pos_id: str, links: list | None) -> dict:
    if links is None:
        return {"id": pos_id, "symbol": "none", "state": "unknown", "next_attempt_at": None, "retries": None}
    states = [s for s, _n, _r in links]
    wanted = [s for s in states if s != "skipped"]
    symbol = "none" if not wanted else ("green" if all(s == "synced" for s in wanted) else "red")
    next_at = retries = None
    if "failed" in states:
        state = "failed"
    elif "pending" in states:
        state = "pending"
        pending = [(n, r) for s, n, r in links if s == "pending"]
        next_at = min((n for n, _r in pending if n is not None), default=None)
        retries = max(r or 0 for _n, r in pending)
    else:
        state = "synced" if "synced" in states else "skipped"
    return {"id": pos_id, "symbol": symbol, "state": state, "next_attempt_at": _iso(next_at), "retries": retries}


class Lean:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.pool = await asyncpg.create_pool(self.dsn, min_size=16, max_size=16)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        parts = scope["path"].strip("/").split("/")
        if scope["path"] == "/healthz":
            return await self._send(send, 200, b'{"status":"ok"}')
        if len(parts) != 3 or parts[0] != "v1" or parts[2] != "sync-status" or parts[1] not in COLLECTIONS:
            return await self._send(send, 404, b'{"detail":"not found"}')
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        key = auth.partition(" ")[2].strip()
        ids = parse_qs(scope["query_string"].decode()).get("ids", [""])[0]
        wanted = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
        async with self.pool.acquire() as conn:
            store_id = await conn.fetchval(KEY_SQL, hashlib.sha256(key.encode()).hexdigest())
            if store_id is None:
                return await self._send(send, 401, b'{"detail":"unauthorized"}')
            rows = await conn.fetch(STATUS_SQL, store_id, COLLECTIONS[parts[1]], wanted)
        links: dict[str, list] = {}
        for pos_id, state, next_at, retries in rows:
            bucket = links.setdefault(pos_id, [])
            if state is not None:
                bucket.append((state, next_at, retries))
        body = {"items": [_item(p, links.get(p)) for p in wanted]}
        await self._send(send, 200, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())

    @staticmethod
    async def _send(send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def dsn_from(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m bench.lean")
    p.add_argument("--port", type=int, default=8001)
    args = p.parse_args()
    uvicorn.run(Lean(dsn_from(os.environ["DATABASE_URL"])), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
