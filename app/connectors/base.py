"""What every connector offers the sync engine.

A connector translates POS records into one program's objects and makes the HTTP calls. It never
touches the database: the engine hands it everything it needs (payloads, external ids of what a
record refers to, decrypted credentials, settings) and writes down what comes back.

The contract, beyond the signatures below:

- **Object version.** A program that wants a version with each update (QuickBooks' SyncToken)
  returns it as `PushResult.remote_version`; the engine keeps it on the link, opaque, and hands it
  back as `PushItem.remote_version` with the next push of that record. Programs without versions
  (Xero) leave it None.
- **Rate buckets.** `rate_limits` declares the organisation's default bucket (every call) and
  named buckets; every HTTP call is wrapped in `async with ctx.limiter.slot(*names)`. The engine
  enforces them per remote organisation across all workers.
- **Refused tokens.** An access token the program refuses early is raised as `TokenRefused`: the
  engine refreshes once (serialized per connection, stored before use) and pushes the batch again.
- **Batch idempotency.** Records that failed together in one call (a whole-call TransientError, or
  the same transient error on several items) come due together and are claimed together, in a
  stable order, so the retried call is formed from the same records with the same
  `idempotency_key`s. A connector derives each call's key (Xero's Idempotency-Key, QuickBooks'
  requestid) from its items' keys only, never from time or randomness, so the retry is the same
  call to the program. A key changes only when the record's content changes.
- **Lost answers.** `PushItem.retries` > 0 means earlier tries ended without an answer, and
  `first_unanswered_at` set means a create of the record did, whatever its content became since (a
  new content starts the retries again, but that create may still have made an object); a program
  that forgets idempotency keys may hold an object from them, so such a create looks it up first,
  unless the program still remembers the lost call: `PushItem.lost_call_key` is the key of the only
  call an earlier try of this content may have created it in, `first_unanswered_at` when that call was
  first sent. A create whose call is formed again whole with that very key (every item of the call
  carrying it), within the program's idempotency memory of that time, is sent without a look-up: the
  program answers it as the first time. A connector reports, for each item whose call went
  unanswered, that call's key (`PushResult.call_key`, or `SyncError.call_key` on a whole-call
  failure), and `PushResult.looked_up` when this push looked the item up and found nothing of it.
  A connector whose program forgets keys also announces every call that may create objects just
  before sending it (`await ctx.announce_call(key, item keys, looked-up keys)`): a job killed
  mid-call leaves that on the links, so the next holder knows which call alone may have reached
  the program, and that a record never announced was never sent. The announce raises when the job
  no longer holds the items (its lease ran out and another job claimed them): the call is not sent.
- **The program's lists.** A connector may offer `program_list(ctx, kind)` (see `Lister`): the
  accounts, tax rates or payment methods the organisation has, so settings are checked against
  them when saved, and `setting_refs` naming which settings refer to which list and what kind of
  entry each allows. Without it, settings are saved unchecked.
- **Reading back.** A connector may offer `fetch_remote(ctx, entity_type, items)` (see `Reader`): the
  objects these records became, as the program holds them now (voided, archived, merged, deleted
  there, its version and time of change), read in batches, so the engine can tell what the
  bookkeeper changed. Without it, webhook events are taken at their word.
- **Values the POS brings over time.** `pos_mappings` names the settings that map POS payment
  types, tax rates and custom-line kinds (field → "payment_type" / "tax_rate" / "custom_line_kind").
  A record carrying a value its mapping lacks is refused with `SettingMissing` naming the field and
  the value; the engine keeps it waiting until the shop saves that mapping.
- **Preview.** A connector may offer `preview(settings, item, referred, tenant_id=…)`: the document
  `push` would send for one record (its mapper's output), with no HTTP; `referred` holds the payloads
  of the records it refers to. It raises the SyncError the mapper would.
- **Configuration.** A connector names the process settings (environment variables) it needs in
  `required_settings`; the registry offers it when they are all set and builds it with
  `from_settings`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel

from app.connectors.errors import SyncError
from app.connectors.limits import CallSlot, RateLimits

# What a push did; the last three undo a record in the program (see Connector.retract).
Action = Literal["created", "updated", "archived", "voided", "deleted"]


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
    # What the program said the object's version was after our last push (opaque; see module doc).
    remote_version: str | None = None
    # The id of this record's earlier object, which the program voided or deleted (bookkeeper): this
    # push creates it again, and the connector makes the new object differ from the old one where the
    # program would otherwise refuse it or replay the old create (a voided invoice keeps its number).
    replaces: str | None = None
    # See "Lost answers" in the module doc: set only when no other earlier try may hold an object.
    lost_call_key: str | None = None
    first_unanswered_at: datetime | None = None


@dataclass(frozen=True)
class PushResult:
    key: int
    action: Action | None = None  # set on success
    external_id: str | None = None
    error: SyncError | None = None  # set on failure
    skipped: str | None = None  # set when the program should not get this record (the reason)
    remote_version: str | None = None  # the object's version after this push, if the program has one
    # app.connectors.digest of the program's answer over the mapped fields: kept on the link, so a
    # later read-back (RemoteObject.digest) tells a real change there from a moved version or clock.
    remote_digest: str | None = None
    request_id: str | None = None  # the program's id of the call that succeeded (support asks for it)
    note: str | None = None  # on success: what the shop should know (a rounding line added…), kept in the attempt
    # On a failure without the program's answer: the key of the create call this item went in.
    call_key: str | None = None
    # This push looked the item up and the program held nothing of it: no earlier try reached it.
    looked_up: bool = False

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


# The engine's side of `PushContext.announce_call`: (call key, item keys, keys looked up and not found).
Announcer = Callable[[str, Sequence[int], Collection[int]], Awaitable[None]]


@dataclass(frozen=True)
class PushContext:
    connection_id: str
    settings: BaseModel
    credentials: Credentials
    limiter: CallSlot  # wrap every HTTP call: `async with ctx.limiter.slot(): ...` (or slot("batch"))
    announcer: Announcer | None = None

    async def announce_call(self, call_key: str, item_keys: Sequence[int], looked_up: Collection[int] = ()) -> None:
        """Say, just before sending it, that these items go in the call with this key (see "Lost
        answers"). Raises when the engine no longer holds them: the call must not be sent."""
        if self.announcer is not None:
            await self.announcer(call_key, item_keys, looked_up)


class Connector(Protocol):
    name: ClassVar[str]
    title: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]
    batch_size: ClassVar[int]  # most records per push call
    needs_oauth: ClassVar[bool]
    rate_limits: ClassVar[RateLimits | None]  # per remote organisation, enforced across workers
    # Names of app.settings.Settings fields that must be set for this connector to be offered.
    required_settings: ClassVar[tuple[str, ...]]

    @classmethod
    def from_settings(cls, settings: Any, **resources: Any) -> "Connector":
        """Build this process's instance (called only when `required_settings` are all set)."""

    def syncs(self, entity_type: str, settings: BaseModel) -> bool:
        """Whether this connection's settings sync that entity type at all."""

    def skip_reason(self, entity_type: str, payload: dict[str, Any], settings: BaseModel) -> str | None:
        """Why this record is not to be pushed (voided sale, unreceived order…), or None."""

    async def push(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        """Push a batch of one entity type; one result per item, in any order.

        Item-level refusals come back as results with `error`; a failure of the whole call
        (network, 5xx, 429, revoked tokens) is raised as a SyncError subclass.
        """

    async def retract(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        """Undo in the program, as far as it allows, what these records put there: each was deleted in
        the POS (DELETE), or is a synced sale that became voided. Every item has its `external_id`.

        One result per item: on success `action` says what the program did ("archived" a contact or
        an item, "voided" a document, "deleted" an order); where the program refuses (a reconciled
        payment, a closed period) a PermanentError whose advice says what to do by hand. The engine
        calls it only for records that reached the program; a connector without this method makes
        each such record fail with advice to undo it by hand.
        """

    async def refresh_credentials(self, credentials: Credentials) -> Credentials:
        """Exchange the refresh token; the engine serializes calls and stores the result first."""

    async def aclose(self) -> None:
        """Release pooled HTTP connections."""


RemoteStatus = Literal["active", "voided", "deleted", "archived", "merged"]


@dataclass(frozen=True)
class RemoteObject:
    """One object as the program holds it now (see Reader)."""

    external_id: str
    status: RemoteStatus  # "deleted": the program no longer has it (or made it inactive, for names)
    remote_version: str | None = None  # QuickBooks' SyncToken; None where the program has no versions
    updated_at: datetime | None = None  # when the program last changed it (Xero's UpdatedDateUTC…)
    merged_into: str | None = None  # status "merged": the object that absorbed it (Xero's MergedToContactID)
    amount_paid: Decimal | None = None  # documents: what the program records as paid against it
    total: Decimal | None = None  # documents: the program's total
    digest: str | None = None  # over the mapped fields, computed as for PushResult.remote_digest


class Reader(Protocol):
    """Optional part of a connector: reading objects back in batches (see the module doc)."""

    async def fetch_remote(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> dict[int, RemoteObject]:
        """The program's object for each item (`external_id` set), keyed by `PushItem.key`.

        Every item gets an answer: an object the program no longer has comes back with status
        "deleted". Reads go in batches as large as the program allows, each through `ctx.limiter`.
        A failure of a read raises a SyncError like a push does.
        """

    async def changed_since(self, ctx: PushContext, since: datetime) -> list[tuple[str, str]]:
        """(object kind, external id) of every object the program changed after `since` (catch-up of
        lost webhooks), in the program's words for kinds ("Invoice", "CONTACT"…)."""


ListKind = Literal["accounts", "tax_rates", "payment_methods", "tracking", "items"]


@dataclass(frozen=True)
class ProgramEntry:
    """One account, tax rate, payment method or item of the organisation, as a settings form needs it."""

    id: str  # what a setting holds: Xero's account code or TaxType, QuickBooks' Id
    name: str
    type: str  # the program's own word (Xero's REVENUE, QuickBooks' "Income"…)
    active: bool
    # The connector's words for what it may be used as ("revenue", "payments", "sales_tax"…),
    # matched against `SettingRef.allows`.
    uses: tuple[str, ...] = ()
    rate: str | None = None  # a tax rate's percentage, where the program says it (to map POS rates by it)
    parent: str | None = None  # the entry it belongs to: a tracking option's category, a sub-class's class


@dataclass(frozen=True)
class SettingRef:
    """A setting that names an entry of one of the program's lists.

    `path` is a settings field, `field.*` each value of a mapping, `field.*.sub` a key of each value.
    """

    path: str
    kind: ListKind
    allows: str  # the use an entry must have (see ProgramEntry.uses)
    meaning: str  # what the shop is told is allowed, e.g. "an active revenue account"
    optional: bool = False  # may be left empty (a key inside a mapping value that has a default of None)


class Lister(Protocol):
    """Optional part of a connector: the organisation's lists (see the module doc)."""

    setting_refs: ClassVar[tuple[SettingRef, ...]]

    async def program_list(self, ctx: PushContext, kind: ListKind) -> list[ProgramEntry] | None:
        """That list, every entry (active or not); None when the program has no such list."""


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
