"""Integrated Apps: connecting (sandbox and OAuth), settings, error log, retry, disconnect."""

from __future__ import annotations

import time
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from app.connectors.base import Credentials, Organisation
from app.connectors.errors import PermanentError
from app.connectors.sandbox.connector import SandboxConnector
from app.entities import ENTITY_TYPES


class OAuthSandbox(SandboxConnector):
    """The sandbox behind a fake OAuth sign-in, to drive the generic connection flow."""

    name: ClassVar[str] = "oauthbox"
    title: ClassVar[str] = "OAuth box"
    needs_oauth: ClassVar[bool] = True
    organisations_offered: list[Organisation] = [Organisation("org-1", "Corner Shop Ltd")]
    revoked: list[str] = []

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        return f"https://login.example/authorize?state={state}&redirect_uri={redirect_uri}"

    async def exchange_code(self, *, code, redirect_uri, callback_params):
        if code == "bad":
            raise PermanentError("invalid_grant")
        return Credentials(access_token=f"at-{code}", refresh_token="rt", expires_at=time.time() + 1800)

    async def organisations(self, credentials):
        return list(self.organisations_offered)

    async def revoke(self, credentials):
        self.revoked.append(credentials.refresh_token)


@pytest.fixture
def oauthbox(api):
    connector = OAuthSandbox(api.deps.connectors["sandbox"]._program)  # noqa: SLF001
    connector.revoked = []
    api.deps.connectors["oauthbox"] = connector
    yield connector
    api.deps.connectors.pop("oauthbox")


async def follow_start(api, authorize_url: str) -> str:
    """The shop's browser opens possync's start link: it gets the cookie and goes on to the program."""
    start = urlsplit(authorize_url)
    assert authorize_url.startswith("http://127.0.0.1:8000/v1/oauth/") and start.path.endswith("/start")
    to_program = await api.client.get(start.path, params=parse_qs(start.query))
    assert to_program.status_code == 303, to_program.text
    assert to_program.headers["location"].startswith("https://login.example/")
    cookie = to_program.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=600" in cookie
    return parse_qs(urlsplit(to_program.headers["location"]).query)["state"][0]


async def start(api, return_url="https://pos.example/apps?tab=xero"):
    response = await api.post("/v1/connections", {"connector": "oauthbox", "return_url": return_url})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "authorizing"
    return body["id"], await follow_start(api, body["authorize_url"])


async def test_oauth_connect_binds_the_only_organisation_and_syncs(api, oauthbox):
    await api.put("/v1/customers/C-1001", ENTITY_TYPES["customer"].example)
    connection_id, state = await start(api)
    callback = await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c1", "state": state})
    assert callback.status_code == 303
    target = urlsplit(callback.headers["location"])
    assert target.netloc == "pos.example" and parse_qs(target.query)["status"] == ["active"]
    assert parse_qs(target.query)["tab"] == ["xero"]
    await api.settle()
    connection = (await api.get(f"/v1/connections/{connection_id}")).json()
    assert connection["tenant_id"] == "org-1" and connection["tenant_name"] == "Corner Shop Ltd"
    assert (await api.get("/v1/customers/C-1001/sync")).json()["symbol"] == "green"
    # The state is single-use.
    again = await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c1", "state": state})
    assert again.status_code == 400 and again.json()["status"] == 400


async def test_tokens_are_encrypted_at_rest(api, oauthbox):
    from app.models import Connection

    connection_id, state = await start(api)
    await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "secret-code-42", "state": state})
    async with api.deps.sessions() as session:
        stored = await session.get(Connection, __import__("uuid").UUID(connection_id))
    assert stored.credentials_encrypted and "at-secret-code-42" not in stored.credentials_encrypted
    assert api.deps.secrets.open(stored.credentials_encrypted)["access_token"] == "at-secret-code-42"


async def test_several_organisations_wait_for_a_choice(api, oauthbox):
    oauthbox.organisations_offered = [Organisation("org-1", "North"), Organisation("org-2", "South")]
    connection_id, state = await start(api, return_url=None)
    callback = await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c1", "state": state})
    assert callback.status_code == 200 and callback.json()["status"] == "choose_organisation"
    assert [o["id"] for o in callback.json()["organisations"]] == ["org-1", "org-2"]
    wrong = await api.request("PATCH", f"/v1/connections/{connection_id}", json={"tenant_id": "org-9"})
    assert wrong.status_code == 422
    chosen = await api.request("PATCH", f"/v1/connections/{connection_id}", json={"tenant_id": "org-2"})
    assert chosen.status_code == 200 and chosen.json()["status"] == "active"
    assert chosen.json()["tenant_name"] == "South"


async def test_forged_expired_or_foreign_state_is_refused(api, oauthbox, monkeypatch):
    connection_id, state = await start(api)
    assert (await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c", "state": "forged"})).status_code == 400
    assert (await api.client.get("/v1/oauth/sandbox/callback", params={"code": "c", "state": state})).status_code == 404
    monkeypatch.setattr("app.connections.oauth.STATE_TTL_S", -1)
    assert (await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c", "state": state})).status_code == 400


async def test_refused_consent_or_code_is_reported_back(api, oauthbox):
    connection_id, state = await start(api)
    denied = await api.client.get("/v1/oauth/oauthbox/callback", params={"error": "access_denied", "state": state})
    assert denied.status_code == 303 and "error=access_denied" in denied.headers["location"]
    connection = (await api.get(f"/v1/connections/{connection_id}")).json()
    assert connection["status"] == "authorizing" and "access_denied" in connection["status_reason"]
    again = (await api.post(f"/v1/connections/{connection_id}/authorize")).json()
    state = await follow_start(api, again["authorize_url"])
    bad = await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "bad", "state": state})
    assert "error=exchange_failed" in bad.headers["location"]


async def test_disconnect_revokes_and_hides_the_connection(api, oauthbox):
    connection_id, state = await start(api)
    await api.client.get("/v1/oauth/oauthbox/callback", params={"code": "c1", "state": state})
    assert (await api.request("DELETE", f"/v1/connections/{connection_id}")).status_code == 204
    assert oauthbox.revoked == ["rt"]
    assert (await api.get(f"/v1/connections/{connection_id}")).status_code == 404
    assert (await api.get("/v1/connections")).json()["items"] == []


async def test_unknown_connector_is_a_clear_422(api):
    response = await api.post("/v1/connections", {"connector": "sage"})
    assert response.status_code == 422 and "sandbox" in response.json()["detail"]


async def test_settings_validate_and_changes_retry_and_skip(api):
    connection_id = await api.connect_sandbox()
    await api.put("/v1/customers/C-BAD", {"first_name": "X", "email": "x@invalid.example"})
    await api.put("/v1/products/P-1", {"sku": "A", "name": "A"})
    await api.settle()
    invalid = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"sales_mode": "weekly"})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["path"].endswith("sales_mode")
    misspelt = await api.request("PATCH", f"/v1/connections/{connection_id}/settings", json={"sales_mod": "x"})
    assert misspelt.status_code == 422 and misspelt.json()["errors"][0]["path"].endswith("sales_mod")

    changed = await api.request("PATCH", f"/v1/connections/{connection_id}/settings",
                                json={"entity_types": ["customer", "sale"]})
    assert changed.status_code == 200 and changed.json()["entity_types"] == ["customer", "sale"]
    await api.settle()
    product = (await api.get("/v1/products/P-1/sync")).json()["connections"][0]
    assert product["state"] == "skipped" and "turned off" in product["advice"] and product["external_id"]
    # The failed customer was tried again after the change (and failed again: its data is wrong).
    logs = (await api.get("/v1/customers/C-BAD/sync/logs")).json()["items"]
    assert [a["outcome"] for a in logs] == ["failed", "failed"]
    got = (await api.get(f"/v1/connections/{connection_id}/settings")).json()
    assert got["sales_mode"] == "individual"


async def test_retry_failed_requeues_only_failed_links(api):
    connection_id = await api.connect_sandbox()
    await api.put("/v1/customers/C-BAD", {"first_name": "X", "email": "x@invalid.example"})
    await api.put("/v1/customers/C-OK", {"first_name": "Y"})
    await api.settle()
    response = await api.post(f"/v1/connections/{connection_id}/retry-failed", {"entity_type": "customer"})
    assert response.status_code == 202 and response.json() == {"queued": 1}
    await api.settle()
    runs = (await api.get(f"/v1/connections/{connection_id}/runs")).json()["items"]
    assert runs[0]["failed"] == 1 and runs[0]["created"] == 0


async def test_connections_of_another_store_are_not_found(api, deps):
    from tests.conftest import new_store_key

    connection_id = await api.connect_sandbox()
    await api.put("/v1/customers/C-1", {"first_name": "A"})
    await api.settle()
    other = {"Authorization": f"Bearer {await new_store_key(deps, 'Other')}"}
    for path in (f"/v1/connections/{connection_id}", f"/v1/connections/{connection_id}/runs",
                 f"/v1/connections/{connection_id}/errors", f"/v1/connections/{connection_id}/settings"):
        assert (await api.client.get(path, headers=other)).status_code == 404, path
    (run,) = (await api.get(f"/v1/connections/{connection_id}/runs")).json()["items"]
    assert (await api.client.get(f"/v1/runs/{run['id']}", headers=other)).status_code == 404
    assert (await api.get(f"/v1/runs/{run['id']}")).status_code == 200


def test_no_route_is_handed_the_engine_bundle():
    """Every route names the pieces it needs (app.api.deps); none is given the whole engine (SyncDeps),
    through any dependency of any depth."""
    from typing import get_type_hints

    from fastapi.routing import APIRoute

    from app.main import create_app
    from app.sync.deps import SyncDeps
    from tests.conftest import make_settings

    def calls(dependant):
        for sub in dependant.dependencies:
            yield sub.call
            yield from calls(sub)

    def api_routes(routes):
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif getattr(route, "original_router", None) is not None:  # an included router
                yield from api_routes(route.original_router.routes)

    app = create_app(make_settings("sqlite+aiosqlite://"))
    routes = list(api_routes(app.routes))
    given = {(r.path, getattr(call, "__name__", call)) for r in routes for call in calls(r.dependant)
             if get_type_hints(call).get("return") is SyncDeps}
    assert len(routes) > 40 and given == set()
