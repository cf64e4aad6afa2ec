"""Connecting QuickBooks through the API, jobs in-process: offered once its two settings are set."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from app.main import create_app
from app.sync.deps import build_deps
from tests.conftest import make_settings, new_store_key, wipe


async def _post_connection(settings, body, *, follow_start: bool = False):
    """The answer to POST /v1/connections; with follow_start, then where possync's start route
    sends the browser (the program's own authorize URL)."""
    deps = build_deps(settings)
    await wipe(deps)
    app = create_app(settings, deps)
    try:
        async with app.router.lifespan_context(app):
            key = await new_store_key(deps)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://possync.test") as c:
                created = await c.post("/v1/connections", json=body, headers={"Authorization": f"Bearer {key}"})
                if not follow_start:
                    return created
                start = urlsplit(created.json()["authorize_url"])
                return created, await c.get(start.path, params=parse_qs(start.query))
    finally:
        await deps.aclose()


async def test_quickbooks_is_refused_with_the_offer_when_its_settings_are_missing(migrated):
    response = await _post_connection(make_settings(migrated), {"connector": "quickbooks"})
    assert response.status_code == 422 and "quickbooks" not in response.json()["detail"].split("offers:")[1]


async def test_quickbooks_answers_with_an_authorize_url_when_its_settings_are_set(migrated):
    settings = make_settings(migrated, QUICKBOOKS_CLIENT_ID="ABcd123", QUICKBOOKS_CLIENT_SECRET="shh",
                             POSSYNC_PUBLIC_URL="https://possync.example")
    response, to_intuit = await _post_connection(
        settings, {"connector": "quickbooks", "return_url": "https://pos.example/apps"}, follow_start=True)
    assert response.status_code == 201, response.text
    body = response.json()
    assert urlsplit(body["authorize_url"]).path == "/v1/oauth/quickbooks/start"  # possync's start route first
    assert to_intuit.status_code == 303
    url = urlsplit(to_intuit.headers["location"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://appcenter.intuit.com/connect/oauth2"  # production
    assert query["client_id"] == ["ABcd123"] and query["scope"] == ["com.intuit.quickbooks.accounting"]
    assert query["redirect_uri"] == ["https://possync.example/v1/oauth/quickbooks/callback"]
    assert body["connector"] == "quickbooks" and body["status"] == "authorizing"
