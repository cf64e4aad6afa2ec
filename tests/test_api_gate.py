"""The gate: the store key before the body, a per-store request limit, key rotation and revocation."""

from __future__ import annotations

import json

import httpx
import pytest

from app.main import create_app
from tests import conftest
from tests.conftest import new_store_key
from tests.test_operations import run_cli


async def _asgi_call(app, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]):
    """Drive the app at the ASGI level, counting how many body chunks it asked for."""
    asked = {"n": 0}
    sent: list[dict] = []

    async def receive():
        if asked["n"] < len(chunks):
            asked["n"] += 1
            return {"type": "http.request", "body": chunks[asked["n"] - 1], "more_body": asked["n"] < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "headers": headers, "scheme": "http",
             "server": ("possync.test", 80), "client": ("127.0.0.1", 5000), "root_path": ""}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict((k.decode(), v.decode()) for k, v in start["headers"]), body, asked["n"]


async def test_the_key_is_checked_before_a_byte_of_the_body_is_read(client, settings, deps):
    app = client._transport.app  # noqa: SLF001
    chunk = b"x" * 1_000_000
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    for extra in ([], [(b"authorization", b"Bearer ps_not-a-key")]):
        status, response_headers, body, read = await _asgi_call(app, "POST", "/v1/customers/batch",
                                                                 headers + extra, [chunk] * 14)
        assert status == 401 and json.loads(body)["status"] == 401
        assert read == 0 and response_headers["connection"] == "close"


async def test_a_chunked_body_over_the_limit_is_413(client, deps):
    app = client._transport.app  # noqa: SLF001
    key = await new_store_key(deps)
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json"),
               (b"transfer-encoding", b"chunked")]
    status, response_headers, body, read = await _asgi_call(app, "POST", "/v1/customers/batch", headers,
                                                              [b"x" * 1_048_576] * 20)
    assert status == 413 and json.loads(body)["status"] == 413
    assert response_headers["connection"] == "close"
    assert read == 17  # it stopped reading just past 16 MiB


async def test_requests_over_the_store_limit_get_429_with_retry_after(settings, deps):
    app = create_app(settings.model_copy(update={"store_rate_limit": "3/minute"}), deps)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://possync.test") as client:
        busy = {"Authorization": f"Bearer {await new_store_key(deps, 'Busy')}"}
        calm = {"Authorization": f"Bearer {await new_store_key(deps, 'Calm')}"}
        statuses = [(await client.get("/v1/connections", headers=busy)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = await client.get("/v1/connections", headers=busy)
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.headers["content-type"] == "application/problem+json"
        assert (await client.get("/v1/connections", headers=calm)).status_code == 200


@pytest.mark.redis
async def test_the_store_limit_is_shared_by_api_processes_through_redis(settings, deps):
    import redis.asyncio as aioredis

    url = conftest.test_redis_url()
    flush = aioredis.Redis.from_url(url)
    await flush.flushdb()
    await flush.aclose()
    shared = settings.model_copy(update={"store_rate_limit": "3/minute", "redis_url": url})
    apps = [create_app(shared, deps) for _ in range(2)]  # two API processes' worth
    key = {"Authorization": f"Bearer {await new_store_key(deps)}"}
    statuses = []
    for turn in range(4):
        app = apps[turn % 2]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://possync.test") as c:
            app.state.deps = deps
            statuses.append((await c.get("/v1/connections", headers=key)).status_code)
    assert statuses == [200, 200, 200, 429]


async def test_rotating_keeps_the_old_key_for_the_grace_period_and_revoke_is_at_once(api):
    rotated = await api.request("POST", "/v1/store/keys")
    assert rotated.status_code == 201, rotated.text
    body = rotated.json()
    new = {"Authorization": f"Bearer {body['key']}"}
    assert body["key"].startswith(body["prefix"]) and body["key"] != api.key
    assert (await api.get("/v1/connections")).status_code == 200  # old key: still in its grace period
    assert (await api.client.get("/v1/connections", headers=new)).status_code == 200
    revoked = await api.request("DELETE", "/v1/store/keys/current")  # the old key revokes itself
    assert revoked.status_code == 204
    assert (await api.get("/v1/connections")).status_code == 401
    assert (await api.client.get("/v1/connections", headers=new)).status_code == 200


def test_cli_rotates_and_revokes_keys(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    env = {"DATABASE_URL": url, "REDIS_URL": "", "POSSYNC_ENCRYPTION_KEYS": ""}
    assert run_cli("migrate", env=env).returncode == 0
    created = run_cli("store", "create", "Corner shop", env=env).stdout.strip().splitlines()
    store_id = created[0].split()[1]
    rotated = run_cli("store", "rotate-key", store_id, "--grace-hours", "0", env=env)
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.strip().splitlines()[-1]
    import sqlite3

    rows = sqlite3.connect(tmp_path / "keys.db").execute(
        "SELECT prefix, revoked_at IS NOT NULL FROM api_keys ORDER BY created_at").fetchall()
    assert rows == [(created[-1][:10], 1), (new_key[:10], 0)]
    revoked = run_cli("store", "revoke-key", store_id, "--prefix", new_key[:10], env=env)
    assert revoked.returncode == 0 and "1 key(s) revoked" in revoked.stdout
    assert run_cli("store", "revoke-key", store_id, env=env).returncode == 1  # nothing left to revoke
    assert run_cli("store", "rotate-key", "00000000-0000-4000-8000-000000000000", env=env).returncode == 1


def test_the_sqlite_file_and_the_key_are_created_readable_by_the_owner_only(tmp_path):
    import os
    import stat

    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}", "REDIS_URL": "",
           "POSSYNC_ENCRYPTION_KEYS": ""}
    old = os.umask(0o022)  # a usual umask: without care the files would be world-readable
    try:
        assert run_cli("migrate", env=env).returncode == 0
        assert run_cli("store", "create", "Shop", env=env).returncode == 0
        from app.core.secrets import secret_box
        from app.settings import Settings

        secret_box(Settings(DATABASE_URL=env["DATABASE_URL"], POSSYNC_ENCRYPTION_KEYS=None))
    finally:
        os.umask(old)
    for name in ("shop.db", "possync.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    for extra in tmp_path.glob("shop.db-*"):
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra


def test_the_gate_is_the_outermost_layer(settings, deps):
    # Starlette's ServerErrorMiddleware would answer a plain-text 500 before the gate saw the error
    # (tests/test_api_probes.py checks the 500 itself), and the till's polled reads would pass
    # through layers only routes need.
    from starlette.middleware.errors import ServerErrorMiddleware

    from app.api.middleware import ApiGate

    layer = create_app(settings, deps).build_middleware_stack()
    assert isinstance(layer, ApiGate)
    seen = []
    while hasattr(layer, "app"):
        seen.append(type(layer))
        layer = layer.app
    assert ServerErrorMiddleware not in seen and seen.count(ApiGate) == 1
