"""The "mirror" baseline: a bare ASGI app on uvicorn + asyncpg that sends, for each request, the
exact statement stream possync sent for that same request - the same connection checkouts, the same
transactions, the same SQL text and parameters - and answers with the same bytes.

`capture` records the stream once, in the bench's own process: possync's app runs behind
httpx's ASGI transport while SQLAlchemy's pool and cursor events note every checkout, statement
(with its parameters) and commit. The mirror then replays it, so possync ÷ mirror is what possync
spends on itself (FastAPI, pydantic, SQLAlchemy) over the same database work, and mirror ÷ lean is
what its statements cost beyond the ones the answer needs.

Run by `python -m bench.baselines`; by hand: `python -m bench.mirror --port 8002 --streams FILE`.
"""

from __future__ import annotations

import argparse
import contextvars
import os
import pickle
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import httpx

from bench.lean import (COLLECTIONS, dsn_from, dumps, lifespan, panel_body, panel_line, send_json, status_body,
                        waited)

Stream = list[list[tuple]]
_CAPTURING: contextvars.ContextVar[bool] = contextvars.ContextVar("capturing", default=False)  # per checkout: ("sql", text, params) or ("commit",)


def request_key(path: str, params: dict | None = None) -> str:
    return path + ("?" + urlencode(params) if params else "")


async def capture(env: dict[str, str], headers: dict[str, str], requests: list[tuple[str, dict | None]]
                  ) -> tuple[dict[str, Stream], dict[str, bytes]]:
    """possync's statements per request (the second of two identical calls: the first warms caches up)."""
    os.environ.update(env)
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    from app.main import create_app
    from app.settings import Settings

    current: Stream = []

    # Only what the request itself sends: the in-process app may be running sync jobs meanwhile
    # (tasks of their own, without this variable set).
    def on_checkout(*_a) -> None:
        if _CAPTURING.get():
            current.append([])

    def on_statement(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if _CAPTURING.get():
            # A read on an autocommit connection sends its statements outside any transaction.
            autocommit = _conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
            current[-1].append(("raw" if autocommit else "sql", statement, tuple(parameters or ())))

    def on_commit(_conn) -> None:
        if _CAPTURING.get():
            current[-1].append(("commit",))

    # The gate's key look-up runs on the driver connection, where SQLAlchemy's events do not see it.
    from app.api import request_db
    from app.models.base import utcnow
    from app.stores.service import hash_key

    look_up = request_db.caller_on

    async def noted_look_up(conn, key):
        if _CAPTURING.get() and conn.dialect.name == "postgresql":
            current[-1].append(("raw", request_db.KEY_LOOKUP, (hash_key(key), utcnow())))
        return await look_up(conn, key)

    # So do the gate's fast-lane reads (app.api.fast_reads).
    from app.records import service

    on_driver = {"statuses_on_driver": (service.statuses_on_driver, service.STATUS_SQL, ("store_id", "entity_type", "pos_ids")),
                 "panel_on_driver": (service.panel_on_driver, service.PANEL_SQL, ("store_id", "entity_type", "pos_id"))}

    def noted_on_driver(read, sql, names):
        async def noted(driver, **kwargs):
            if _CAPTURING.get():
                current[-1].append(("raw", sql, tuple(kwargs[name] for name in names)))
            return await read(driver, **kwargs)
        return noted

    for name, (read, sql, names) in on_driver.items():
        setattr(service, name, noted_on_driver(read, sql, names))
    request_db.caller_on = noted_look_up
    event.listen(Pool, "checkout", on_checkout)
    event.listen(Engine, "before_cursor_execute", on_statement)
    event.listen(Engine, "commit", on_commit)
    streams: dict[str, Stream] = {}
    bodies: dict[str, bytes] = {}
    try:
        app = create_app(Settings())
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://possync") as client:
                for path, params in requests:
                    for _ in range(2):
                        current.clear()
                        token = _CAPTURING.set(True)
                        try:
                            response = await client.get(path, params=params, headers=headers)
                        finally:
                            _CAPTURING.reset(token)
                        response.raise_for_status()
                    key = request_key(path, params)
                    streams[key] = [list(ops) for ops in current if ops]
                    bodies[key] = response.content
    finally:
        request_db.caller_on = look_up
        for name, (read, _sql, _names) in on_driver.items():
            setattr(service, name, read)
        event.remove(Pool, "checkout", on_checkout)
        event.remove(Engine, "before_cursor_execute", on_statement)
        event.remove(Engine, "commit", on_commit)
    return streams, bodies


class Mirror:
    def __init__(self, dsn: str, streams: dict[str, Stream]) -> None:
        self.dsn = dsn
        self.streams = streams
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            # Up to 30, as possync's pool (20 + 10 overflow): its stream may hold two at once.
            return await lifespan(self, receive, send, max_size=30)
        if scope["path"] == "/healthz":
            return await send_json(send, 200, b'{"status":"ok"}')
        query = scope["query_string"].decode()
        stream = self.streams.get(scope["path"] + ("?" + query if query else ""))
        parts = scope["path"].strip("/").split("/")
        if stream is None or len(parts) < 3 or parts[1] not in COLLECTIONS:
            return await send_json(send, 404, b'{"detail":"not found"}')
        rows = await self._replay(stream)
        if parts[-1] == "sync-status":
            links: dict[str, list] = defaultdict(list)
            for r in rows:
                pos_id, state = r["pos_id"], r["state"]
                if state is not None:
                    links[pos_id].append((state, r["next_attempt_at"], r["retries"],
                                          waited(state, r.get("waiting_for"))))
                else:
                    links.setdefault(pos_id, [])
            wanted = [i for i in dict.fromkeys(x.strip() for x in _ids(query).split(",")) if i]
            return await send_json(send, 200, status_body(wanted, links))
        lines = [panel_line((r["connection_id"], r["connector"], r["state"], r["action"], r["error"], r["advice"],
                             r["last_synced_at"], r["external_id"], r["next_attempt_at"], r["retries"],
                             r["status"], r["status_reason"], r.get("program_change"), r.get("program_changed_at"),
                             r.get("waiting_for"))) for r in rows
                 if r["connection_id"] is not None]  # the fast lane's panel: a row of NULLs is no line
        await send_json(send, 200, dumps(panel_body(lines)))

    async def _replay(self, stream: Stream) -> list:
        """Every checkout of the stream in turn, each in its own transaction; the last statement's rows."""
        rows: list = []
        for ops in stream:
            async with self.pool.acquire() as conn:
                # As SQLAlchemy's asyncpg driver does: BEGIN before the first statement, ROLLBACK
                # when the connection goes back to the pool unless it committed.
                transaction = None
                for op in ops:
                    if op[0] == "raw":  # outside any transaction, as possync's key look-up
                        rows = await conn.fetch(op[1], *op[2])
                    elif op[0] == "sql":
                        if transaction is None:
                            transaction = conn.transaction()
                            await transaction.start()
                        rows = await conn.fetch(op[1], *op[2])
                    elif transaction is not None:
                        await transaction.commit()
                        transaction = None
                if transaction is not None:
                    await transaction.rollback()
        return rows


def _ids(query: str) -> str:
    from urllib.parse import parse_qs

    return parse_qs(query).get("ids", [""])[0]


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m bench.mirror")
    p.add_argument("--port", type=int, default=8002)
    p.add_argument("--streams", type=Path, required=True, help="pickle written by bench.baselines")
    args = p.parse_args()
    streams = pickle.loads(args.streams.read_bytes())
    uvicorn.run(Mirror(dsn_from(os.environ["DATABASE_URL"]), streams), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
