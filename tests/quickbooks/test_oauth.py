"""Connecting QuickBooks: Authlib's authorization code flow with realmId, rotating refresh tokens, revoke."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from app.connectors.base import Credentials
from app.connectors.errors import ConnectionBroken
from app.connectors.quickbooks import QuickBooksConnector

from .conftest import FAKE_URL, app_settings

TOKEN_URL = f"{FAKE_URL}/oauth2/v1/tokens/bearer"


@pytest.fixture
async def connector():
    conn = QuickBooksConnector(app_settings())
    yield conn
    await conn.aclose()


def test_the_authorize_url_asks_for_the_accounting_scope(connector):
    url = connector.authorization_url(state="s-1", redirect_uri="https://possync.example/v1/oauth/quickbooks/callback")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{FAKE_URL}/connect/oauth2"
    assert query["scope"] == ["com.intuit.quickbooks.accounting"] and query["client_id"] == ["client-id"]
    assert query["response_type"] == ["code"] and query["state"] == ["s-1"]


@respx.mock
async def test_the_code_is_exchanged_and_the_callbacks_realm_becomes_the_organisation(connector):
    token = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={
        "access_token": "at-1", "refresh_token": "rt-1", "token_type": "bearer", "expires_in": 3600,
        "x_refresh_token_expires_in": 8726400}))
    respx.get(f"{FAKE_URL}/v3/company/4620816365/companyinfo/4620816365").mock(
        return_value=httpx.Response(200, json={"CompanyInfo": {"CompanyName": "Corner Shop LLC"}}))
    credentials = await connector.exchange_code(code="c-1", redirect_uri="https://x/cb",
                                                callback_params={"code": "c-1", "realmId": "4620816365"})
    assert credentials.access_token == "at-1" and credentials.refresh_token == "rt-1"
    assert "Basic " in token.calls.last.request.headers["Authorization"]
    (org,) = await connector.organisations(credentials)
    assert (org.id, org.name) == ("4620816365", "Corner Shop LLC")


@respx.mock
async def test_a_refresh_keeps_the_realm_and_takes_the_rotated_refresh_token(connector):
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={
        "access_token": "at-2", "refresh_token": "rt-2", "token_type": "bearer", "expires_in": 3600}))
    fresh = await connector.refresh_credentials(Credentials(access_token="at-1", refresh_token="rt-1",
                                                            tenant_id="4620816365"))
    assert (fresh.access_token, fresh.refresh_token, fresh.tenant_id) == ("at-2", "rt-2", "4620816365")


@respx.mock
async def test_a_dead_refresh_token_means_reconnect(connector):
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(ConnectionBroken, match="invalid_grant") as caught:
        await connector.refresh_credentials(Credentials(access_token="a", refresh_token="old", tenant_id="1"))
    assert "Reconnect QuickBooks" in caught.value.advice


@respx.mock
async def test_disconnecting_revokes_the_refresh_token(connector):
    revoke = respx.post(f"{FAKE_URL}/v2/oauth2/tokens/revoke").mock(return_value=httpx.Response(200))
    await connector.revoke(Credentials(access_token="a", refresh_token="rt-9", tenant_id="1"))
    assert revoke.calls.last.request.content == b'{"token":"rt-9"}'
