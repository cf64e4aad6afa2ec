"""The gate's fast lane for the two reads every till polls: a list screen's `sync-status` and a
record's Sync panel.

Measured under wrk (docs/PERFORMANCE.md), FastAPI's routing, dependency solving and the ORM cost
these reads two to five times what the database does. On PostgreSQL the gate, which has already
authenticated the caller on the request's connection, answers them itself: one prepared statement
on the driver connection (app.records.service, beside its ORM twin) and the response model's own
pydantic serialiser, so the bytes are the route's. Only a plainly valid request takes the lane;
anything else (a missing or malformed parameter, too many ids, an unknown record, SQLite) goes on
to the FastAPI route, so every error keeps its one shape and its one place. The routes stay what
the OpenAPI documents.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing_extensions import TypedDict
from urllib.parse import parse_qsl

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import Scope, Send

from app.api import request_db
from app.api.records import IDS_PATTERN, MAX_STATUS_IDS, PosIdConvertor
from app.entities import ENTITY_TYPES
from app.entities.common import POS_ID_MAX_LENGTH, POS_ID_PATTERN, ROUTE_WORDS
from app.records import service
from app.records.schemas import StatusItem, SyncPanel

_COLLECTIONS = {et.collection: et.name for et in ENTITY_TYPES.values()}
_STATUS_PATH = re.compile(r"/v1/([a-z-]+)/sync-status")
_PANEL_PATH = re.compile(r"/v1/([a-z-]+)/(" + PosIdConvertor.regex + r")/sync")
_IDS = re.compile(IDS_PATTERN)
_POS_ID = re.compile(POS_ID_PATTERN)
_ROUTE_WORDS = frozenset(ROUTE_WORDS)
# The status items are plain dicts made by the service in StatusItem's field order; serialised
# through a TypedDict of the same fields they need no validation pass (a tenth of the request), and
# pydantic writes each value as the model would (tests/test_fast_reads.py compares the bytes).
_STATUS_LIST = TypeAdapter(TypedDict("StatusListBody", {"items": list[TypedDict(
    "StatusItemBody", {name: field.annotation for name, field in StatusItem.model_fields.items()})]}))
_SYNC_PANEL = TypeAdapter(SyncPanel)
# The FastAPI routes' paths, as the request metrics label them.
_ROUTES = {kind: {collection: SimpleNamespace(path=f"/v1/{collection}/{suffix}") for collection in _COLLECTIONS}
           for kind, suffix in (("status", "sync-status"), ("panel", "{pos_id:pos_id}/sync"))}


async def answer(scope: Scope, conn: AsyncConnection, send: Send) -> bool:
    """Answers the request and returns True if it is one of the fast lane's; else False, untouched."""
    if scope["method"] != "GET" or conn.dialect.name != "postgresql":
        return False
    read = _match(scope)
    if read is None:
        return False
    kind, collection, reader = read
    raw = await conn.get_raw_connection()
    try:
        body = await reader(raw.driver_connection, scope["state"]["caller"].store.id)
    except Exception as exc:
        # SQLAlchemy never saw this statement: a connection the server dropped must not go back
        # to the pool (the gate answers 503 for the outage).
        if request_db.forget_if_dropped(conn, raw, exc):
            await conn.invalidate(exc)
        raise
    if body is None:
        return False
    scope["route"] = _ROUTES[kind][collection]  # the request metrics' label
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
    return True


def _match(scope: Scope):
    path: str = scope["path"]
    if path.endswith("/sync-status"):
        found = _STATUS_PATH.fullmatch(path)
        if found is None or found[1] not in _COLLECTIONS:
            return None
        pos_ids = _status_ids(scope.get("query_string", b""))
        if pos_ids is None:
            return None
        entity_type = _COLLECTIONS[found[1]]

        async def statuses(driver, store_id) -> bytes:
            items = await service.statuses_on_driver(driver, store_id=store_id, entity_type=entity_type,
                                                     pos_ids=pos_ids)
            return _STATUS_LIST.dump_json({"items": items})

        return "status", found[1], statuses
    if path.endswith("/sync"):
        found = _PANEL_PATH.fullmatch(path)
        if found is None or found[1] not in _COLLECTIONS:
            return None
        pos_id = found[2]
        if len(pos_id) > POS_ID_MAX_LENGTH or not _POS_ID.fullmatch(pos_id) or pos_id.lower() in _ROUTE_WORDS:
            return None  # the route answers what is wrong with it
        entity_type = _COLLECTIONS[found[1]]

        async def panel(driver, store_id) -> bytes | None:
            got = await service.panel_on_driver(driver, store_id=store_id, entity_type=entity_type, pos_id=pos_id)
            return None if got is None else _SYNC_PANEL.dump_json(got, by_alias=True)

        return "panel", found[1], panel
    return None


def _status_ids(query_string: bytes) -> list[str] | None:
    """The ids of `?ids=a,b,c` when that is the whole, valid query; else None (the route decides)."""
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    if len(pairs) != 1 or pairs[0][0] != "ids" or not _IDS.fullmatch(pairs[0][1]):
        return None
    wanted = list(dict.fromkeys(i.strip() for i in pairs[0][1].split(",") if i.strip()))
    if not wanted or len(wanted) > MAX_STATUS_IDS or any(len(i) > POS_ID_MAX_LENGTH for i in wanted):
        return None
    return wanted
