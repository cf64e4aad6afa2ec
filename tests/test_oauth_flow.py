"""The OAuth flow as a stranger would attack it: a state used twice, an open redirect, a state
carried to another browser. Written from the probe's reproductions."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.db import transaction
from app.main import create_app
from app.migrate import upgrade
from app.models import Connection
from app.sync.deps import build_deps
from tests.conftest import Api, make_settings, new_store_key, wipe
from tests.test_connections_api import OAuthSandbox, follow_start, oauthbox, start  # noqa: F401 - fixture


async def _concurrent_callbacks(api: Api, state: str, count: int = 20) -> list[httpx.Response]:
    params = {"code": "c1", "state": state}
    return await asyncio.gather(*(api.client.get("/v1/oauth/oauthbox/callback", params=params)
                                  for _ in range(count)))


async def test_one_state_is_accepted_once_among_concurrent_callbacks(api, oauthbox):
    _connection_id, state = await start(api)
    responses = await _concurrent_callbacks(api, state)
    accepted = [r for r in responses if r.status_code == 303]
    assert len(accepted) == 1, [r.status_code for r in responses]
    assert all(r.status_code == 400 for r in responses if r is not accepted[0])


async def test_one_state_is_accepted_once_on_sqlite_too(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'oauth.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = make_settings(url)
    deps = build_deps(settings)
    await wipe(deps)
    from app.workers.bell import InProcessBell
    from app.workers.jobs import run_sync

    deps.bell = InProcessBell(lambda c, r, t: run_sync(deps, c, r, t), 1)
    connector = OAuthSandbox(deps.connectors["sandbox"]._program)  # noqa: SLF001
    deps.connectors["oauthbox"] = connector
    app = create_app(settings, deps)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://possync.test"
        ) as client:
            api = Api(client, deps, await new_store_key(deps))
            for _trial in range(3):
                _connection_id, state = await start(api)
                responses = await _concurrent_callbacks(api, state)
                assert sum(r.status_code == 303 for r in responses) == 1, [r.status_code for r in responses]
            await api.settle()
    finally:
        await deps.bell.close()
        await deps.aclose()


@pytest.mark.parametrize("return_url", [
    "https://user:pass@evil.example/",
    "https://evil.example/apps",
    "https://pos.example@evil.example/",
    "http://pos.example/apps",  # another scheme is another origin
    "https://pos.example:8443/apps",
])
async def test_return_url_must_be_an_allowed_origin_without_userinfo(api, oauthbox, return_url):
    response = await api.post("/v1/connections", {"connector": "oauthbox", "return_url": return_url})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["path"] == "body.return_url"


async def test_allowed_return_url_with_default_port_is_accepted(api, oauthbox):
    response = await api.post("/v1/connections", {"connector": "oauthbox",
                                                   "return_url": "https://POS.example:443/apps"})
    assert response.status_code == 201, response.text


def test_return_url_origins_default_to_the_public_url():
    settings = make_settings("sqlite+aiosqlite:///x.db", POSSYNC_RETURN_URL_ORIGINS=None,
                             POSSYNC_PUBLIC_URL="https://sync.shop.example/")
    assert settings.return_url_origin_set == {"https://sync.shop.example"}


async def test_a_callback_without_the_start_cookie_is_refused_and_does_not_spend_the_state(api, oauthbox):
    created = await api.post("/v1/connections", {"connector": "oauthbox", "return_url": "https://pos.example/a"})
    authorize_url = created.json()["authorize_url"]
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    # Another browser (no cookie) comes back with a valid state: refused, nothing redirected.
    async with httpx.AsyncClient(transport=api.client._transport, base_url="http://possync.test") as stranger:  # noqa: SLF001
        refused = await stranger.get("/v1/oauth/oauthbox/callback", params={"code": "c1", "state": state})
        assert refused.status_code == 400 and "location" not in refused.headers
        error_path = await stranger.get("/v1/oauth/oauthbox/callback", params={"error": "x", "state": state})
        assert error_path.status_code == 400 and "location" not in error_path.headers
    # The browser that started the flow still completes it.
    await follow_start(api, authorize_url)
    done = await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c1", "state": state})
    assert done.status_code == 303 and urlsplit(done.headers["location"]).netloc == "pos.example"
    assert "possync_oauth=" in done.headers["set-cookie"] and "max-age=0" in done.headers["set-cookie"].lower()


async def test_a_cookie_of_another_state_does_not_fit(api, oauthbox):
    _first, _state_a = await start(api)
    created = await api.post("/v1/connections", {"connector": "oauthbox", "return_url": "https://pos.example/b"})
    state_b = parse_qs(urlsplit(created.json()["authorize_url"]).query)["state"][0]
    # The jar holds state A's cookie only.
    response = await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c1", "state": state_b})
    assert response.status_code == 400


async def test_start_refuses_a_forged_or_spent_state(api, oauthbox):
    assert (await api.client.get("/v1/oauth/oauthbox/start", params={"state": "forged"})).status_code == 400
    assert (await api.client.get("/v1/oauth/oauthbox/start")).status_code == 422
    connection_id, state = await start(api)
    await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c1", "state": state})
    assert (await api.client.get("/v1/oauth/oauthbox/start", params={"state": state})).status_code == 400
    async with transaction(api.deps.sessions) as session:
        assert (await session.get(Connection, __import__("uuid").UUID(connection_id))).oauth_nonce is None
