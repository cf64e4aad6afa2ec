"""The API starts while Redis is down: writes are stored and acknowledged, /readyz names Redis,
and the rings reach the workers once Redis is back (the sweeper catches up on the rest)."""

from __future__ import annotations

import asyncio
import socket
import uuid

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


class SilentRedis:
    """A Redis that accepts connections, reads every command and never answers: the slow case of a
    Redis that is away (a closed port refuses at once; a hung or unreachable host does not)."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._server: asyncio.base_events.Server | None = None
        self._open: list[asyncio.StreamWriter] = []
        # Whoever tries Redis and times out drops its connection, so each try is a new connection.
        self.connections = 0

    async def __aenter__(self) -> SilentRedis:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc) -> None:
        for writer in self._open:
            writer.close()
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.append(writer)
        self.connections += 1
        while chunk := await reader.read(65536):
            self.received += chunk


async def test_a_redis_that_does_not_answer_holds_up_no_write(migrated):
    from app.sync.sweeper import due_connections
    from app.workers.sweeper import sweep

    writes = 12
    async with SilentRedis() as redis:
        settings = make_settings(migrated, REDIS_URL=redis.url)
        deps = build_deps(settings)
        await wipe(deps)
        app = create_app(settings, deps)
        try:
            async with app.router.lifespan_context(app):
                key = await new_store_key(deps)
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://possync.test",
                                             headers={"Authorization": f"Bearer {key}"}) as client:
                    # A guard, not a speed claim: without a time-out a ring to this Redis never returns.
                    async with asyncio.timeout(60):
                        created = await client.post("/v1/connections", json={"connector": "sandbox"})
                        answers = [await client.post("/v1/customers/batch", json={"items": [
                            {"id": f"C-{n}-{i}", "first_name": "Ana"} for i in range(5)]})
                            for n in range(writes)]
            assert created.status_code == 201, created.text
            assert [a.status_code for a in answers] == [200] * writes, answers[-1].text
            # One ring and one request count waited out their time-out; the requests after them
            # skipped Redis instead of each waiting out its own (13 requests: 13 rings and counts
            # otherwise; a slow machine may let a pause run out once).
            assert 2 <= redis.connections <= 4, bytes(redis.received)

            # Nothing was lost: the sweeper finds the connection's work and rings for it.
            bell = RecordingBell()
            deps.bell = bell
            due = await due_connections(deps)
            await sweep(deps)
        finally:
            await deps.aclose()
    assert due == [uuid.UUID(created.json()["id"])]
    assert [(connection_id, trigger) for connection_id, trigger in bell.rings] == [(due[0], "schedule")]


class RecordingBell:
    def __init__(self) -> None:
        self.rings: list[tuple[uuid.UUID, str]] = []

    async def ring(self, connection_id, *, trigger, run_id=None) -> None:
        self.rings.append((connection_id, trigger))


async def test_a_workers_redis_call_fails_within_its_time_out_when_redis_does_not_answer(migrated, monkeypatch):
    # Limits, locks and the company memo go through this client: a call that never returned held
    # its job (and the batch it had claimed) for ever.
    from redis.exceptions import TimeoutError as RedisTimeout

    monkeypatch.setattr("app.core.redis_client.REDIS_TIMEOUT_S", 0.5)
    async with SilentRedis() as redis:
        deps = build_deps(make_settings(migrated, REDIS_URL=redis.url))
        try:
            async with asyncio.timeout(10):  # a guard: without the time-out the call never returns
                with pytest.raises(RedisTimeout):
                    await deps.redis.get("possync:anything")
        finally:
            await deps.aclose()
    assert redis.connections >= 1  # it reached this Redis, which never answered (a refused port fails at once)
