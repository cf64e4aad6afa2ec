"""Fixtures for the Xero connector tests: a fake Xero in-process and helpers to build items."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `tests.fakes` is imported as a package from the repo root
    sys.path.insert(0, str(REPO))

from app.connectors.base import Credentials, PushContext, PushItem  # noqa: E402
from app.connectors.xero import XeroConnector, XeroSettings  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.sync.limiter import NoLimits  # noqa: E402
from tests.fakes.fake_xero import FakeXero  # noqa: E402

FAKE_URL = "http://fake-xero"


def app_settings(base_url: str = FAKE_URL) -> Settings:
    return Settings(
        XERO_CLIENT_ID="client-id",
        XERO_CLIENT_SECRET="client-secret",
        XERO_API_URL=base_url,
        XERO_IDENTITY_URL=base_url,
        XERO_LOGIN_URL=base_url,
    )


def push_item(
    entity_type: str,
    payload: dict[str, Any],
    *,
    key: int = 1,
    pos_id: str | None = None,
    external_id: str | None = None,
    references: dict[tuple[str, str], str] | None = None,
    version: str = "v1",
) -> PushItem:
    pos_id = pos_id or payload.get("id") or f"{entity_type}-{key}"
    return PushItem(
        key=key,
        entity_type=entity_type,
        pos_id=pos_id,
        payload=payload,
        content_hash=f"hash-{version}",
        external_id=external_id,
        idempotency_key=f"conn-1:{entity_type}:{pos_id}:{version}",
        references=references or {},
    )


@pytest.fixture
def fake() -> FakeXero:
    return FakeXero()


@pytest.fixture
def tenant(fake: FakeXero) -> str:
    return fake.add_tenant("Demo Company (UK)", demo_chart=True)


@pytest.fixture
def settings() -> XeroSettings:
    return XeroSettings()


def context_for(fake: FakeXero, tenant: str, settings: XeroSettings | None = None, limiter=None) -> PushContext:
    tokens = fake.issue_tokens()
    return PushContext(
        connection_id="conn-1",
        settings=settings or XeroSettings(),
        credentials=Credentials(
            access_token=tokens["access_token"], refresh_token=tokens["refresh_token"], tenant_id=tenant
        ),
        limiter=limiter or NoLimits(),
    )


@pytest.fixture
def ctx(fake: FakeXero, tenant: str, settings: XeroSettings) -> PushContext:
    return context_for(fake, tenant, settings)


@pytest.fixture
async def connector(fake: FakeXero):
    conn = XeroConnector(app_settings(), transport=fake.transport(), timeout_s=2.0)
    yield conn
    await conn.aclose()
