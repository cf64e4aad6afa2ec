"""FastAPI factory: routers, error shape, and the process-wide engine deps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

from app.api import connections, docs, health, manage, oauth, problems, records, resync, store, webhooks
from app.api.middleware import ApiGate
from app.api.ratelimit import StoreRequestLimit
from app.api.settings_schema import add_settings_schemas
from app.connectors.registry import CONNECTOR_CLASSES, offered_names
from app.logging import configure_logging
from app.settings import Settings, get_settings
from app.sync.deps import SyncDeps, build_deps
from app.workers.runtime import JobRuntime

log = structlog.get_logger(__name__)

DESCRIPTION = """
possync keeps a shop's point-of-sale records in step with the programs it runs beside its POS
(Xero, QuickBooks Online, and a built-in **sandbox**).

The POS `PUT`s each record; possync stores it and pushes it to every connected program. Each
record's **sync symbol** (`green`, `red`, `none`), its **Sync panel**, **SYNC NOW** and
**REFRESH LOGS** are served per collection. Errors are RFC 9457 problem details.
Authenticate with `Authorization: Bearer <store API key>` (`possync store create NAME`).
"""


class GatedFastAPI(FastAPI):
    """FastAPI with the gate (app.api.middleware) outermost, where Starlette puts its
    ServerErrorMiddleware.

    The gate already turns every unexpected error into the one problem-shaped 500 (or a 503 for a
    database outage); Starlette's middleware would answer plain text first and then re-raise. And
    the till's polled reads, which the gate answers itself, no longer pass through the layers only
    routes need (the Sync panel's throughput rose by about a tenth, docs/PERFORMANCE.md)."""

    def __init__(self, *, gate: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate_options = gate

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if isinstance(stack, ServerErrorMiddleware):
            stack = stack.app
        return ApiGate(stack, **self.gate_options)


def create_app(settings: Settings | None = None, deps: SyncDeps | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = deps is None
        app.state.deps = deps or build_deps(settings)
        runtime = JobRuntime()
        if app.state.deps.bell is None:  # tests may bring their own
            await runtime.start(app.state.deps)
        try:
            yield
        finally:
            await runtime.close()
            if own:
                await app.state.deps.aclose()

    configure_logging(settings)
    app = GatedFastAPI(
        gate={"max_body_bytes": settings.max_body_bytes, "request_limit": StoreRequestLimit(settings),
              "webhook_max_body_bytes": settings.webhook_max_body_bytes, "fast_reads": settings.fast_reads},
        title="possync",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from installed assets below, not a CDN
        redoc_url=None,
        openapi_tags=[{"name": "Integrated Apps"}, {"name": "Store"}, {"name": "Operations"}],
    )
    app.state.settings = settings
    problems.install(app)
    app.include_router(records.build_router())
    app.include_router(connections.router)
    app.include_router(resync.router)
    app.include_router(manage.router)
    app.include_router(manage.build_preview_router())
    app.include_router(oauth.router)
    app.include_router(store.router)
    app.include_router(webhooks.router)
    app.include_router(health.router)
    docs.install(app, title="possync")
    _document_settings(app, settings)
    return app


def _problems_only(spec: dict) -> dict:
    """Every 422 is a problem document (see app.api.problems), not FastAPI's default shape."""
    problem = {"description": "Unprocessable Content",
               "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}
    for item in spec.get("paths", {}).values():
        for op in item.values():
            responses = op.get("responses", {}) if isinstance(op, dict) else {}
            if "HTTPValidationError" in str(responses.get("422", "")):
                responses["422"] = problem
    schemas = spec.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in str(spec.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return spec


def _document_this_service(spec: dict, settings: Settings) -> dict:
    """What only this deployment knows: the connectors it offers, the return URLs it allows."""
    import re

    create = spec["components"]["schemas"].get("ConnectionCreate", {}).get("properties", {})
    if "connector" in create:
        create["connector"]["enum"] = offered_names(settings)
    if "return_url" in create:
        origins = "|".join(re.escape(o) for o in sorted(settings.return_url_origin_set))
        allowed = {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2083,
                   "pattern": f"^({origins})([/?#].*)?$"}
        create["return_url"]["anyOf"] = [allowed, {"type": "null"}]
    if "settings" in create:
        refs = [{"$ref": f"#/components/schemas/{CONNECTOR_CLASSES[n].settings_model.__name__}"}
                for n in offered_names(settings)]
        create["settings"] = {"anyOf": [*refs, {"type": "null"}], "description": create["settings"].get(
            "description", "Initial sync settings.")}
    return spec


def _document_settings(app: FastAPI, settings: Settings) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = add_settings_schemas(generate(), offered_names(settings))
            app.openapi_schema = _document_this_service(_problems_only(spec), settings)
        return app.openapi_schema

    app.openapi = openapi
