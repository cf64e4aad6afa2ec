"""The documentation: served with no network, every field described, every example valid."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.conftest import IN_CI
from tests.test_operations import _free_port

ARTIFACTS = Path(os.environ.get("POSSYNC_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket to anywhere fails, as on a machine without internet."""

    def refuse(*_args, **_kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


async def test_docs_and_every_asset_are_served_locally(client, no_network):
    page = await client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert not re.search(r"https?://", html), "the docs page must not point anywhere else"
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html) + re.findall(r"""url: ?['"]([^'"]+)['"]""", html)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/openapi.json"} <= set(assets)
    for asset in assets:
        fetched = await client.get(asset)
        assert fetched.status_code == 200 and len(fetched.content) > 100, asset
    assert (await client.get("/redoc")).status_code == 404  # not kept: one documentation UI


def _walk_schemas(spec):
    for name, schema in spec["components"]["schemas"].items():
        yield name, schema
        for key in ("$defs", "definitions"):
            for sub, nested in (schema.get(key) or {}).items():
                yield f"{name}.{sub}", nested


async def test_every_field_and_parameter_has_a_description(client):
    spec = (await client.get("/openapi.json")).json()
    missing = [f"{name}.{prop}" for name, schema in _walk_schemas(spec)
               for prop, body in (schema.get("properties") or {}).items() if not body.get("description")]
    assert missing == []
    undocumented = [f"{method.upper()} {path} {p['name']}" for path, item in spec["paths"].items()
                    for method, op in item.items() for p in op.get("parameters", []) if not p.get("description")]
    assert undocumented == []


async def test_every_example_is_valid_against_its_own_schema(client):
    spec = (await client.get("/openapi.json")).json()
    failures = []

    def check(schema, example, where):
        # $refs point into #/components: validate with the components beside the schema.
        errors = list(jsonschema.Draft202012Validator({**schema, "components": spec["components"]})
                      .iter_errors(example))
        if errors:
            failures.append(f"{where}: {errors[0].message}")

    checked = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
            if content:
                for name, example in (content.get("examples") or {}).items():
                    check(content["schema"], example["value"], f"{method} {path} {name}")
                    checked += 1
            for parameter in op.get("parameters", []):
                for example in parameter.get("schema", {}).get("examples", []) + [
                        e["value"] for e in (parameter.get("examples") or {}).values()]:
                    check(parameter["schema"], example, f"{method} {path} {parameter['name']}")
                    checked += 1
    for name, schema in _walk_schemas(spec):
        for example in schema.get("examples", []):
            check(schema, example, name)
            checked += 1
        for prop, body in (schema.get("properties") or {}).items():
            for example in body.get("examples", []):
                check(body, example, f"{name}.{prop}")
                checked += 1
    assert failures == []
    assert checked >= 12


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_headless_chromium_renders_docs_without_network(tmp_path):
    browser = _chromium()
    if browser is None:
        if IN_CI:
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'docs.db'}", "REDIS_URL": "",
           "POSSYNC_ENCRYPTION_KEYS": "", "POSSYNC_LOG_LEVEL": "WARNING"}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=tmp_path,
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not come up"
            time.sleep(0.2)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "docs.png"
        shot.unlink(missing_ok=True)
        # Every host but ours resolves to nothing: the page has only what possync serves.
        flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--virtual-time-budget=20000",
                 "--window-size=1280,1600"]
        dom = subprocess.run([*flags, "--dump-dom", f"{base}/docs"], capture_output=True, text=True, timeout=120)
        assert "opblock" in dom.stdout, dom.stderr[-2000:]  # Swagger UI drew the operations
        assert "/v1/customers/{pos_id}" in dom.stdout
        subprocess.run([*flags, f"--screenshot={shot}", f"{base}/docs"], capture_output=True, timeout=120)
        assert shot.exists() and shot.stat().st_size > 20_000  # a drawn page, not a blank one
    finally:
        server.terminate()
        server.wait(timeout=10)
