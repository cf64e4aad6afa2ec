"""Xero's OAuth2 (authorization code flow) through Authlib's httpx client.

Xero rotates the refresh token on every use: the Credentials returned by `refresh` replace the
old ones at once (the engine stores them before anything else), or the connection is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from app.connectors.base import Credentials, Organisation
from app.connectors.errors import ConnectionBroken, TransientError
from app.connectors.oauth_tokens import AsyncOAuth2Client, expires_at, oauth_client, token_call
from app.connectors.xero import errors

if TYPE_CHECKING:  # only for annotations: app.settings reads this connector's env settings
    from app.settings import Settings

# Apps created since 2 March 2026 get granular scopes only: accounting.invoices covers invoices,
# credit notes and purchase orders, accounting.payments the payments; items live under
# accounting.settings and contacts under accounting.contacts. offline_access yields refresh tokens.
SCOPES = (
    "offline_access",
    "accounting.contacts",
    "accounting.settings",
    "accounting.invoices",
    "accounting.payments",
)
RECONNECT = "Reconnect Xero under Integrated Apps (the refresh token expired, was revoked or was already used)."


class XeroOAuth:
    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        self._client_id = settings.xero_client_id
        self._client_secret = settings.xero_client_secret
        self._authorize_url = f"{settings.xero_login_url.rstrip('/')}/identity/connect/authorize"
        self._token_url = f"{settings.xero_identity_url.rstrip('/')}/connect/token"
        self._revoke_url = f"{settings.xero_identity_url.rstrip('/')}/connect/revocation"
        self._connections_url = f"{settings.xero_api_url.rstrip('/')}/connections"
        self._transport = transport
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout_s)

    def _client(self, **kwargs: Any) -> AsyncOAuth2Client:
        if not self._client_id or not self._client_secret:
            raise ConnectionBroken(
                "Xero is not configured on this server (XERO_CLIENT_ID / XERO_CLIENT_SECRET).",
                code="not_configured",
                advice="Ask the operator to set the Xero app credentials.",
            )
        return oauth_client(client_id=self._client_id, client_secret=self._client_secret, scope=" ".join(SCOPES),
                            transport=self._transport, timeout_s=self._timeout_s, **kwargs)

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None = None) -> str:
        # Xero supports PKCE (S256): Authlib derives the challenge from the verifier.
        client = self._client(redirect_uri=redirect_uri, code_challenge_method="S256")
        url, _ = client.create_authorization_url(self._authorize_url, state=state, code_verifier=code_verifier)
        return url

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> Credentials:
        extra = {"code_verifier": code_verifier} if code_verifier else {}
        async with self._client(redirect_uri=redirect_uri) as client:
            token = await _token_call(
                client.fetch_token(self._token_url, code=code, grant_type="authorization_code", **extra)
            )
        return _credentials(token)

    async def refresh(self, credentials: Credentials) -> Credentials:
        if not credentials.refresh_token:
            raise ConnectionBroken("No Xero refresh token is stored.", advice="Reconnect Xero under Integrated Apps.")
        async with self._client() as client:
            token = await _token_call(client.refresh_token(self._token_url, refresh_token=credentials.refresh_token))
        fresh = _credentials(token)
        fresh.tenant_id = credentials.tenant_id
        fresh.extra = {**credentials.extra, **fresh.extra}
        return fresh

    async def organisations(self, credentials: Credentials) -> list[Organisation]:
        try:
            response = await self._http.get(
                self._connections_url,
                headers={"Authorization": f"Bearer {credentials.access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise errors.from_transport(exc) from exc
        problem = errors.from_response(response)
        if problem is not None:
            raise problem
        return [
            Organisation(id=c["tenantId"], name=c.get("tenantName") or c["tenantId"])
            for c in response.json()
            if c.get("tenantType", "ORGANISATION") == "ORGANISATION"
        ]

    async def revoke(self, credentials: Credentials) -> None:
        # Revoking the refresh token ends every connection these tokens opened.
        token = credentials.refresh_token or credentials.access_token
        if not token:
            return
        try:
            response = await self._http.post(
                self._revoke_url,
                data={"token": token},
                auth=(self._client_id or "", self._client_secret or ""),
            )
        except httpx.HTTPError as exc:
            raise errors.from_transport(exc) from exc
        if response.status_code >= 500:
            raise TransientError(f"Xero's revocation endpoint answered {response.status_code}.")

    async def aclose(self) -> None:
        await self._http.aclose()


async def _token_call(call) -> dict[str, Any]:
    return await token_call(call, program="Xero", reconnect_advice=RECONNECT, from_transport=errors.from_transport)


def _credentials(token: dict[str, Any]) -> Credentials:
    return Credentials(
        access_token=token.get("access_token"),
        refresh_token=token.get("refresh_token"),
        expires_at=expires_at(token),
        extra={"scope": token.get("scope", " ".join(SCOPES))},
    )
