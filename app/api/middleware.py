"""The gate every request passes first, as plain ASGI middleware: request id, metrics, the store
key and its rate limit (before a byte of the body is read), the body's size and type, and the
one place an unexpected error becomes a 500 (a database outage a 503)."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import fast_reads, request_db
from app.api.problems import database_unavailable, problem_response
from app.api.ratelimit import StoreRequestLimit
from app.db import is_database_outage
from app.observability import metrics

log = structlog.get_logger(__name__)

# Under /v1 everything needs a store key except what a browser or a program calls back:
# the OAuth routes (the state authenticates) and webhooks (the signature does).
WEBHOOK_PREFIX = "/v1/webhooks/"
PUBLIC_PREFIXES = ("/v1/oauth/", WEBHOOK_PREFIX)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


class BodyTooLarge(Exception):
    pass


class ApiGate:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, request_limit: StoreRequestLimit,
                 webhook_max_body_bytes: int | None = None, fast_reads: bool = True) -> None:
        self.app = app
        self.fast_reads = fast_reads  # app.api.fast_reads; off only to compare its answers with the routes'
        self.max_body_bytes = max_body_bytes
        self.webhook_max_body_bytes = min(webhook_max_body_bytes or max_body_bytes, max_body_bytes)
        self.request_limit = request_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        progress = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                progress["status"], progress["started"] = message["status"], True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self._handle(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes a 500
            if is_database_outage(exc) and not progress["started"]:
                log.warning("database_unavailable", path=scope.get("path"), error=type(exc).__name__)
                await database_unavailable()(scope, receive, send_with_id)
            else:
                await self._unexpected(scope, receive, send_with_id, progress)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or metrics.UNMATCHED_ROUTE
            metrics.REQUEST_SECONDS.labels(
                metrics.method_label(scope["method"]), path, metrics.status_label(progress["status"])
            ).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if not path.startswith("/v1/") or path.startswith(PUBLIC_PREFIXES):
            await self._pass_on(scope, receive, send)
            return
        conn = await scope["app"].state.deps.engine.connect()
        routed = False
        try:
            refusal = await self._authenticate(scope, conn)
            if refusal is None and scope["method"] not in BODY_METHODS:
                # A read (what the POS polls): one connection for the whole request, the key
                # look-up here and then the fast lane's statement or the route's session
                # (app.api.request_db). A request with a body gives it back first: no pool
                # connection waits on a slow upload. The fast lane sends its statement on the
                # driver, where no transaction begins: only the route needs the switch to
                # autocommit (a fifth of the checkout's cost, measured).
                if self.fast_reads and await fast_reads.answer(scope, conn, send):
                    return
                routed = True
                scope["state"][request_db.STATE_KEY] = await request_db.for_reading(conn)
                await self.app(scope, receive, send)
                return
        finally:
            await request_db.give_back(conn, routed=routed)
        if refusal is not None:
            if _carries_body(scope):
                # The body stays unread: end the connection rather than make the server take it in.
                refusal.headers["Connection"] = "close"
            await refusal(scope, receive, send)
            return
        await self._pass_on(scope, receive, send)

    async def _pass_on(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        # Webhooks are read before anyone is authenticated (the signature covers the body): a
        # smaller limit.
        limit = self.webhook_max_body_bytes if path.startswith(WEBHOOK_PREFIX) else self.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        try:
            body, more = await self._read_body(receive, limit)
        except BodyTooLarge:
            await self._too_large(scope, receive, send, limit)
            return
        if body and path.startswith("/v1/") and not path.startswith(PUBLIC_PREFIXES) and not _is_json(scope):
            given = _header(scope, b"content-type")
            await problem_response(
                415, f"Send the body as JSON with 'Content-Type: application/json'"
                     f"{f' (got {given!r})' if given else ' (none was given)'}.",
                headers={"Accept": "application/json"})(scope, receive, send)
            return
        await self.app(scope, _replay(body, more, receive), send)

    async def _authenticate(self, scope: Scope, conn):
        """None if the caller may go on (its store is put in scope['state']), else the refusal."""
        scheme, _, key = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return problem_response(401, "Send the store's API key as 'Authorization: Bearer <key>'.",
                                    headers=UNAUTHORIZED)
        caller = await request_db.caller_on(conn, key.strip())
        if caller is None:
            return problem_response(401, "The API key is not valid (or was revoked).", headers=UNAUTHORIZED)
        wait_s = await self.request_limit.retry_after_s(caller.store.id)
        if wait_s is not None:
            return problem_response(
                429, f"This store made more than {self.request_limit.item} requests; try again in {wait_s} s.",
                headers={"Retry-After": str(wait_s)})
        scope.setdefault("state", {})["caller"] = caller
        return None

    async def _read_body(self, receive: Receive, limit: int) -> tuple[bytes, list[Message]]:
        """The whole body (chunked or not) up to the limit; messages after it are kept to replay."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), [message]
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), []

    async def _unexpected(self, scope, receive, send, progress) -> None:
        # One JSON line with the traceback inside (structlog's format_exc_info), a problem body,
        # and `Connection: close` so the client does not reuse a connection in an unknown state.
        log.exception("unhandled_error", method=metrics.method_label(scope.get("method", "")),
                      path=scope.get("path"))
        if progress["started"]:
            return  # the response is under way: the server ends the connection
        response = problem_response(500, "Something went wrong on our side; nothing you sent is at fault.",
                                    headers={"Connection": "close"})
        await response(scope, receive, send)

    async def _too_large(self, scope, receive, send, limit: int) -> None:
        response = problem_response(413, f"The body is larger than {limit} bytes.",
                                    headers={"Connection": "close"})
        await response(scope, receive, send)


def _replay(body: bytes, after: list[Message], receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *after]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()  # then the real stream again: a disconnect is still seen

    return replay


def _carries_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (length is not None and length not in ("", "0"))


def _is_json(scope: Scope) -> bool:
    media = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
