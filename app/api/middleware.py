"""Request ids, body-size limit and request metrics, as plain ASGI middleware."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.observability import metrics


log = structlog.get_logger(__name__)


class BodyTooLarge(Exception):
    pass


class LimitsAndIds:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length")
        try:
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await self._too_large(scope, receive, send, status_holder)
                return
            seen = 0

            async def limited_receive() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        raise BodyTooLarge
                return message

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status_holder["status"] = message["status"]
                    status_holder["started"] = True
                    message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
                await send(message)

            try:
                await self.app(scope, limited_receive, send_with_id)
            except BodyTooLarge:
                await self._too_large(scope, receive, send, status_holder)
            except Exception:  # noqa: BLE001 - the one place an unexpected error becomes a 500
                await self._unexpected(scope, receive, send, status_holder)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or metrics.UNMATCHED_ROUTE
            metrics.REQUEST_SECONDS.labels(
                metrics.method_label(scope["method"]), path, metrics.status_label(status_holder["status"])
            ).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")

    async def _unexpected(self, scope, receive, send, status_holder) -> None:
        # One JSON line with the traceback inside (structlog's format_exc_info), a problem body,
        # and `Connection: close` so the client does not reuse a connection in an unknown state.
        log.exception("unhandled_error", method=scope.get("method"), path=scope.get("path"))
        started = status_holder.get("started", False)
        status_holder["status"] = 500
        if started:
            return  # the response is under way: the server ends the connection
        response = problem_response(500, "Something went wrong on our side; nothing you sent is at fault.",
                                    headers={"Connection": "close"})
        await response(scope, receive, send)

    async def _too_large(self, scope, receive, send, status_holder) -> None:
        status_holder["status"] = 413
        response = problem_response(413, f"The body is larger than {self.max_body_bytes} bytes.")
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
