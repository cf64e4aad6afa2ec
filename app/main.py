"""FastAPI factory: routers, error shape, and the process-wide engine deps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from app.api import connections, health, oauth, problems, records
from app.api.middleware import LimitsAndIds
from app.api.settings_schema import add_settings_schemas
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
    app = FastAPI(
        title="possync",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[{"name": "Integrated Apps"}, {"name": "Operations"}],
    )
    problems.install(app)
    app.include_router(records.build_router())
    app.include_router(connections.router)
    app.include_router(oauth.router)
    app.include_router(health.router)
    app.add_middleware(LimitsAndIds, max_body_bytes=settings.max_body_bytes)
    _document_settings(app)
    return app


def _document_settings(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = add_settings_schemas(generate())
        return app.openapi_schema

    app.openapi = openapi
