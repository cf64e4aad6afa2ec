"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.deps import DatabaseDep, RedisDep
from app.api.problems import PROBLEM_RESPONSES, Problem

router = APIRouter(tags=["Operations"])
CHECK_TIMEOUT_S = 2.0  # a dependency that does not answer this fast is as good as down


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database and Redis reachable")
async def readyz(database: DatabaseDep, redis: RedisDep) -> JSONResponse:
    """200 when every dependency answers; otherwise 503 naming the ones that do not (`down`)."""
    checks: dict[str, str] = {"database": await _check(_database(database))}
    checks["redis"] = await _check(redis.ping()) if redis is not None else "not used (embedded jobs)"
    down = [name for name, state in checks.items() if state.startswith("error")]
    body = {"status": "not ready" if down else "ready", "checks": checks, "down": down}
    headers = {"Retry-After": "5"} if down else None
    return JSONResponse(body, status_code=503 if down else 200, headers=headers)


async def _database(database: AsyncEngine) -> None:
    async with database.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check(probe) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        return f"error: {type(exc).__name__}"


@router.get("/metrics", summary="Prometheus metrics (needs POSSYNC_METRICS_TOKEN)", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
                       **{c: PROBLEM_RESPONSES[c] for c in (401, 404)}})
async def metrics(request: Request, authorization: Annotated[str | None, Header(
        description="`Bearer <POSSYNC_METRICS_TOKEN>`")] = None) -> Response:
    expected = request.app.state.settings.metrics_token
    if not expected:
        raise Problem(404, "Metrics are not served on this port: set POSSYNC_METRICS_TOKEN to serve them here, "
                           "or POSSYNC_METRICS_PORT to serve them on a port of their own.")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Problem(401, "Send the metrics token as 'Authorization: Bearer <POSSYNC_METRICS_TOKEN>'.",
                      headers={"WWW-Authenticate": "Bearer"})
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
