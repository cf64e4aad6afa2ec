"""The QuickBooks Online connector: mapping.py translates, adapter.py carries, this module sequences.

One push = (when the tax kind is not known yet) one Preferences read, (for retried creates, but
those in a batch Intuit still remembers) one look-up per entity, the objects in batch calls of ≤ 30 operations, and at most one more round for
objects that need it: stale SyncTokens re-read and sent again once, duplicate names sent again
with the POS id when the settings ask for that. Whole-call failures raise only while nothing has
reached QuickBooks in this push; after that they are reported per item.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from app.connectors import rules
from app.connectors.base import (
    Credentials, Organisation, ProgramEntry, PushContext, PushItem, PushResult, RemoteObject, SettingRef,
)
from app.connectors.errors import PermanentError, SyncError, TransientError
from app.connectors.limits import Bucket, RateLimits
from app.connectors.memo import CompanyMemo, LocalMemo
from app.connectors.quickbooks import env, errors, lists, mapping, payments, read_back, retract
from app.connectors.quickbooks.adapter import MAX_BATCH, QuickBooksApi, batch_request_id, quoted
from app.connectors.quickbooks.oauth import QuickBooksOAuth
from app.connectors.quickbooks.settings import QuickBooksSettings, coerce

# A company's kind of sales tax and its tax rates change rarely (a bookkeeper's set-up), and a
# worker used to keep them for its whole life; shared, they are read again after this long.
COMPANY_FACTS_TTL_S = 3600.0
# How long Intuit is taken to remember a requestid and answer the same request from memory. Intuit
# documents the replay but not for how long; the fake keeps an hour. Five minutes, as for Xero's
# Idempotency-Key, covers the retries that follow a lost answer within seconds.
REQUESTID_MEMORY = timedelta(minutes=5)


@dataclass
class _Push:
    ctx: PushContext
    settings: QuickBooksSettings
    results: dict[int, PushResult] = field(default_factory=dict)
    reached: bool = False  # a call has succeeded: from now on failures are reported per item
    looked_up: set[int] = field(default_factory=set)  # items this push looked up and found nothing of
    invoices: list[tuple[PushItem, mapping.Document, dict[str, Any]]] = field(default_factory=list)  # with payments due


@dataclass(frozen=True)
class _Op:
    item: PushItem
    doc: mapping.Document
    external_id: str | None = None
    sync_token: str | None = None

    def operation(self) -> dict[str, Any]:
        if self.external_id is None:
            return {"bId": str(self.item.key), "operation": "create", self.doc.entity: self.doc.body}
        body = {**self.doc.body, "Id": self.external_id, "SyncToken": self.sync_token or "0", "sparse": True}
        return {"bId": str(self.item.key), "operation": "update", self.doc.entity: body}


class QuickBooksConnector:
    name: ClassVar[str] = "quickbooks"
    title: ClassVar[str] = "QuickBooks Online"
    settings_model: ClassVar[type[QuickBooksSettings]] = QuickBooksSettings
    batch_size: ClassVar[int] = MAX_BATCH
    needs_oauth: ClassVar[bool] = True
    # Per company: 500 requests a minute and 10 in flight, and 40 batch calls a minute.
    rate_limits: ClassVar[RateLimits | None] = RateLimits(
        per_minute=500, concurrent=10, buckets={"batch": Bucket(per_minute=40)}
    )
    required_settings: ClassVar[tuple[str, ...]] = env.REQUIRED
    setting_refs: ClassVar[tuple[SettingRef, ...]] = lists.SETTING_REFS
    pos_mappings: ClassVar[dict[str, str]] = lists.POS_MAPPINGS
    default_pick = staticmethod(lists.default_pick)
    settings_from_seen = staticmethod(lists.settings_from_seen)

    def __init__(self, settings: Any, *, transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 30.0, memo: CompanyMemo | None = None) -> None:
        """`transport` lets tests route every call to a fake QuickBooks in-process; `memo` keeps what
        is learned about a company (its kind of sales tax, tax rates) for every worker."""
        self._api = QuickBooksApi(settings.quickbooks_api_url, timeout_s=timeout_s, transport=transport)
        self._oauth = QuickBooksOAuth(settings, transport=transport)
        self._memo = memo or LocalMemo()
        self._us_tax: dict[str, bool] = {}  # realm → automated (US) sales tax, as this process last learned it

    @classmethod
    def from_settings(cls, settings: Any, *, memo: CompanyMemo | None = None, **_: Any) -> "QuickBooksConnector":
        return cls(settings, timeout_s=settings.http_timeout_s, memo=memo)

    # --- Connector protocol -------------------------------------------------------------------

    def syncs(self, entity_type: str, settings: Any) -> bool:
        return rules.syncs(entity_type, coerce(settings))

    def skip_reason(self, entity_type: str, payload: dict[str, Any], settings: Any) -> str | None:
        return rules.common_skip_reason(entity_type, payload, coerce(settings))

    async def push(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        state = _Push(ctx, coerce(ctx.settings))
        us_tax = await self._is_us(ctx) if entity_type not in ("customer", "supplier") else True
        ops: list[_Op] = []
        today = date.today()
        rates = (await self._tax_rates(ctx, state.settings)
                 if entity_type in ("sale", "shift_report") and not us_tax else None)
        for item in items:
            try:
                doc = mapping.build(item, state.settings, us_tax=us_tax, today=today, tax_rates=rates)
            except SyncError as exc:
                state.results[item.key] = PushResult(item.key, error=exc)
                continue
            if item.replaces and doc.marker_field in doc.body:
                # Created again after the bookkeeper deleted or voided the first one: a body of its
                # own, so Intuit does not answer it with the first create's remembered requestid.
                doc = replace(doc, body={**doc.body, doc.marker_field: f"{doc.body[doc.marker_field]}\n"
                                         f"Sent again: {doc.entity} {item.replaces} was removed in QuickBooks."})
            ops.append(_Op(item, doc, item.external_id, item.remote_version))
        batches = _batches(ops)
        ops = await self._adopt_earlier_creates(state, ops, _remembered(ctx, batches))
        ops = await self._with_sync_tokens(state, ops)
        retry = await self._send(state, _regrouped(batches, ops))
        if retry:
            await self._send(state, _batches(retry), last=True)
        if state.invoices:
            await self._receive_payments(state)
        return [state.results[item.key] for item in items]

    async def retract(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        return await retract.retract(self._api, ctx, entity_type, items)

    def preview(self, settings: Any, item: PushItem, referred: dict[tuple[str, str], dict[str, Any]], *,
                tenant_id: str | None = None) -> dict[str, Any]:
        """The object `push` would send for this record; no HTTP. Whether the company uses US automated
        sales tax is known after a first push; before that, a connection without tax codes counts as US.
        Raises SyncError."""
        typed = coerce(settings)
        us_tax = self._us_tax.get(tenant_id or "", not typed.tax_codes)
        doc = mapping.build(item, typed, us_tax=us_tax, today=date.today())
        return {"endpoint": doc.entity, "body": doc.body}
    async def fetch_remote(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> dict[int, RemoteObject]:
        return await read_back.fetch_remote(self._api, ctx, entity_type, items)

    async def changed_since(self, ctx: PushContext, since: datetime) -> list[tuple[str, str]]:
        return await read_back.changed_since(self._api, ctx, since)

    async def program_list(self, ctx: PushContext, kind: str) -> list[ProgramEntry] | None:
        if kind == "tracking":
            found = [{**o, "_entity": entity} for entity in lists.TRACKING
                     for o in await self._api.query_all(ctx, entity, "Active in (true, false)")]
            return [e for o in found if (e := lists.entry(kind, o))]
        entity = lists.ENTITY.get(kind)
        if entity is None:
            return None
        found = await self._api.query_all(ctx, entity, "Active in (true, false)")  # inactive ones too
        rates: dict[str, Decimal] = {}
        if kind == "tax_rates" and found:  # a code's percent is in the TaxRates it refers to
            rates = lists.sales_rates(found, await self._api.query(ctx, "TaxRate", "Active in (true, false)"))
        return [e for o in found if (e := lists.entry(kind, o, rate=rates.get(str(o.get("Id")))))]

    async def refresh_credentials(self, credentials: Credentials) -> Credentials:
        return await self._oauth.refresh(credentials)

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._oauth.aclose()

    # --- OAuthConnector protocol --------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        return self._oauth.authorization_url(state=state, redirect_uri=redirect_uri)

    async def exchange_code(self, *, code: str, redirect_uri: str, callback_params: dict[str, str]) -> Credentials:
        realm = callback_params.get("realmId")
        if not realm:
            raise PermanentError("Intuit's callback named no company (realmId).")
        return await self._oauth.exchange_code(code=code, redirect_uri=redirect_uri, realm_id=realm)

    async def organisations(self, credentials: Credentials) -> list[Organisation]:
        # The company was chosen on Intuit's consent screen and came back as realmId.
        realm = credentials.extra.get("realm_id")
        if not realm:
            return []
        name = await self._api.company_name(credentials.access_token or "", realm)
        return [Organisation(id=realm, name=name or f"QuickBooks company {realm}")]

    async def revoke(self, credentials: Credentials) -> None:
        await self._oauth.revoke(credentials)

    # --- steps --------------------------------------------------------------------------------

    async def _is_us(self, ctx: PushContext) -> bool:
        key = _memo_key(ctx, "us-sales-tax")
        us_tax = await self._memo.get(key)
        if us_tax is None:
            prefs = await self._api.preferences(ctx)
            tax = prefs.get("TaxPrefs") or {}
            # Automated sales tax (PartnerTaxEnabled) is QuickBooks' US sales tax; elsewhere tax codes.
            us_tax = bool(tax.get("PartnerTaxEnabled"))
            await self._memo.put(key, us_tax, COMPANY_FACTS_TTL_S)
        self._us_tax[ctx.credentials.tenant_id or ""] = us_tax  # for preview, which asks no one
        return us_tax

    async def _tax_rates(self, ctx: PushContext, settings: QuickBooksSettings) -> dict[str, Decimal] | None:
        """TaxCode Id → its sales rate in percent, for the codes the settings map (read once per company):
        what a sale with prices before tax needs to work out QuickBooks' total. None when unreadable."""
        wanted = sorted(set(settings.tax_codes.values()))
        key = _memo_key(ctx, "tax-rates")
        known = {code: Decimal(rate) for code, rate in (await self._memo.get(key) or {}).items()}
        if not wanted or all(code in known for code in wanted):
            return known
        try:
            codes = await self._api.query(ctx, "TaxCode", f"Id in ({', '.join(quoted(c) for c in wanted)})")
            every = sorted({str(d["TaxRateRef"]["value"]) for code in codes
                            for d in ((code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or [])})
            rates = await self._api.query(ctx, "TaxRate", f"Id in ({', '.join(quoted(r) for r in every)})") if every else []
        except SyncError:
            return None  # the sales go without a rounding line for prices before tax rather than not at all
        known = lists.sales_rates(codes, rates)
        await self._memo.put(key, {code: str(rate) for code, rate in known.items()}, COMPANY_FACTS_TTL_S)
        return known

    async def _adopt_earlier_creates(self, state: _Push, ops: list[_Op], remembered: set[int]) -> list[_Op]:
        """Find objects an earlier, unanswered try created, so they are not created twice.

        Intuit remembers a requestid for a limited time; a retry later than that would create the
        object again (or be refused for its name or number). A retried create therefore looks its
        name or number up first, and adopts an object whose mark shows it is this record's; but not
        one going out in the very batch Intuit still remembers (`remembered`: its items' keys),
        which Intuit answers as the first time.
        """
        wanted: dict[tuple[str, str], dict[str, _Op]] = {}
        renaming = state.settings.duplicate_names == "add_pos_id"
        for op in ops:
            if (op.item.retries or op.item.first_unanswered_at) and op.external_id is None \
                    and op.item.key not in remembered:
                by_value = wanted.setdefault((op.doc.entity, op.doc.lookup_field), {})
                by_value[op.doc.lookup_value] = op
                if renaming and op.doc.entity in mapping.NAMED:  # the lost try may have been the renamed one
                    renamed = replace(op, doc=op.doc.renamed(op.item.pos_id))
                    by_value[renamed.doc.lookup_value] = renamed
        adopted: dict[int, _Op] = {}
        for (entity, lookup_field), by_value in wanted.items():
            where = f"{lookup_field} in ({', '.join(quoted(v) for v in sorted(by_value))})"
            try:
                found = await self._api.query(state.ctx, entity, where)
            except SyncError:
                if not state.reached:
                    raise
                continue  # the creates go ahead; a clash comes back as advice
            state.reached = True
            for obj in found:
                op = by_value.get(str(obj.get(lookup_field)))
                if op is not None and op.doc.owns(obj):
                    adopted[op.item.key] = replace(op, external_id=obj["Id"], sync_token=obj.get("SyncToken"))
            state.looked_up |= {op.item.key for op in by_value.values() if op.item.key not in adopted}
        # An adopted object is updated to this content (the lost try may have held older content).
        return [adopted.get(op.item.key, op) for op in ops]

    async def _with_sync_tokens(self, state: _Push, ops: list[_Op]) -> list[_Op]:
        """Updates need the object's current SyncToken; read those the engine does not know yet."""
        missing = {op.item.key for op in ops if op.external_id and op.sync_token is None}
        if not missing:
            return ops
        try:
            fresh = await self._current_tokens(state, [op for op in ops if op.item.key in missing])
        except SyncError as exc:
            if not state.reached:
                raise
            for op in ops:
                if op.item.key in missing:
                    state.results[op.item.key] = self._failed(op, exc)
            return [op for op in ops if op.item.key not in missing]
        # An object QuickBooks no longer has is sent with token "0" and comes back as fault 610, with advice.
        return [replace(op, sync_token=fresh.get(op.external_id)) if op.item.key in missing else op for op in ops]

    async def _current_tokens(self, state: _Push, ops: list[_Op]) -> dict[str, str]:
        """Object Id → its current SyncToken, one query per entity; a failed query raises."""
        tokens: dict[str, str] = {}
        by_entity: dict[str, list[str]] = {}
        for op in ops:
            by_entity.setdefault(op.doc.entity, []).append(op.external_id)
        for entity, ids in by_entity.items():
            found = await self._api.query(state.ctx, entity, f"Id in ({', '.join(quoted(i) for i in ids)})")
            state.reached = True
            tokens.update({str(o["Id"]): str(o.get("SyncToken")) for o in found if o.get("Id")})
        return tokens

    async def _send(self, state: _Push, batches: list[list[_Op]], *, last: bool = False) -> list[_Op]:
        """Send these batches; return what deserves one more round (stale token, renamed on a clash)."""
        again: list[_Op] = []
        stale: list[_Op] = []
        for chunk in batches:
            operations = [op.operation() for op in chunk]
            await state.ctx.announce_call(batch_request_id(state.ctx.credentials.tenant_id or "", operations),
                                          [op.item.key for op in chunk], state.looked_up)
            try:
                answer = await self._api.batch(state.ctx, operations)
            except SyncError as exc:
                unanswered = exc.call_key if isinstance(exc, TransientError) else None
                if not state.reached and not isinstance(exc, PermanentError):
                    raise
                for op in chunk:
                    state.results[op.item.key] = replace(self._failed(op, exc), call_key=unanswered,
                                                         looked_up=op.item.key in state.looked_up)
                continue
            state.reached = True
            by_bid = {str(entry.get("bId")): entry for entry in answer.items}
            for op in chunk:
                entry = by_bid.get(str(op.item.key))
                outcome = self._outcome(state, op, entry, answer.intuit_tid, last=last)
                if outcome == "stale":
                    stale.append(op)
                elif outcome == "rename":
                    again.append(replace(op, doc=op.doc.renamed(op.item.pos_id)))
        if stale:
            try:
                tokens = await self._current_tokens(state, stale)
            except SyncError as exc:
                for op in stale:
                    state.results[op.item.key] = self._failed(op, exc)
                return again
            for op in stale:
                if op.external_id in tokens:
                    again.append(replace(op, sync_token=tokens[op.external_id]))
                else:
                    state.results[op.item.key] = self._failed(op, errors.advice_error(
                        "object_not_found", f"QuickBooks no longer has {op.doc.entity} {op.external_id}.",
                        f"The {op.doc.entity} was deleted in QuickBooks. Make it active again there, then SYNC NOW.",
                    ))
        return again

    def _outcome(self, state: _Push, op: _Op, entry: dict[str, Any] | None, tid: str | None, *, last: bool) -> str | None:
        if entry is None:
            state.results[op.item.key] = self._failed(
                op, TransientError("QuickBooks' batch answer did not mention this record.", code="unmatched",
                                   request_id=tid))
            return None
        faults = errors.faults_in(entry)
        if faults:
            error = errors.classify(faults)
            error.request_id = tid
            if isinstance(error, errors.StaleObject) and not last:
                return "stale"
            if isinstance(error, errors.StaleObject):
                # Edited again between our re-read and the retry: next run reads it once more.
                error = TransientError(error.message, code="stale_object", request_id=tid)
            # Creates and updates alike: a record sent once as "Name (POS id)" keeps clashing on its name.
            if (error.code == "duplicate_name" and not last
                    and state.settings.duplicate_names == "add_pos_id" and op.doc.entity in mapping.NAMED):
                return "rename"
            state.results[op.item.key] = self._failed(op, error)
            return None
        obj = entry.get(op.doc.entity)
        if not isinstance(obj, dict) or not obj.get("Id"):
            state.results[op.item.key] = self._failed(
                op, TransientError(f"QuickBooks answered without the {op.doc.entity}.", request_id=tid))
            return None
        state.results[op.item.key] = PushResult(
            op.item.key,
            action="created" if op.item.external_id is None else "updated",
            external_id=str(obj["Id"]),
            remote_version=str(obj.get("SyncToken")) if obj.get("SyncToken") is not None else None,
            # QuickBooks' answer is the object as it holds it after this push (see read_back.digest_of).
            remote_digest=read_back.digest_of(op.doc.entity, obj),
            request_id=tid,
            note=op.doc.note,
        )
        if op.doc.payments:
            state.invoices.append((op.item, op.doc, obj))
        return None

    async def _receive_payments(self, state: _Push) -> None:
        """An Invoice QuickBooks accepted gets its Payments; a record whose Payments failed is failed
        (keeping the Invoice's Id, so the next try updates it and sends only the missing Payments)."""
        failed = await payments.receive(self._api, state.ctx, state.invoices)
        for key, error in failed.items():
            done = state.results[key]
            state.results[key] = PushResult(key, error=error, external_id=done.external_id,
                                            remote_version=done.remote_version, request_id=error.request_id)

    @staticmethod
    def _failed(op: _Op, error: SyncError) -> PushResult:
        # An adopted object's id is kept even when its update fails, so it is never created twice.
        return PushResult(op.item.key, error=error,
                          external_id=op.external_id if op.item.external_id is None else None,
                          remote_version=op.sync_token if op.external_id else None)


def _batches(ops: list[_Op]) -> list[list[_Op]]:
    # Sorted so the same records always form the same batches, hence the same requestids.
    ops = sorted(ops, key=lambda op: op.item.idempotency_key)
    return [ops[start : start + MAX_BATCH] for start in range(0, len(ops), MAX_BATCH)]


def _regrouped(batches: list[list[_Op]], ops: list[_Op]) -> list[list[_Op]]:
    """`ops` (adopted, given tokens, some dropped) in the batches they were formed in: a batch Intuit
    remembers goes out exactly as formed, whatever the look-ups found for the others."""
    now = {op.item.key: op for op in ops}
    return [kept for batch in batches if (kept := [now[op.item.key] for op in batch if op.item.key in now])]


def _remembered(ctx: PushContext, batches: list[list[_Op]]) -> set[int]:
    """Keys of the items of every batch that is the very call an earlier try sent without an answer,
    recently enough for Intuit to answer it from memory (see app.connectors.base). Each is sent as
    formed: every operation is a create or an update whose SyncToken is known (a token read here
    would change the body, hence the requestid)."""
    now = datetime.now(timezone.utc)
    remembered: set[int] = set()
    for batch in batches:
        key = batch_request_id(ctx.credentials.tenant_id or "", [op.operation() for op in batch])
        if all(op.item.lost_call_key == key and op.item.first_unanswered_at is not None
               and now - op.item.first_unanswered_at < REQUESTID_MEMORY
               and (op.external_id is None or op.sync_token is not None) for op in batch):
            remembered |= {op.item.key for op in batch}
    return remembered


def _memo_key(ctx: PushContext, fact: str) -> str:
    # Per connection and organisation: a connection learns once, and never from another's company.
    return f"quickbooks:{ctx.connection_id}:{ctx.credentials.tenant_id or ''}:{fact}"
