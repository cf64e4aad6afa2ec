"""What every connector offers the sync engine.

A connector translates POS records into one program's objects and makes the HTTP calls. It never
touches the database: the engine hands it everything it needs (payloads, external ids of what a
record refers to, decrypted credentials, settings) and writes down what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from contextlib import AbstractAsyncContextManager

from pydantic import BaseModel

from app.connectors.errors import SyncError
from app.sync.limiter import RateLimits

Action = Literal["created", "updated"]


@dataclass(frozen=True)
class PushItem:
    """One record to push through one connection."""

    key: int  # the link id; results are matched back by it
    entity_type: str
    pos_id: str
    payload: dict[str, Any]
    content_hash: str
    external_id: str | None  # known from an earlier push: update that object
    idempotency_key: str  # same for a retry of the same content, different after a change
    # External ids of what the payload refers to, keyed by (entity type, POS id).
    references: dict[tuple[str, str], str] = field(default_factory=dict)
    # Earlier tries of this content that ended without an answer: a create may have reached the
    # program anyway, so a connector whose program forgets idempotency keys looks it up first.
    retries: int = 0


@dataclass(frozen=True)
class PushResult:
    key: int
    action: Action | None = None  # set on success
    external_id: str | None = None
    error: SyncError | None = None  # set on failure
    skipped: str | None = None  # set when the program should not get this record (the reason)

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None


@dataclass
class Credentials:
    """Decrypted OAuth tokens and the remote organisation. The engine persists changes."""

    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: float | None = None  # unix seconds
    tenant_id: str | None = None  # Xero tenant, QuickBooks realm
    extra: dict[str, Any] = field(default_factory=dict)


class CallSlot(Protocol):
    def slot(self) -> AbstractAsyncContextManager[None]:
        """Wait for the program's limits to allow one more call; hold it during the call."""


@dataclass(frozen=True)
class PushContext:
    connection_id: str
    settings: BaseModel
    credentials: Credentials
    limiter: CallSlot  # wrap every HTTP call: `async with ctx.limiter.slot(): ...`


class Connector(Protocol):
    name: ClassVar[str]
    title: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]
    batch_size: ClassVar[int]  # most records per push call
    needs_oauth: ClassVar[bool]
    rate_limits: ClassVar[RateLimits | None]  # per remote organisation, enforced across workers

    def syncs(self, entity_type: str, settings: BaseModel) -> bool:
        """Whether this connection's settings sync that entity type at all."""

    def skip_reason(self, entity_type: str, payload: dict[str, Any], settings: BaseModel) -> str | None:
        """Why this record is not to be pushed (voided sale, unreceived order…), or None."""

    async def push(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        """Push a batch of one entity type; one result per item, in any order.

        Item-level refusals come back as results with `error`; a failure of the whole call
        (network, 5xx, 429, revoked tokens) is raised as a SyncError subclass.
        """

    async def refresh_credentials(self, credentials: Credentials) -> Credentials:
        """Exchange the refresh token; the engine serializes calls and stores the result first."""

    async def aclose(self) -> None:
        """Release pooled HTTP connections."""


@dataclass(frozen=True)
class Organisation:
    """One remote organisation the shop may bind a connection to (Xero tenant, QuickBooks realm)."""

    id: str
    name: str


class OAuthConnector(Connector, Protocol):
    """A connector whose program is reached with OAuth2 (authorization code flow)."""

    # A connector whose program supports PKCE (S256) sets `supports_pkce = True` and accepts a
    # `code_verifier` keyword in both calls below; others are called without it.

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        """Where to send the shop's browser; `state` comes back to the callback unchanged."""

    async def exchange_code(self, *, code: str, redirect_uri: str, callback_params: dict[str, str]) -> Credentials:
        """Trade the callback's code for tokens (tenant_id still unset)."""

    async def organisations(self, credentials: Credentials) -> list[Organisation]:
        """The organisations these tokens may reach."""

    async def revoke(self, credentials: Credentials) -> None:
        """Tell the program to forget these tokens (disconnect)."""
