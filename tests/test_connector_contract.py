"""The engine↔connector contract of app/connectors/base.py, exercised through a tiny test connector.

Nothing here knows Xero or QuickBooks: if these hold, any connector that keeps its side of the
contract gets object versions back, one forced refresh on a refused token, and retried calls
formed from the same records with the same keys.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select

from app.connectors import rules
from app.connectors.base import Credentials, PushContext, PushItem, PushResult
from app.connectors.errors import TokenRefused, TransientError
from app.connectors.limits import Bucket, NoLimits, RateLimits
from app.connectors.registry import CONNECTOR_CLASSES, build_connectors, missing_settings
from app.models import Link
from app.settings import Settings
from app.sync.limiter import SharedLimits
from app.sync.runner import sync_connection
from tests.conftest import REDIS_URL


class TinySettings(rules.CommonSettings):
    pass


class TinyConnector:
    """Records every call; its behaviour per call is scripted by the test."""

    name: ClassVar[str] = "tiny"
    title: ClassVar[str] = "Tiny"
    settings_model: ClassVar[type[TinySettings]] = TinySettings
    batch_size: ClassVar[int] = 10
    needs_oauth: ClassVar[bool] = False
    rate_limits: ClassVar[RateLimits | None] = None
    required_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.calls: list[list[PushItem]] = []
        self.script: list[str] = []  # per call: "ok", "transient", "token"
        self.refreshes = 0
        self.versions = 0

    @classmethod
    def from_settings(cls, settings: Any, **_: Any) -> "TinyConnector":
        return cls()

    def syncs(self, entity_type: str, settings: Any) -> bool:
        return rules.syncs(entity_type, settings)

    def skip_reason(self, entity_type: str, payload: dict, settings: Any) -> str | None:
        return None

    async def push(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        self.calls.append(list(items))
        step = self.script.pop(0) if self.script else "ok"
        if step == "transient":
            raise TransientError("the program did not answer", retry_after_s=0.2)
        if step == "token":
            raise TokenRefused("token refused early")
        results = []
        for item in items:
            self.versions += 1
            results.append(PushResult(item.key, action="updated" if item.external_id else "created",
                                      external_id=item.external_id or f"X-{item.pos_id}",
                                      remote_version=f"v{self.versions}"))
        return results

    async def refresh_credentials(self, credentials: Credentials) -> Credentials:
        self.refreshes += 1
        return Credentials(access_token=f"at-{self.refreshes + 1}", refresh_token=f"rt-{self.refreshes + 1}",
                           expires_at=time.time() + 3600)

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def tiny(api):
    connector = TinyConnector()
    api.deps.connectors["tiny"] = connector
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001 - the test runs the sync itself
    created = await api.post("/v1/connections", {"connector": "tiny", "settings": {"entity_types": ["customer"]}})
    assert created.status_code == 201, created.text
    return connector, uuid.UUID(created.json()["id"])


async def _sync_until_settled(api, connection_id, rounds: int = 20) -> None:
    for _ in range(rounds):
        await sync_connection(api.deps, connection_id)
        async with api.deps.sessions() as session:
            pending = await session.scalar(select(func.count()).select_from(Link).where(Link.state == "pending"))
            due = await session.scalar(select(func.min(Link.next_attempt_at)).where(Link.state == "pending"))
        if not pending:
            return
        await asyncio.sleep(max(0.05, due.timestamp() - time.time() + 0.05))
    raise AssertionError("links still pending")


async def test_a_retried_call_is_formed_from_the_same_records_with_the_same_keys(api, tiny):
    connector, connection_id = tiny
    connector.script = ["transient"]
    await api.post("/v1/customers/batch", {"items": [{"id": f"C-{i}", "first_name": f"N{i}"} for i in range(7)]})
    await _sync_until_settled(api, connection_id)
    first, retried = connector.calls[0], connector.calls[1]
    assert len(connector.calls) == 2
    assert [i.idempotency_key for i in first] == [i.idempotency_key for i in retried]
    assert all(i.retries == 0 for i in first) and all(i.retries == 1 for i in retried)


async def test_the_object_version_a_connector_returns_comes_back_with_the_next_push(api, tiny):
    connector, connection_id = tiny
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await _sync_until_settled(api, connection_id)
    assert connector.calls[0][0].remote_version is None
    await api.put("/v1/customers/C-1", {"first_name": "Ana Maria"})
    await _sync_until_settled(api, connection_id)
    (again,) = connector.calls[1]
    assert again.external_id == "X-C-1" and again.remote_version == "v1"
    async with api.deps.sessions() as session:
        assert await session.scalar(select(Link.remote_version)) == "v2"


async def _with_tokens(api, connector, connection_id) -> None:
    from app.models import Connection
    from app.connections.credentials import seal_credentials

    connector.needs_oauth = True  # an instance attribute: the refresh path is taken for this one only
    async with api.deps.sessions() as session, session.begin():
        connection = await session.get(Connection, connection_id)
        connection.credentials_encrypted = seal_credentials(
            api.deps.secrets, Credentials(access_token="at-1", refresh_token="rt-1", expires_at=time.time() + 3600))


async def test_a_refused_token_is_refreshed_once_and_the_batch_pushed_again(api, tiny):
    connector, connection_id = tiny
    await _with_tokens(api, connector, connection_id)
    connector.script = ["token"]
    await api.put("/v1/customers/C-1", {"first_name": "Ana"})
    await _sync_until_settled(api, connection_id)
    assert connector.refreshes == 1
    assert (await api.get("/v1/customers/C-1/sync")).json()["symbol"] == "green"


def test_connectors_are_offered_when_their_own_settings_are_complete():
    bare = Settings(XERO_CLIENT_ID=None, XERO_CLIENT_SECRET=None, QUICKBOOKS_CLIENT_ID=None,
                    QUICKBOOKS_CLIENT_SECRET=None)
    assert missing_settings(CONNECTOR_CLASSES["quickbooks"], bare) == ["QUICKBOOKS_CLIENT_ID", "QUICKBOOKS_CLIENT_SECRET"]
    assert set(build_connectors(bare, sandbox_program=None)) == {"sandbox"}
    both = bare.model_copy(update={"quickbooks_client_id": "id", "quickbooks_client_secret": "secret"})
    assert set(build_connectors(both, sandbox_program=None)) == {"sandbox", "quickbooks"}


def test_an_undeclared_bucket_is_a_connector_bug():
    with pytest.raises(KeyError, match="batch"):
        RateLimits(per_minute=5).spent_by(("batch",))


@pytest.mark.redis
async def test_named_buckets_are_shared_across_limiter_instances_and_spend_the_default_too():
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    key = f"test:{uuid.uuid4().hex}"
    limits = RateLimits(per_minute=10, buckets={"batch": Bucket(per_minute=2)})
    a, b = (SharedLimits(client, REDIS_URL).for_organisation(key, limits) for _ in range(2))
    try:
        for limiter in (a, b):  # two processes' worth, sharing only Redis
            async with limiter.slot("batch"):
                pass
        third = asyncio.create_task(_enter(a, "batch"))
        await asyncio.sleep(0.5)
        assert not third.done()  # the batch bucket's two calls a minute are spent, across both
        async with b.slot():  # a plain call still goes: only the default bucket, 2 of 10 used
            pass
        third.cancel()
        storage = SharedLimits(client, REDIS_URL)
        from app.sync.limiter import minute_window

        stats = await storage._window.get_window_stats(minute_window(10), "possync", key)  # noqa: SLF001
        assert stats.remaining == 7  # 2 batch calls + 1 plain call spent the default bucket
    finally:
        await client.aclose()


async def _enter(limiter, *buckets):
    async with limiter.slot(*buckets):
        return True


async def test_no_limits_takes_bucket_names_too():
    async with NoLimits().slot("batch"):
        pass


def test_a_connectors_own_environment_settings_are_read_with_the_rest(monkeypatch, tmp_path):
    monkeypatch.setenv("QUICKBOOKS_CLIENT_ID", "from-env")
    monkeypatch.setenv("QUICKBOOKS_CLIENT_SECRET", "secret")
    monkeypatch.setenv("QUICKBOOKS_API_URL", "https://sandbox-quickbooks.api.intuit.com")
    settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert settings.quickbooks_api_url == "https://sandbox-quickbooks.api.intuit.com"
    assert "quickbooks" in build_connectors(settings, sandbox_program=None)


@pytest.mark.redis
async def test_a_call_that_failed_keeps_its_in_flight_slot_a_while_the_program_may_still_run_it():
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    key = f"test:{uuid.uuid4().hex}"
    limiter = SharedLimits(client, REDIS_URL).for_organisation(key, RateLimits(concurrent=1, abandoned_call_s=1.0))
    try:
        with pytest.raises(TimeoutError):
            async with limiter.slot():
                raise TimeoutError("we gave up; the program did not")
        waiting = asyncio.create_task(_enter(limiter))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the abandoned call still counts as in flight
        assert await asyncio.wait_for(waiting, 5) is True  # and is let go after abandoned_call_s
    finally:
        await client.aclose()
