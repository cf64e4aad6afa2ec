"""The QuickBooks connector's process settings (environment variables): Intuit app credentials and hosts.

app.settings.Settings takes these fields in; the connector is offered once `REQUIRED` are set.
Every host defaults to production; a sandbox company's API host is
https://sandbox-quickbooks.api.intuit.com (the OAuth hosts are the same for both).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class QuickBooksEnv(BaseModel):
    quickbooks_client_id: str | None = Field(default=None, alias="QUICKBOOKS_CLIENT_ID")
    quickbooks_client_secret: str | None = Field(default=None, alias="QUICKBOOKS_CLIENT_SECRET")
    quickbooks_webhook_tokens: str | None = Field(default=None, alias="QUICKBOOKS_WEBHOOK_TOKENS")
    quickbooks_api_url: str = Field(default="https://quickbooks.api.intuit.com", alias="QUICKBOOKS_API_URL")
    quickbooks_oauth_url: str = Field(
        default="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer", alias="QUICKBOOKS_OAUTH_URL"
    )
    quickbooks_authorize_url: str = Field(
        default="https://appcenter.intuit.com/connect/oauth2", alias="QUICKBOOKS_AUTHORIZE_URL"
    )
    quickbooks_revoke_url: str = Field(
        default="https://developer.api.intuit.com/v2/oauth2/tokens/revoke", alias="QUICKBOOKS_REVOKE_URL"
    )


REQUIRED = ("quickbooks_client_id", "quickbooks_client_secret")
