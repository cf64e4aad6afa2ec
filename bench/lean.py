"""The "lean" baseline: a bare ASGI app on uvicorn + asyncpg that answers
`GET /v1/{collection}/sync-status?ids=...` and the Sync panel `GET /v1/{collection}/{id}/sync` with
the same bytes as possync, sending only the SELECTs it needs (the key look-up, then one query for
the statuses, or two for the panel). It shares possync's database and nothing else.

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
STATUS_SQL = """SELECT r.pos_id, l.state, l.next_attempt_at, l.retries, l.waiting_for FROM records r
  LEFT JOIN (SELECT links.record_id, links.state, links.next_attempt_at, links.retries, links.waiting_for FROM links
             JOIN connections c ON c.id = links.connection_id
             WHERE c.status IN ('active', 'paused', 'reconnect_required')) l ON l.record_id = r.id
  WHERE r.store_id = $1 AND r.entity_type = $2 AND r.pos_id = ANY($3::varchar[])"""
RECORD_SQL = "SELECT id FROM records WHERE store_id = $1 AND entity_type = $2 AND pos_id = $3"
PANEL_SQL = """SELECT c.id, c.connector, l.state, l.action, l.error, l.advice, l.last_synced_at, l.external_id,
  l.next_attempt_at, l.retries, c.status, c.status_reason, l.program_change, l.program_changed_at, l.waiting_for
  FROM links l JOIN connections c ON c.id = l.connection_id
  WHERE l.record_id = $1 AND c.status IN ('active', 'paused', 'reconnect_required') ORDER BY c.created_at"""
WAITING_FOR = {"reconnect_required": "Reconnect required.", "paused": "Sync paused by the program's limits."}
SETTING_PREFIX = "setting:"  # app.sync.setting_waits: a link that waits for one of the shop's settings


def _iso(dt) -> str | None:
    if dt is None or isinstance(dt, str):
        return dt
    return dt.isoformat().replace("+00:00", "Z")


def _item(pos_id: str, links: list | None) -> dict:
    if links is None:
        return {"id": pos_id, "symbol": "none", "state": "unknown", "next_attempt_at": None, "retries": None,
                "waits_for": None}
    return {"id": pos_id, **summary(links)}


def waited(state: str | None, waiting_for: str | None) -> str | None:
    """The setting a failed link waits for, as "setting.key" (app.sync.setting_waits.waited_setting)."""
    if state != "failed" or not waiting_for or not waiting_for.startswith(SETTING_PREFIX):
        return None
    setting, _, key = waiting_for[len(SETTING_PREFIX):].partition(":")
    return f"{setting}.{key}"


def summary(links: list) -> dict:
    """symbol, state, next_attempt_at, retries, waits_for from (state, next_attempt_at, retries,
    waits_for) per link."""
    states = [s for s, _n, _r, _w in links]
    wanted = [s for s in states if s != "skipped"]
    symbol = "none" if not wanted else ("green" if all(s == "synced" for s in wanted) else "red")
    next_at = retries = None
    if "failed" in states:
        state = "failed"
    elif "pending" in states:
        state = "pending"
        pending = [(n, r) for s, n, r, _w in links if s == "pending"]
        next_at = min((n for n, _r in pending if n is not None), default=None)
        retries = max(r or 0 for _n, r in pending)
    else:
        state = "synced" if "synced" in states else "skipped"
    failed = [w for s, _n, _r, w in links if s == "failed"]
    waits_for = failed[0] if failed and all(failed) else None
    return {"symbol": symbol, "state": state, "next_attempt_at": _iso(next_at), "retries": retries,
            "waits_for": waits_for}


def panel_line(row) -> dict:
    (connection_id, connector, state, action, error, advice, last_sync, external_id, next_at, retries,
     status, status_reason, program_change, program_changed_at, waiting_for) = row
    if state == "pending" and status != "active":
        error = WAITING_FOR.get(status, error)
        advice = status_reason or advice
    pending = state == "pending"
    return {"connection_id": str(connection_id), "connector": connector, "state": state, "status": action,
            "error": error, "advice": advice, "last_sync": _iso(last_sync), "external_id": external_id,
            "next_attempt_at": _iso(next_at) if pending else None, "retries": retries if pending else None,
            "program_change": program_change, "program_changed_at": _iso(program_changed_at),
            "waits_for": waited(state, waiting_for)}


def panel_body(lines: list[dict]) -> dict:
    """The panel from its lines: the summary's symbol and state, then the lines."""
    overall = summary([(x["state"], x["next_attempt_at"], x["retries"], x["waits_for"]) for x in lines])
    return {"symbol": overall["symbol"], "state": overall["state"], "waits_for": overall["waits_for"],
            "connections": lines}


def status_body(wanted: list[str], links: dict[str, list]) -> bytes:
    return dumps({"items": [_item(p, links.get(p)) for p in wanted]})


def dumps(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def no_reset(_conn) -> None:
    """No statement on release: asyncpg's default reset (advisory unlocks, RESET ALL) is a round trip
    per request that these read-only, transaction-less requests do not need."""


async def lifespan(app, receive, send, *, max_size: int) -> None:
    """ASGI lifespan for the baselines: `app.pool`, an asyncpg pool on `app.dsn`, for the app's life."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            app.pool = await asyncpg.create_pool(app.dsn, min_size=16, max_size=max_size, reset=no_reset)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await app.pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def send_json(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Lean:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(self, receive, send, max_size=16)
        parts = scope["path"].strip("/").split("/")
        if scope["path"] == "/healthz":
            return await send_json(send, 200, b'{"status":"ok"}')
        if len(parts) < 3 or parts[0] != "v1" or parts[1] not in COLLECTIONS:
            return await send_json(send, 404, b'{"detail":"not found"}')
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        key = auth.partition(" ")[2].strip()
        if len(parts) == 4 and parts[3] == "sync":
            return await self._panel(send, key, COLLECTIONS[parts[1]], parts[2])
        if len(parts) != 3 or parts[2] != "sync-status":
            return await send_json(send, 404, b'{"detail":"not found"}')
        ids = parse_qs(scope["query_string"].decode()).get("ids", [""])[0]
        wanted = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
        async with self.pool.acquire() as conn:
            store_id = await conn.fetchval(KEY_SQL, hashlib.sha256(key.encode()).hexdigest())
            if store_id is None:
                return await send_json(send, 401, b'{"detail":"unauthorized"}')
            rows = await conn.fetch(STATUS_SQL, store_id, COLLECTIONS[parts[1]], wanted)
        links: dict[str, list] = {}
        for pos_id, state, next_at, retries, waiting_for in rows:
            bucket = links.setdefault(pos_id, [])
            if state is not None:
                bucket.append((state, next_at, retries, waited(state, waiting_for)))
        await send_json(send, 200, status_body(wanted, links))

    async def _panel(self, send, key: str, entity_type: str, pos_id: str) -> None:
        async with self.pool.acquire() as conn:
            store_id = await conn.fetchval(KEY_SQL, hashlib.sha256(key.encode()).hexdigest())
            if store_id is None:
                return await send_json(send, 401, b'{"detail":"unauthorized"}')
            record_id = await conn.fetchval(RECORD_SQL, store_id, entity_type, pos_id)
            if record_id is None:
                return await send_json(send, 404, b'{"detail":"not found"}')
            rows = await conn.fetch(PANEL_SQL, record_id)
        await send_json(send, 200, dumps(panel_body([panel_line(r) for r in rows])))



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
