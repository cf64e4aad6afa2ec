"""The API starts while Redis is down: writes are stored and acknowledged, /readyz names Redis,
and the rings reach the workers once Redis is back (the sweeper catches up on the rest)."""

from __future__ import annotations

import socket

import httpx
import pytest

from app.main import create_app
from tests.conftest import make_settings, new_store_key, wipe
from app.sync.deps import build_deps

pytestmark = [pytest.mark.postgres]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


async def test_the_api_starts_and_stores_writes_while_redis_is_down(migrated):
    settings = make_settings(migrated, REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0")
    assert not settings.embedded_jobs  # jobs go through Redis: the case that used to refuse to start
    deps = build_deps(settings)
    await wipe(deps)
    app = create_app(settings, deps)
    try:
        async with app.router.lifespan_context(app):
            key = await new_store_key(deps)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://possync.test",
                                         headers={"Authorization": f"Bearer {key}"}) as client:
                created = await client.post("/v1/connections", json={"connector": "sandbox"})
                written = await client.put("/v1/customers/C-1", json={"id": "C-1", "first_name": "Ana"})
                ready = await client.get("/readyz")
                stored = await client.get("/v1/customers/C-1")
    finally:
        await deps.aclose()
    assert created.status_code == 201, created.text
    assert written.status_code in (200, 201), written.text
    assert stored.status_code == 200 and "Ana" in stored.text
    assert ready.status_code == 503 and ready.json()["down"] == ["redis"]
