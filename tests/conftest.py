"""Test services: PostgreSQL and Redis when DATABASE_URL / REDIS_URL say so, else SQLite and in-process jobs.

In CI (CI=true) both services are required: a test that needs one fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from app.db import transaction
from app.main import create_app
from app.migrate import downgrade, upgrade
from app.models import Base
from app.settings import Settings
from app.stores.service import create_store
from app.sync.deps import SyncDeps, build_deps
from app.workers.runtime import in_process_bell

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("DATABASE_URL", "") if os.environ.get("DATABASE_URL", "").startswith("postgresql") else None
REDIS_URL = os.environ.get("REDIS_URL") or None
ENCRYPTION_KEY = os.environ.get("POSSYNC_ENCRYPTION_KEYS") or Fernet.generate_key().decode()
os.environ["POSSYNC_ENCRYPTION_KEYS"] = ENCRYPTION_KEY


def pytest_configure(config):
    if IN_CI and (not PG_URL or not REDIS_URL):
        raise pytest.UsageError("CI=true but DATABASE_URL (PostgreSQL) or REDIS_URL is missing: refusing to skip tests")


def pytest_collection_modifyitems(config, items):
    # Outside CI a developer without the services still runs everything else, and is told why not.
    for item in items:
        for marker, present, name in (("postgres", PG_URL, "DATABASE_URL (PostgreSQL)"), ("redis", REDIS_URL, "REDIS_URL")):
            if item.get_closest_marker(marker) and not present:
                item.add_marker(pytest.mark.skip(reason=f"needs {name}; set it to run this test"))


@pytest.fixture(scope="session")
def database_url() -> str:
    if PG_URL:
        return PG_URL
    folder = Path(tempfile.mkdtemp(prefix="possync-test-"))
    return f"sqlite+aiosqlite:///{folder / 'test.db'}"


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    # Down then up: every run proves the migrations apply from nothing and revert cleanly.
    downgrade(database_url, "base")
    upgrade(database_url)
    return database_url


def make_settings(database_url: str, **overrides) -> Settings:
    values = {
        "DATABASE_URL": database_url,
        "REDIS_URL": None,
        "POSSYNC_ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "POSSYNC_LOG_JSON": False,
        "POSSYNC_SWEEP_INTERVAL_S": 3600,
        "POSSYNC_RETURN_URL_ORIGINS": "https://pos.example",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(migrated: str) -> Settings:
    return make_settings(migrated)


async def wipe(deps: SyncDeps) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    async with transaction(deps.sessions) as session:
        if session.bind.dialect.name == "postgresql":
            await session.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " CASCADE"))
        else:
            for table in tables:
                await session.execute(table.delete())


@pytest.fixture
async def deps(settings: Settings) -> AsyncIterator[SyncDeps]:
    deps = build_deps(settings)
    await wipe(deps)
    deps.bell = in_process_bell(deps)  # embedded mode's, installed here so tests can wait for its jobs
    yield deps
    await deps.bell.close()
    await deps.aclose()


class Api:
    """An HTTP client for one store, plus a way to wait for the in-process jobs."""

    def __init__(self, client: httpx.AsyncClient, deps: SyncDeps, key: str) -> None:
        self.client, self.deps, self.key = client, deps, key
        self.headers = {"Authorization": f"Bearer {key}"}

    async def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return await self.client.request(method, url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    async def put(self, url: str, json) -> httpx.Response:
        return await self.request("PUT", url, json=json)

    async def get(self, url: str, **kwargs) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, json=None) -> httpx.Response:
        return await self.request("POST", url, json=json)

    async def settle(self) -> None:
        await self.deps.bell.drain()

    async def connect_sandbox(self, settings: dict | None = None) -> str:
        response = await self.post("/v1/connections", {"connector": "sandbox", "settings": settings})
        assert response.status_code == 201, response.text
        await self.settle()
        return response.json()["id"]


async def new_store_key(deps: SyncDeps, name: str = "Test shop") -> str:
    async with transaction(deps.sessions) as session:
        _store, key = await create_store(session=session, name=name)
    return key


@pytest.fixture
async def client(settings: Settings, deps: SyncDeps) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, deps)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://possync.test") as client:
            yield client


@pytest.fixture
async def api(client: httpx.AsyncClient, deps: SyncDeps) -> Api:
    return Api(client, deps, await new_store_key(deps))


# Its own Redis database (flushed by the tests that use it); POSSYNC_TEST_REDIS_DB lets parallel
# checkouts on one machine keep out of each other's way.
TEST_REDIS_DB = os.environ.get("POSSYNC_TEST_REDIS_DB", "15")


def test_redis_url() -> str:
    """A Redis database of its own, flushed by the tests that use it."""
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL
    return f"{base}/{TEST_REDIS_DB}"


class ArqStack:
    """The API with an ArqBell (jobs go through Redis) and a way to run real arq workers."""

    def __init__(self, settings: Settings, deps: SyncDeps, api: Api, pool) -> None:
        self.settings, self.deps, self.api, self.pool = settings, deps, api, pool

    def worker(self, monkeypatch):
        from arq.worker import Worker

        from app.workers import arq_worker

        monkeypatch.setattr(arq_worker, "get_settings", lambda: self.settings)
        config = arq_worker.worker_settings()
        config.pop("handle_signals")
        return Worker(**{**config, "burst": True, "handle_signals": False, "poll_delay": 0.05})

    async def run_workers(self, monkeypatch, count: int = 1) -> list:
        """Run `count` burst workers side by side until the queue is empty; fail on a failed job."""
        workers = [self.worker(monkeypatch) for _ in range(count)]
        await asyncio.gather(*(w.async_run() for w in workers))
        for w in workers:
            await w.close()
            assert w.jobs_failed == 0
        return workers


@asynccontextmanager
async def arq_stack(database_url: str, *, redis_url: str | None = None, **overrides) -> AsyncIterator[ArqStack]:
    from arq import create_pool
    from arq.connections import RedisSettings

    from app.workers.bell import ArqBell

    settings = make_settings(database_url, REDIS_URL=redis_url or test_redis_url(), **overrides)
    deps = build_deps(settings)
    await wipe(deps)
    await deps.redis.flushdb()
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    deps.bell = ArqBell(pool, settings.jobs_per_connection)
    app = create_app(settings, deps)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://possync.test") as client:
                yield ArqStack(settings, deps, Api(client, deps, await new_store_key(deps)), pool)
    finally:
        await pool.aclose()
        await deps.aclose()
