"""The Xero connector: mapping.py translates, adapter.py carries, this module sequences.

One push = (optionally) one item-code look-up, the documents in chunks of ≤ 50, then the
payments of the invoices and credit notes Xero accepted. Whole-call failures raise only while
nothing has reached Xero in this push; after that they are reported per item, so the engine
never loses the external id of a document that was created.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from app.connectors import rules
from app.connectors.base import (
    Credentials, Organisation, ProgramEntry, PushContext, PushItem, PushResult, RemoteObject, SettingRef,
)
from app.connectors.errors import ConnectionBroken, PermanentError, SyncError, TransientError
from app.connectors.xero import env, errors, lists, mapping, read_back
from app.connectors.xero.adapter import MAX_ELEMENTS, XeroApi, save_key
from app.connectors.xero.oauth import XeroOAuth
from app.connectors.limits import RateLimits
from app.connectors.memo import CompanyMemo, LocalMemo
from app.connectors.xero.retract import retract
from app.connectors.xero.settings import XeroSettings, coerce

if TYPE_CHECKING:  # only for annotations: app.settings reads this connector's env settings
    from app.settings import Settings

ITEM_CODES_TTL_S = 300.0
NUMBER_FIELD = {"Invoices": "InvoiceNumber", "CreditNotes": "CreditNoteNumber", "PurchaseOrders": "PurchaseOrderNumber"}
# Xero takes a second purchase order with a number it already holds, so a retried create of one is
# looked up first, unless it goes out in the very call Xero still remembers (see _remembered). Invoices and credit notes need no look-up up front: a retry is sent as it is
# (the same request under the same key is answered from Xero's idempotency memory), and only when
# Xero refuses it because the number is taken is that number looked up, once for the whole batch.
LOOK_UP_FIRST = {"PurchaseOrders"}
# How long Xero is taken to remember an Idempotency-Key and answer the same request from memory.
# Xero publishes no figure; possync has always assumed about six minutes, and the fake Xero forgets
# after six: five leaves a minute for clocks and for a call that took a while to be answered.
IDEMPOTENCY_MEMORY = timedelta(minutes=5)

# What identifies an element when Xero's answer cannot be matched by position.
NATURAL_KEY = {
    "Contacts": "ContactNumber",
    "Items": "Code",
    "Invoices": "InvoiceNumber",
    "CreditNotes": "CreditNoteNumber",
    "PurchaseOrders": "PurchaseOrderNumber",
    "Payments": "Reference",
}


@dataclass
class _Push:
    """The state of one push call."""

    ctx: PushContext
    settings: XeroSettings
    results: dict[int, PushResult] = field(default_factory=dict)
    reached_xero: bool = False  # a call has succeeded: from now on failures are reported per item
    looked_up: set[int] = field(default_factory=set)  # items this push looked up and found nothing of


class XeroConnector:
    name: ClassVar[str] = "xero"
    title: ClassVar[str] = "Xero"
    settings_model: ClassVar[type[XeroSettings]] = XeroSettings
    batch_size: ClassVar[int] = MAX_ELEMENTS
    needs_oauth: ClassVar[bool] = True
    supports_pkce: ClassVar[bool] = True
    rate_limits: ClassVar[RateLimits | None] = RateLimits(per_minute=60, concurrent=5)
    required_settings: ClassVar[tuple[str, ...]] = env.REQUIRED
    setting_refs: ClassVar[tuple[SettingRef, ...]] = lists.SETTING_REFS
    pos_mappings: ClassVar[dict[str, str]] = lists.POS_MAPPINGS
    default_pick = staticmethod(lists.default_pick)

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
        memo: CompanyMemo | None = None,
    ) -> None:
        """`transport` lets tests and benchmarks route every call to a fake Xero in-process; `memo`
        keeps what is learned about an organisation (item codes, tax rates) for every worker."""
        self._api = XeroApi(settings.xero_api_url, timeout_s=timeout_s, transport=transport)
        self._oauth = XeroOAuth(settings, transport=transport)
        self._memo = memo or LocalMemo()

    @classmethod
    def from_settings(cls, settings: Settings, *, memo: CompanyMemo | None = None, **_: Any) -> "XeroConnector":
        return cls(settings, timeout_s=settings.http_timeout_s, memo=memo)

    # --- Connector protocol ---------------------------------------------------------------------

    def syncs(self, entity_type: str, settings: Any) -> bool:
        return rules.syncs(entity_type, coerce(settings))

    def skip_reason(self, entity_type: str, payload: dict[str, Any], settings: Any) -> str | None:
        return rules.common_skip_reason(entity_type, payload, coerce(settings))

    async def push(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        state = _Push(ctx, coerce(ctx.settings))
        codes = await self._codes_for(ctx, entity_type, items)
        rates = await self._rates_for(ctx, entity_type, items)
        documents: list[tuple[PushItem, mapping.Document]] = []
        for item in items:
            try:
                documents.append((item, _again(item, mapping.build(item, state.settings, codes, rates))))
            except SyncError as exc:
                state.results[item.key] = PushResult(item.key, error=exc)
        calls = _calls(documents)
        documents, adopted = await self._adopt_earlier_creates(state, documents, _remembered(calls))
        # The calls keep the records they were formed with (less the adopted ones), so a call Xero
        # remembers goes out exactly as it was formed whatever the look-ups found for other calls.
        still = {id(item) for item, _ in documents}
        calls = [(collection, kept) for collection, chunk in calls
                 if (kept := [pair for pair in chunk if id(pair[0]) in still])]
        accepted = adopted + await self._send_documents(state, calls=calls)
        if entity_type == "product":
            await self._remember_codes(ctx, accepted)
        await self._send_payments(state, accepted)
        for item, doc, element in accepted:
            # Xero's answer is the object as it holds it after this push: its digest is what a later
            # read-back is compared with (payments added just now are outside the mapped fields).
            if state.results[item.key].ok:
                state.results[item.key] = replace(state.results[item.key],
                                                  remote_digest=read_back.digest_of(doc.collection, element))
        return [state.results[item.key] for item in items]

    async def retract(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        return await retract(self._api, ctx, entity_type, items)

    async def fetch_remote(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> dict[int, RemoteObject]:
        return await read_back.fetch_remote(self._api, ctx, entity_type, items)

    async def changed_since(self, ctx: PushContext, since: datetime) -> list[tuple[str, str]]:
        return await read_back.changed_since(self._api, ctx, since)
    def preview(self, settings: Any, item: PushItem, referred: dict[tuple[str, str], dict[str, Any]], *,
                tenant_id: str | None = None) -> dict[str, Any]:
        """The element `push` would send for this record, with its payments; no HTTP. A product line
        names its item by code, which possync makes the product's SKU. Raises SyncError."""
        codes = {ext: str(referred.get(ref, {}).get("sku")) for ref, ext in item.references.items()
                 if ref[0] == "product"}
        doc = mapping.build(item, coerce(settings), codes, None)
        return {"endpoint": doc.collection, "body": doc.element,
                "payments": [mapping.payment_element(plan, doc.collection, item.external_id or "(once created)")
                             for plan in doc.payments]}

    async def program_list(self, ctx: PushContext, kind: str) -> list[ProgramEntry] | None:
        if kind == "accounts":
            return [e for a in await self._api.listing(ctx, "Accounts") if (e := lists.account_entry(a))]
        if kind == "tax_rates":
            return [e for r in await self._api.listing(ctx, "TaxRates") if (e := lists.tax_rate_entry(r))]
        if kind == "tracking":
            found = await self._api.listing(ctx, "TrackingCategories", params={"includeArchived": "true"})
            return [e for c in found for e in lists.tracking_entries(c)]
        return None  # Xero has no payment methods: a payment names the account it goes to

    async def refresh_credentials(self, credentials: Credentials) -> Credentials:
        return await self._oauth.refresh(credentials)

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._oauth.aclose()

    # --- OAuthConnector protocol ----------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None = None) -> str:
        return self._oauth.authorization_url(state=state, redirect_uri=redirect_uri, code_verifier=code_verifier)

    async def exchange_code(self, *, code: str, redirect_uri: str, callback_params: dict[str, str],
                            code_verifier: str | None = None) -> Credentials:
        return await self._oauth.exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)

    async def organisations(self, credentials: Credentials) -> list[Organisation]:
        return await self._oauth.organisations(credentials)

    async def revoke(self, credentials: Credentials) -> None:
        await self._oauth.revoke(credentials)

    # --- documents ------------------------------------------------------------------------------

    async def _send_documents(
        self, state: _Push, documents: list[tuple[PushItem, mapping.Document]] | None = None, *,
        calls: list[tuple[str, list[tuple[PushItem, mapping.Document]]]] | None = None, renamed: bool = False
    ) -> list[tuple[PushItem, mapping.Document, dict[str, Any]]]:
        """Send `documents` in calls formed by `_calls`, or the calls already formed (`calls`)."""
        accepted: list[tuple[PushItem, mapping.Document, dict[str, Any]]] = []
        clashes: list[tuple[PushItem, mapping.Document]] = []
        paid: list[tuple[PushItem, mapping.Document]] = []
        taken: list[tuple[PushItem, mapping.Document]] = []
        for collection, chunk in calls if calls is not None else _calls(documents or []):
            returned = await self._call(state, [item for item, _ in chunk], collection,
                                        [doc.element for _, doc in chunk], reports_lost=True)
            if returned is None:
                continue
            for (item, doc), element in zip(chunk, returned, strict=True):
                outcome = self._document_outcome(state, item, doc, element, renamed=renamed)
                if outcome == "clash":
                    clashes.append((item, doc))
                elif outcome == "paid":
                    paid.append((item, doc))
                elif outcome == "taken":
                    taken.append((item, doc))
                elif outcome is not None:
                    accepted.append((item, doc, outcome))
        if clashes:
            accepted += await self._send_documents(state, [_renamed(item, doc) for item, doc in clashes], renamed=True)
        if paid:
            accepted += await self._as_xero_has_them(state, paid)
        if taken:
            accepted += (await self._look_up_own(state, taken))[0]
        return accepted

    async def _as_xero_has_them(
        self, state: _Push, pairs: list[tuple[PushItem, mapping.Document]]
    ) -> list[tuple[PushItem, mapping.Document, dict[str, Any]]]:
        """A retried sale whose invoice already carries payments: Xero keeps it as created (it may
        not be edited), so go on from what Xero holds and add only the payments still missing."""
        accepted = []
        by_collection: dict[str, dict[str, tuple[PushItem, mapping.Document]]] = {}
        for item, doc in pairs:
            by_collection.setdefault(doc.collection, {})[item.external_id] = (item, doc)
        for collection, by_id in by_collection.items():
            try:
                found = await self._api.documents_by_id(state.ctx, collection, list(by_id))
            except SyncError as exc:
                for item, _ in by_id.values():
                    state.results[item.key] = PushResult(item.key, external_id=item.external_id, error=exc)
                continue
            for element in found:
                pair = by_id.pop(element.get(mapping.ID_FIELD[collection]), None)
                if pair is not None:
                    state.results[pair[0].key] = PushResult(pair[0].key, action="updated", external_id=pair[0].external_id)
                    accepted.append((*pair, element))
            for item, _ in by_id.values():
                state.results[item.key] = PushResult(item.key, error=errors.element_error(["Document not found."]))
        return accepted

    def _document_outcome(
        self, state: _Push, item: PushItem, doc: mapping.Document, element: dict[str, Any] | None, *, renamed: bool
    ) -> dict[str, Any] | str | None:
        """Xero's element when accepted; "clash" or "paid" when it needs another step; else None."""
        if element is None:
            state.results[item.key] = PushResult(
                item.key, error=TransientError("Xero's answer did not mention this record.", code="unmatched")
            )
            return None
        messages = errors.validation_messages(element)
        if messages:
            error = errors.element_error(messages)
            if (
                error.code == "duplicate_contact_name"
                and not renamed
                and doc.collection == "Contacts"
                and state.settings.duplicate_contact_names == "add_pos_id"
            ):
                return "clash"
            if error.code == "document_has_payments" and item.retries and item.external_id:
                return "paid"
            state.results[item.key] = PushResult(item.key, error=error)
            if error.code == "duplicate_document_number" and item.external_id is None and doc.collection in NUMBER_FIELD:
                return "taken"  # perhaps by an earlier try of this very record whose answer was lost
            return None
        state.results[item.key] = PushResult(
            item.key,
            action="created" if item.external_id is None else "updated",
            external_id=element.get(doc.id_field),
            note=doc.note,
        )
        return element

    async def _adopt_earlier_creates(
        self, state: _Push, documents: list[tuple[PushItem, mapping.Document]], remembered: set[int]
    ) -> tuple[list[tuple[PushItem, mapping.Document]], list[tuple[PushItem, mapping.Document, dict[str, Any]]]]:
        """Find purchase orders an earlier, unanswered try created, so they are not created twice
        (see LOOK_UP_FIRST): one look-up for the batch's retried creates, but for those going out in
        the very call Xero still remembers (`remembered`: ids of their items), which it answers as
        the first time."""
        retried = [(item, doc) for item, doc in documents
                   if (item.retries or item.first_unanswered_at) and item.external_id is None
                   and doc.collection in LOOK_UP_FIRST
                   and id(item) not in remembered]
        if not retried:
            return documents, []
        adopted, failed = await self._look_up_own(state, retried)
        taken = {id(item) for item, _, _ in adopted} | failed
        state.looked_up |= {item.key for item, _ in retried if id(item) not in taken}
        return [(item, doc) for item, doc in documents if id(item) not in taken], adopted

    async def _look_up_own(
        self, state: _Push, pairs: list[tuple[PushItem, mapping.Document]]
    ) -> tuple[list[tuple[PushItem, mapping.Document, dict[str, Any]]], set[int]]:
        """The documents Xero holds under these records' numbers that are theirs (their Reference
        names the POS record), adopted as created: one filtered list call per collection (per 40
        numbers). A failed look-up fails only the records that needed it; returns (adopted, the
        ids of the items whose look-up failed)."""
        wanted: dict[str, dict[str, tuple[PushItem, mapping.Document]]] = {}
        for item, doc in pairs:
            number = doc.element.get(NUMBER_FIELD[doc.collection])
            if number:
                wanted.setdefault(doc.collection, {})[number] = (item, doc)
        adopted: list[tuple[PushItem, mapping.Document, dict[str, Any]]] = []
        failed: set[int] = set()
        for collection, by_number in wanted.items():
            numbers = list(by_number)
            dates = [by_number[n][1].element.get("Date") for n in numbers]
            try:
                found = await self._api.documents_numbered(state.ctx, collection, numbers, dates)
            except ConnectionBroken:
                raise
            except SyncError as exc:
                for item, _doc in by_number.values():
                    state.results[item.key] = PushResult(item.key, error=exc)
                    failed.add(id(item))
                continue
            # From here a failed create is reported on its own records, with what this look-up found.
            state.reached_xero = True
            for element in found:
                pair = by_number.get(element.get(NUMBER_FIELD[collection]))
                if pair is None or element.get("Reference") != pair[1].element.get("Reference"):
                    continue  # another document owns that number: its create says so
                item, doc = pair
                state.results[item.key] = PushResult(item.key, action="created", external_id=element.get(doc.id_field))
                adopted.append((item, doc, element))
        return adopted, failed

    # --- payments -------------------------------------------------------------------------------

    async def _send_payments(
        self, state: _Push, accepted: list[tuple[PushItem, mapping.Document, dict[str, Any]]]
    ) -> None:
        planned: list[tuple[PushItem, str, dict[str, Any]]] = []  # (item, document id, payment element)
        for item, doc, element in accepted:
            document_id = element.get(doc.id_field)
            for plan in _missing_payments(doc, element):
                planned.append((item, document_id, mapping.payment_element(plan, doc.collection, document_id)))
        planned.sort(key=lambda p: (p[0].idempotency_key, p[2]["Reference"]))
        for start in range(0, len(planned), MAX_ELEMENTS):
            chunk = planned[start : start + MAX_ELEMENTS]
            # Xero's spec documents the batch of payments on PUT (POST takes a single payment).
            returned = await self._call(
                state, [item for item, _, _ in chunk], "Payments", [p for _, _, p in chunk], method="PUT"
            )
            if returned is None:
                for item, document_id, _ in chunk:
                    state.results[item.key] = _with_external_id(state.results[item.key], document_id)
                continue
            for (item, document_id, _), element in zip(chunk, returned, strict=True):
                messages = errors.validation_messages(element) if element else ["Xero did not answer for a payment."]
                if messages:
                    state.results[item.key] = PushResult(
                        item.key, external_id=document_id, error=errors.element_error(messages)
                    )

    # --- calls ----------------------------------------------------------------------------------

    async def _call(
        self,
        state: _Push,
        items: list[PushItem],
        collection: str,
        elements: list[dict[str, Any]],
        *,
        method: str = "POST",
        reports_lost: bool = False,
    ) -> list[dict[str, Any] | None] | None:
        """Send one chunk; Xero's elements aligned with `elements`, or None when the call failed.

        `reports_lost`: the call creates these records' documents, so when it goes unanswered its
        Idempotency-Key is reported on them (see "Lost answers" in app.connectors.base)."""
        if reports_lost:
            await state.ctx.announce_call(save_key(collection, elements, method=method), [item.key for item in items],
                                          state.looked_up)
        try:
            returned = await self._api.save(state.ctx, collection, elements, method=method)
        except SyncError as exc:
            unanswered = exc.call_key if reports_lost and isinstance(exc, TransientError) else None
            # A refusal of the request itself is about these records: report it on each of them.
            if not state.reached_xero and not isinstance(exc, PermanentError):
                exc.call_key = unanswered
                raise
            for item in items:
                state.results[item.key] = PushResult(item.key, error=exc, call_key=unanswered,
                                                     looked_up=item.key in state.looked_up)
            return None
        state.reached_xero = True
        return align(elements, returned, NATURAL_KEY[collection])

    async def _codes_for(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> dict[str, str]:
        """ItemID → item code for the products these records' lines refer to.

        Codes learned in the last few minutes (from a product push or a look-up, by any worker) are
        trusted; any other makes one GET /Items for the whole organisation (Xero does not page items).
        """
        if entity_type not in ("sale", "purchase_order"):
            return {}
        needed = {ref for item in items for ref in mapping.product_references(item)}
        key = _memo_key(ctx, "item-codes")
        known: dict[str, list] = await self._memo.get(key) or {}  # ItemID → [Code, learned at (unix s)]
        fresh_after = time.time() - ITEM_CODES_TTL_S
        if any(ref not in known or known[ref][1] < fresh_after for ref in needed):
            now = time.time()
            known = {i["ItemID"]: [i["Code"], now] for i in await self._api.items(ctx) if i.get("ItemID") and i.get("Code")}
            await self._memo.put(key, known, ITEM_CODES_TTL_S)
        return {item_id: code for item_id, (code, _) in known.items()}

    async def _rates_for(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> dict:
        """The organisation's tax rates, for sales with prices before tax: Xero adds each line's tax
        at its own rate, and the rounding line needs to know what that comes to."""
        if entity_type != "sale" or all(i.payload.get("prices_include_tax", True) for i in items):
            return {}
        key = _memo_key(ctx, "tax-rates")
        known = await self._memo.get(key)
        if known is None:
            known = {tax_type: str(rate) for tax_type, rate in (await self._api.tax_rates(ctx)).items()}
            await self._memo.put(key, known, ITEM_CODES_TTL_S)
        return {tax_type: Decimal(rate) for tax_type, rate in known.items()}

    async def _remember_codes(self, ctx: PushContext, accepted: list[tuple[PushItem, mapping.Document, dict]]) -> None:
        learned = {e["ItemID"]: [e["Code"], time.time()] for _, _, e in accepted if e.get("ItemID") and e.get("Code")}
        if not learned:
            return
        key = _memo_key(ctx, "item-codes")
        # Another worker may add codes between this read and the write; one of them is then lost,
        # which costs one look-up later, never a wrong code.
        await self._memo.put(key, {**(await self._memo.get(key) or {}), **learned}, ITEM_CODES_TTL_S)


def _calls(documents: list[tuple[PushItem, mapping.Document]]) -> list[tuple[str, list[tuple[PushItem, mapping.Document]]]]:
    """The calls these documents go out in: per collection, at most MAX_ELEMENTS each."""
    by_collection: dict[str, list[tuple[PushItem, mapping.Document]]] = {}
    for pair in documents:
        by_collection.setdefault(pair[1].collection, []).append(pair)
    calls = []
    for collection, group in by_collection.items():
        # Sorted so the same set of records always forms the same chunks, hence the same keys.
        group.sort(key=lambda pair: pair[0].idempotency_key)
        calls += [(collection, group[start : start + MAX_ELEMENTS]) for start in range(0, len(group), MAX_ELEMENTS)]
    return calls


def _remembered(calls: list[tuple[str, list[tuple[PushItem, mapping.Document]]]]) -> set[int]:
    """Ids of the items of every call that is the very call an earlier try sent without an answer,
    recently enough for Xero to answer it from its idempotency memory (see app.connectors.base)."""
    now = datetime.now(timezone.utc)
    remembered: set[int] = set()
    for collection, chunk in calls:
        key = save_key(collection, [doc.element for _, doc in chunk])
        if all(item.lost_call_key == key and item.first_unanswered_at is not None
               and now - item.first_unanswered_at < IDEMPOTENCY_MEMORY for item, _ in chunk):
            remembered |= {id(item) for item, _ in chunk}
    return remembered


def _memo_key(ctx: PushContext, fact: str) -> str:
    # Per connection and organisation: a connection learns once, and never from another's company.
    return f"xero:{ctx.connection_id}:{ctx.credentials.tenant_id or ''}:{fact}"


def align(sent: list[dict[str, Any]], returned: list[dict[str, Any]], natural_key: str) -> list[dict[str, Any] | None]:
    """Xero's answer element for each sent element.

    With summarizeErrors=false Xero returns every element in the order sent; position is used when
    the counts agree and no natural key contradicts it, else elements are matched by natural key.
    """
    if len(returned) == len(sent) and all(
        not s.get(natural_key) or not r.get(natural_key) or s[natural_key] == r[natural_key]
        for s, r in zip(sent, returned)
    ):
        return list(returned)
    index = {r[natural_key]: r for r in returned if r.get(natural_key)}
    return [index.get(s.get(natural_key)) for s in sent]


def _missing_payments(doc: mapping.Document, element: dict[str, Any]) -> list[mapping.PaymentPlan]:
    # A retried sale (external id known, or an idempotent replay) may already carry some payments:
    # each payment's Reference names its sale and payment type, so only the missing ones are sent.
    if not doc.payments:
        return []
    outstanding = element.get("AmountDue", element.get("RemainingCredit"))
    if outstanding is not None and float(outstanding) <= 0:
        return []
    present = {p.get("Reference") for p in element.get("Payments") or []}
    return [plan for plan in doc.payments if plan.reference not in present]


def _again(item: PushItem, doc: mapping.Document) -> mapping.Document:
    """A document created again after the bookkeeper voided or deleted the first: Xero keeps the
    voided one's number, so the new one gets its own (and hence its own Idempotency-Key)."""
    number_field = NUMBER_FIELD.get(doc.collection)
    if not item.replaces or not number_field or not doc.element.get(number_field):
        return doc
    element = {**doc.element, number_field: f"{doc.element[number_field]}-R{item.replaces[:6]}"}
    return mapping.Document(doc.collection, element, doc.payments, doc.note)


def _renamed(item: PushItem, doc: mapping.Document) -> tuple[PushItem, mapping.Document]:
    element = {**doc.element, "Name": mapping.name_with_pos_id(doc.element["Name"], item.pos_id)}
    return item, mapping.Document(doc.collection, element, doc.payments)


def _with_external_id(result: PushResult, external_id: str | None) -> PushResult:
    return PushResult(result.key, error=result.error, external_id=external_id)
