"""The Xero connector's process settings (environment variables): its app credentials and hosts.

app.settings.Settings takes these fields in; the connector is offered once `required` are set.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class XeroEnv(BaseModel):
    xero_client_id: str | None = Field(default=None, alias="XERO_CLIENT_ID")
    xero_client_secret: str | None = Field(default=None, alias="XERO_CLIENT_SECRET")
    xero_webhook_keys: str | None = Field(default=None, alias="XERO_WEBHOOK_KEYS")
    xero_api_url: str = Field(default="https://api.xero.com", alias="XERO_API_URL")
    xero_identity_url: str = Field(default="https://identity.xero.com", alias="XERO_IDENTITY_URL")
    xero_login_url: str = Field(default="https://login.xero.com", alias="XERO_LOGIN_URL")


REQUIRED = ("xero_client_id", "xero_client_secret")
