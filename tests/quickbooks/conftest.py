"""Fixtures for the QuickBooks connector tests: a fake QuickBooks in-process and helpers to build items."""

from __future__ import annotations

from typing import Any

import pytest

from app.connectors.base import Credentials, PushContext, PushItem
from app.connectors.limits import NoLimits
from app.connectors.quickbooks import QuickBooksConnector, QuickBooksSettings
from app.settings import Settings
from tests.fakes.fake_quickbooks import FakeQuickBooks

FAKE_URL = "http://fake-quickbooks"
GLOBAL_TAX = {"VAT 20%": "2", "VAT 5%": "3", "Zero rated": "4", "No VAT": "5"}


def app_settings(base_url: str = FAKE_URL) -> Settings:
    return Settings(
        QUICKBOOKS_CLIENT_ID="client-id",
        QUICKBOOKS_CLIENT_SECRET="client-secret",
        QUICKBOOKS_API_URL=base_url,
        QUICKBOOKS_OAUTH_URL=f"{base_url}/oauth2/v1/tokens/bearer",
        QUICKBOOKS_AUTHORIZE_URL=f"{base_url}/connect/oauth2",
        QUICKBOOKS_REVOKE_URL=f"{base_url}/v2/oauth2/tokens/revoke",
    )


def push_item(entity_type: str, payload: dict[str, Any], *, key: int = 1, pos_id: str | None = None,
              external_id: str | None = None, references: dict[tuple[str, str], str] | None = None,
              version: str = "v1", retries: int = 0, remote_version: str | None = None) -> PushItem:
    pos_id = pos_id or payload.get("id") or f"{entity_type}-{key}"
    return PushItem(key=key, entity_type=entity_type, pos_id=pos_id, payload=payload,
                    content_hash=f"hash-{version}", external_id=external_id,
                    idempotency_key=f"conn-1:{entity_type}:{pos_id}:{version}", references=references or {},
                    retries=retries, remote_version=remote_version)


def context_for(fake: FakeQuickBooks, realm: str, settings: QuickBooksSettings | None = None,
                limiter=None) -> PushContext:
    tokens = fake.issue_tokens()
    return PushContext(
        connection_id="conn-1",
        settings=settings or QuickBooksSettings(),
        credentials=Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                                tenant_id=realm),
        limiter=limiter or NoLimits(),
    )


@pytest.fixture
def fake() -> FakeQuickBooks:
    return FakeQuickBooks()


@pytest.fixture
def realm(fake: FakeQuickBooks) -> str:
    return fake.add_realm("Sandbox Company_US_1", us=True)


@pytest.fixture
def uk_realm(fake: FakeQuickBooks) -> str:
    return fake.add_realm("Sandbox Company_GB", us=False)


@pytest.fixture
def ctx(fake, realm) -> PushContext:
    return context_for(fake, realm)


@pytest.fixture
async def connector(fake: FakeQuickBooks):
    conn = QuickBooksConnector(app_settings(), transport=fake.transport(), timeout_s=2.0)
    yield conn
    await conn.aclose()
