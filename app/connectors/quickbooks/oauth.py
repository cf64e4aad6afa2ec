"""Intuit's OAuth2 (authorization code flow) through Authlib's httpx client.

The callback carries `realmId`: the company the shop chose on Intuit's consent screen, so there
is no organisation to pick afterwards. Access tokens last an hour; the refresh token rolls (100
days from its last use, five years at most) and may come back changed from any refresh, so the
Credentials returned by `refresh` replace the old ones at once (the engine stores them first).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from app.connectors.base import Credentials
from app.connectors.errors import ConnectionBroken, TransientError
from app.connectors.oauth_tokens import AsyncOAuth2Client, expires_at, oauth_client, token_call
from app.connectors.quickbooks import errors

SCOPE = "com.intuit.quickbooks.accounting"
RECONNECT = ("Reconnect QuickBooks under Integrated Apps (the refresh token expired after 100 days unused, was "
             "revoked, or the app was disconnected in QuickBooks).")


class QuickBooksOAuth:
    def __init__(self, settings: Any, *, transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 20.0) -> None:
        self._client_id = settings.quickbooks_client_id
        self._client_secret = settings.quickbooks_client_secret
        self._authorize_url = settings.quickbooks_authorize_url
        self._token_url = settings.quickbooks_oauth_url
        self._revoke_url = settings.quickbooks_revoke_url
        self._transport = transport
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout_s)

    def _client(self, **kwargs: Any) -> AsyncOAuth2Client:
        if not self._client_id or not self._client_secret:
            raise ConnectionBroken(
                "QuickBooks is not configured on this server (QUICKBOOKS_CLIENT_ID / QUICKBOOKS_CLIENT_SECRET).",
                code="not_configured", advice="Ask the operator to set the QuickBooks app credentials.",
            )
        return oauth_client(client_id=self._client_id, client_secret=self._client_secret, scope=SCOPE,
                            transport=self._transport, timeout_s=self._timeout_s, **kwargs)

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        url, _ = self._client(redirect_uri=redirect_uri).create_authorization_url(self._authorize_url, state=state)
        return url

    async def exchange_code(self, *, code: str, redirect_uri: str, realm_id: str | None) -> Credentials:
        async with self._client(redirect_uri=redirect_uri) as client:
            token = await _token_call(client.fetch_token(self._token_url, code=code, grant_type="authorization_code"))
        credentials = _credentials(token)
        credentials.extra["realm_id"] = realm_id
        return credentials

    async def refresh(self, credentials: Credentials) -> Credentials:
        if not credentials.refresh_token:
            raise ConnectionBroken("No QuickBooks refresh token is stored.",
                                   advice="Reconnect QuickBooks under Integrated Apps.")
        async with self._client() as client:
            token = await _token_call(client.refresh_token(self._token_url, refresh_token=credentials.refresh_token))
        fresh = _credentials(token)
        fresh.refresh_token = fresh.refresh_token or credentials.refresh_token  # not rotated this time
        fresh.tenant_id = credentials.tenant_id
        fresh.extra = {**credentials.extra, **fresh.extra}
        return fresh

    async def revoke(self, credentials: Credentials) -> None:
        # Revoking the refresh token ends the app's access to the company.
        token = credentials.refresh_token or credentials.access_token
        if not token:
            return
        try:
            response = await self._http.post(
                self._revoke_url, json={"token": token}, headers={"Accept": "application/json"},
                auth=(self._client_id or "", self._client_secret or ""),
            )
        except httpx.HTTPError as exc:
            raise errors.from_transport(exc) from exc
        if response.status_code >= 500:
            raise TransientError(f"Intuit's revocation endpoint answered {response.status_code}.")

    async def aclose(self) -> None:
        await self._http.aclose()


async def _token_call(call) -> dict[str, Any]:
    return await token_call(call, program="Intuit", reconnect_advice=RECONNECT, from_transport=errors.from_transport)


def _credentials(token: dict[str, Any]) -> Credentials:
    extra: dict[str, Any] = {"scope": token.get("scope", SCOPE)}
    if token.get("x_refresh_token_expires_in"):
        extra["refresh_expires_at"] = time.time() + float(token["x_refresh_token_expires_in"])
    return Credentials(
        access_token=token.get("access_token"),
        refresh_token=token.get("refresh_token"),
        expires_at=expires_at(token),
        extra=extra,
    )
