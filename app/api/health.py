"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.api.deps import DepsDep
from app.api.problems import PROBLEM_RESPONSES, Problem

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database and Redis reachable")
async def readyz(deps: DepsDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with deps.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        checks["database"] = f"error: {type(exc).__name__}"
    if deps.redis is not None:
        try:
            await deps.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "not used (embedded jobs)"
    ready = all(v == "ok" or v.startswith("not used") for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


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
