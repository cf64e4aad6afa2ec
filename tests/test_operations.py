"""What operators touch: the CLI, settings, migrations, secrets, shared limits, logs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
from alembic import command
from cryptography.fernet import Fernet
from pydantic import ValidationError

from app.core.secrets import SecretBox
from app.migrate import alembic_config
from app.settings import Settings
from app.sync.limiter import RateLimits, SharedLimits
from tests.conftest import PG_URL, REDIS_URL


def run_cli(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)


def test_store_create_prints_the_key_last_and_stores_it_hashed(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {"DATABASE_URL": url}
    assert run_cli("migrate", env=env).returncode == 0
    created = run_cli("store", "create", "Corner shop", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("ps_") and len(key) > 40
    import sqlite3

    rows = sqlite3.connect(tmp_path / "cli.db").execute("SELECT key_hash FROM api_keys").fetchall()
    assert len(rows) == 1 and key not in rows[0][0]


def test_bad_configuration_stops_with_the_variable_named(tmp_path):
    result = run_cli("migrate", env={"DATABASE_URL": "mysql://localhost/x"})
    assert result.returncode == 2 and "DATABASE_URL" in result.stderr
    with pytest.raises(ValidationError, match="POSSYNC_ENCRYPTION_KEYS"):
        Settings(DATABASE_URL="postgresql+asyncpg://h/db", POSSYNC_ENCRYPTION_KEYS=None)
    with pytest.raises(ValidationError, match="REDIS_URL"):
        Settings(REDIS_URL="http://nope")


@pytest.mark.postgres
def test_migrations_match_the_models_on_postgres(migrated):
    config = alembic_config(PG_URL)
    command.check(config)  # raises if autogenerate would find any difference
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)


def test_migrations_match_the_models_on_sqlite(tmp_path):
    from app.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'check.db'}"
    upgrade(url)
    command.check(alembic_config(url))


def test_secrets_rotate_with_multifernet():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox([old]).seal({"refresh_token": "r-1"})
    assert "r-1" not in sealed
    rotated_box = SecretBox([new, old])
    assert rotated_box.open(sealed) == {"refresh_token": "r-1"}
    assert SecretBox([new]).open(rotated_box.rotate(sealed)) == {"refresh_token": "r-1"}
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox([new]).open(sealed)


@pytest.mark.redis
async def test_in_flight_limit_is_shared_across_limiter_instances():
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    key = f"test-{time.time_ns()}"
    limits = RateLimits(concurrent=2)
    # Two processes' worth of limiters: separate objects sharing only Redis.
    limiters = [SharedLimits(client, REDIS_URL).for_organisation(key, limits) for _ in range(2)]
    in_flight = peak = 0

    async def call(limiter):
        nonlocal in_flight, peak
        async with limiter.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.05)
            in_flight -= 1

    await asyncio.gather(*(call(limiters[i % 2]) for i in range(8)))
    assert peak == 2
    await client.aclose()


@pytest.mark.redis
async def test_minute_window_is_shared_across_limiter_instances():
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    key = f"test-{time.time_ns()}"
    a = SharedLimits(client, REDIS_URL)
    b = SharedLimits(client, REDIS_URL)
    limits = RateLimits(per_minute=3)
    for limiter in (a, b, a):
        await asyncio.wait_for(limiter.wait_for_minute_window(key, limits), 1)
    with pytest.raises(TimeoutError):  # the fourth call in the minute must wait
        await asyncio.wait_for(b.wait_for_minute_window(key, limits), 0.5)
    await client.aclose()


def test_logs_never_carry_tokens(capsys):
    from app.logging import configure_logging
    import structlog

    configure_logging(Settings(POSSYNC_LOG_JSON=True))
    structlog.get_logger("t").info("refreshed", access_token="secret-a", refresh_token="secret-r", connection="c1")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert event["access_token"] == "***" and event["refresh_token"] == "***" and event["connection"] == "c1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_on_sqlite_alone_syncs_in_process(tmp_path):
    """The README's run command in embedded mode: no PostgreSQL, no Redis, jobs inside the API."""
    import httpx

    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}", "REDIS_URL": "",
           "POSSYNC_ENCRYPTION_KEYS": "", "POSSYNC_LOG_LEVEL": "WARNING"}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=tmp_path,
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not come up"
            time.sleep(0.2)
        key = run_cli("store", "create", "Embedded shop", env=env, cwd=tmp_path).stdout.strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{base}/v1/connections", json={"connector": "sandbox"}, headers=headers).status_code == 201
        assert httpx.put(f"{base}/v1/customers/C-1", json={"first_name": "Ana"}, headers=headers).status_code == 201
        symbol = None
        while time.monotonic() < deadline and symbol != "green":
            symbol = httpx.get(f"{base}/v1/customers/C-1/sync", headers=headers).json()["symbol"]
            time.sleep(0.1)
        assert symbol == "green"
        assert (tmp_path / "possync.key").exists()  # the embedded encryption key, beside the database
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["checks"]["redis"].startswith("not used")
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.postgres
async def test_concurrent_first_puts_of_one_id_store_one_record(api):
    import asyncio

    responses = await asyncio.gather(
        *(api.put("/v1/customers/C-RACE", {"first_name": f"Ana {i}"}) for i in range(10))
    )
    assert all(r.status_code in (200, 201) for r in responses), [r.status_code for r in responses]
    from sqlalchemy import func, select

    from app.models import Record

    async with api.deps.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Record)) == 1
