"""Xero OAuth through Authlib, against the fake identity endpoints."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from app.connectors.base import Credentials
from app.connectors.errors import ConnectionBroken, TransientError
from app.connectors.xero.connector import XeroConnector
from tests.fakes.fake_xero import FakeXero

from .conftest import app_settings


@pytest.fixture
async def oauth_env():
    fake = FakeXero(client_id="client-id", client_secret="client-secret")
    connector = XeroConnector(app_settings(), transport=fake.transport())
    yield fake, connector
    await connector.aclose()


def test_authorization_url_asks_for_granular_scopes():
    connector = XeroConnector(app_settings("https://login.example"))
    url = connector.authorization_url(state="s-123", redirect_uri="https://pos.example/v1/oauth/xero/callback")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://login.example/identity/connect/authorize"
    assert query["response_type"] == "code" and query["client_id"] == "client-id"
    assert query["state"] == "s-123"
    assert query["redirect_uri"] == "https://pos.example/v1/oauth/xero/callback"
    assert set(query["scope"].split()) == {
        "offline_access",
        "accounting.contacts",
        "accounting.settings",
        "accounting.invoices",
        "accounting.payments",
    }


async def test_code_exchange_refresh_rotation_organisations_and_revoke(oauth_env):
    fake, connector = oauth_env
    tenant = fake.add_tenant("Harbour Coffee Ltd")
    creds = await connector.exchange_code(code="abc", redirect_uri="https://pos.example/cb", callback_params={})
    assert creds.access_token and creds.refresh_token and creds.expires_at
    assert creds.tenant_id is None

    orgs = await connector.organisations(creds)
    assert [(o.id, o.name) for o in orgs] == [(tenant, "Harbour Coffee Ltd")]

    creds.tenant_id = tenant
    fresh = await connector.refresh_credentials(creds)
    assert fresh.refresh_token != creds.refresh_token and fresh.access_token != creds.access_token
    assert fresh.tenant_id == tenant
    assert fake.refresh_count == 1

    with pytest.raises(ConnectionBroken):  # the old refresh token was used up by the rotation
        await connector.refresh_credentials(creds)

    await connector.revoke(fresh)
    assert fake.revoked_tokens == [fresh.refresh_token]


async def test_token_endpoint_outage_is_transient(oauth_env):
    fake, connector = oauth_env
    tokens = fake.issue_tokens()
    fake.fail_next(1, status=503, path_prefix="/connect/token")
    with pytest.raises(TransientError):
        await connector.refresh_credentials(Credentials(refresh_token=tokens["refresh_token"]))
    assert tokens["refresh_token"] in fake.live_refresh_tokens  # nothing was rotated


async def test_missing_app_credentials_is_reported():
    settings = app_settings()
    settings.xero_client_id = None
    connector = XeroConnector(settings)
    with pytest.raises(ConnectionBroken) as err:
        connector.authorization_url(state="s", redirect_uri="https://x")
    assert err.value.code == "not_configured"
    await connector.aclose()
