"""HTTP to Xero's Accounting API, and nothing else: no mapping, no decisions about records.

Every call goes through `ctx.limiter.slot()` so the organisation's limits (60/min, 5 in flight)
hold across all workers, and every failure leaves as one of the engine's SyncError classes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import structlog

from app.connectors.base import PushContext
from app.connectors.errors import ConnectionBroken, PermanentError, TransientError
from app.connectors.xero import errors

API_ROOT = "/api.xro/2.0"
MAX_ELEMENTS = 50  # Xero's advice for one POST; keeps a refused batch cheap to retry
IDEMPOTENCY_KEY_MAX = 128
# unitdp=4 lets unit prices keep four decimals; Xero documents it only on these endpoints.
UNITDP_COLLECTIONS = {"Items", "Invoices", "CreditNotes"}
NUMBERS_PER_LOOKUP = 40  # keeps the query string well under URL length limits
PAGE_SIZE = 100  # Xero's page of purchase orders
MAX_PAGES = 50  # a look-up reads at most this many pages; beyond, the records it missed are created

log = structlog.get_logger(__name__)


def request_key(method: str, path: str, params: dict[str, str], content: bytes, *, fresh: str = "") -> str:
    """The Idempotency-Key of one exact request: a retry of the same request carries the same key,
    and a request whose body changed in any way (an id now known, a smaller batch) a new one, so
    Xero never sees one key with two bodies."""
    digest = hashlib.sha256()
    digest.update(f"{method} {path}?{urlencode(sorted(params.items()))}\n".encode())
    digest.update(content)
    if fresh:
        digest.update(f"\nfresh:{fresh}".encode())
    key = f"possync-{digest.hexdigest()}"
    assert len(key) <= IDEMPOTENCY_KEY_MAX
    return key


def save_key(collection: str, elements: list[dict[str, Any]], *, method: str = "POST") -> str:
    """The Idempotency-Key `XeroApi.save` sends these elements under."""
    return request_key(method, *_save_request(collection, elements))


def _save_request(collection: str, elements: list[dict[str, Any]]) -> tuple[str, dict[str, str], bytes]:
    params: dict[str, str] = {"summarizeErrors": "false"}
    if collection in UNITDP_COLLECTIONS:
        params["unitdp"] = "4"
    content = json.dumps({collection: elements}, separators=(",", ":"), ensure_ascii=False).encode()
    return f"{API_ROOT}/{collection}", params, content


class XeroApi:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "possync"},
        )
        # Xero's day budget as its last answer per organisation reported it (X-DayLimit-Remaining).
        self._day_remaining: dict[str, int] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def save(
        self,
        ctx: PushContext,
        collection: str,
        elements: list[dict[str, Any]],
        *,
        method: str = "POST",
    ) -> list[dict[str, Any]]:
        """Create or update up to 50 elements; returns Xero's elements (with ValidationErrors).

        The Idempotency-Key is derived from the exact request sent (see request_key).
        Whole-call failures raise: RateLimited, TransientError, ConnectionBroken, PermanentError; a
        TransientError carries the key the request went under as `call_key`.
        """
        if not 0 < len(elements) <= MAX_ELEMENTS:
            raise ValueError(f"send 1 to {MAX_ELEMENTS} elements per call, not {len(elements)}")
        path, params, content = _save_request(collection, elements)
        key = request_key(method, path, params, content)
        send = {"params": params, "content": content, "headers": {"Content-Type": "application/json"}}
        try:
            response = await self._request(ctx, method, path, **_keyed(send, key))
        except TransientError as exc:
            if exc.code != errors.KEY_REUSED:
                exc.call_key = key
                raise
            # Cannot happen with keys derived from the body, unless a key was made some other way:
            # a bug to hear about, never a record's failure. This exact body was not accepted under
            # that key, so one more try under a fresh key is safe.
            log.error("xero_idempotency_key_reused", collection=collection, key=key, elements=len(elements))
            key = request_key(method, path, params, content, fresh=uuid.uuid4().hex)
            try:
                response = await self._request(ctx, method, path, **_keyed(send, key))
            except TransientError as again:
                again.call_key = key  # a key no later request carries: the retry looks its records up
                raise
        body = _body(response)
        returned = body.get(collection)
        if returned is None:
            returned = body.get("Elements")  # a 400 ValidationException still names each element
        if not isinstance(returned, list):
            raise PermanentError(
                f"Xero answered {response.status_code} without {collection}.", http_status=response.status_code
            )
        return returned

    async def documents_numbered(self, ctx: PushContext, collection: str, numbers: list[str],
                                 dates: list[str] | None = None) -> list[dict[str, Any]]:
        """The organisation's documents with these numbers (invoices, credit notes, purchase orders):
        one filtered list call per 40 numbers; purchase orders by their dates (`dates`, aligned)."""
        found: list[dict[str, Any]] = []
        if collection == "PurchaseOrders":
            return await self._purchase_orders_numbered(ctx, numbers, dates or [None] * len(numbers))
        for start in range(0, len(numbers), NUMBERS_PER_LOOKUP):
            chunk = numbers[start : start + NUMBERS_PER_LOOKUP]
            if collection == "Invoices":
                params = {"InvoiceNumbers": ",".join(chunk)}
            else:
                params = {"where": " OR ".join(f'CreditNoteNumber=="{_quoted(n)}"' for n in chunk)}
            response = await self._request(ctx, "GET", f"{API_ROOT}/{collection}", params=params)
            found += _body(response).get(collection) or []
        return found

    async def _purchase_orders_numbered(self, ctx: PushContext, numbers: list[str],
                                        dates: list[str | None]) -> list[dict[str, Any]]:
        # Xero filters purchase orders by date, not by number: one paged list over the batch's
        # dates; only an order with no date is looked up at its own address.
        wanted = set(numbers)
        dated = [d for d in dates if d]
        found: list[dict[str, Any]] = []
        if dated:
            params = {"DateFrom": min(dated)[:10], "DateTo": max(dated)[:10]}
            for page in range(1, MAX_PAGES + 1):
                response = await self._request(ctx, "GET", f"{API_ROOT}/PurchaseOrders",
                                               params={**params, "page": str(page)})
                orders = _body(response).get("PurchaseOrders") or []
                found += [o for o in orders if o.get("PurchaseOrderNumber") in wanted]
                if len(orders) < PAGE_SIZE:
                    break
        for number, date in zip(numbers, dates, strict=True):
            if date:
                continue
            try:
                response = await self._request(ctx, "GET", f"{API_ROOT}/PurchaseOrders/{quote(number, safe='')}")
            except PermanentError as exc:
                if exc.http_status == 404:
                    continue
                raise
            found += _body(response).get("PurchaseOrders") or []
        return found

    async def documents_by_id(self, ctx: PushContext, collection: str, ids: list[str]) -> list[dict[str, Any]]:
        """Invoices or credit notes as Xero holds them now."""
        found: list[dict[str, Any]] = []
        if collection == "Invoices":
            for start in range(0, len(ids), NUMBERS_PER_LOOKUP):
                params = {"IDs": ",".join(ids[start : start + NUMBERS_PER_LOOKUP])}
                response = await self._request(ctx, "GET", f"{API_ROOT}/Invoices", params=params)
                found += _body(response).get("Invoices") or []
            return found
        for document_id in ids:
            response = await self._request(ctx, "GET", f"{API_ROOT}/{collection}/{quote(document_id, safe='')}")
            found += _body(response).get(collection) or []
        return found

    async def delete_item(self, ctx: PushContext, item_id: str) -> None:
        """DELETE /Items/{id}: Xero's API has no archive for items; it refuses items it must keep."""
        response = await self._request(ctx, "DELETE", f"{API_ROOT}/Items/{quote(item_id, safe='')}")
        _raise_refusal(response)

    async def delete_payment(self, ctx: PushContext, payment_id: str) -> None:
        """Remove a payment from its invoice or credit note (refused when it is reconciled)."""
        path = f"{API_ROOT}/Payments/{quote(payment_id, safe='')}"
        content = json.dumps({"Status": "DELETED"}, separators=(",", ":")).encode()
        response = await self._request(ctx, "POST", path, content=content, headers={
            "Content-Type": "application/json", "Idempotency-Key": request_key("POST", path, {}, content)})
        _raise_refusal(response)

    async def tax_rates(self, ctx: PushContext) -> dict[str, Decimal]:
        """TaxType → effective rate in percent, as the organisation has them."""
        response = await self._request(ctx, "GET", f"{API_ROOT}/TaxRates")
        rates = _body(response).get("TaxRates") or []
        return {r["TaxType"]: Decimal(str(r["EffectiveRate"])) for r in rates
                if r.get("TaxType") and r.get("EffectiveRate") is not None}

    async def listing(self, ctx: PushContext, collection: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every element of an unpaged collection (Accounts, TaxRates, TrackingCategories)."""
        found = _body(await self._request(ctx, "GET", f"{API_ROOT}/{collection}", params=params or {})).get(collection)
        return found if isinstance(found, list) else []

    async def get(self, ctx: PushContext, path: str, params: dict[str, str], collection: str, *,
                  headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """GET {path} (relative to the API root): the elements of `collection` in the answer."""
        response = await self._request(ctx, "GET", f"{API_ROOT}/{path}", params=params, headers=headers or {})
        found = _body(response).get(collection)
        return found if isinstance(found, list) else []

    async def items(self, ctx: PushContext) -> list[dict[str, Any]]:
        """Every item of the organisation (Xero does not page Items)."""
        response = await self._request(ctx, "GET", f"{API_ROOT}/Items")
        items = _body(response).get("Items")
        return items if isinstance(items, list) else []

    async def _request(self, ctx: PushContext, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**_auth_headers(ctx), **kwargs.pop("headers", {})}
        tenant = ctx.credentials.tenant_id
        if self._day_remaining.pop(tenant, None) == 0:
            # Spent: pause now rather than spend a call on a certain 429. Forgotten once raised, so
            # the first call after the pause asks Xero again.
            raise errors.day_budget_spent()
        try:
            async with ctx.limiter.slot():
                response = await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise errors.from_transport(exc) from exc
        remaining = response.headers.get("X-DayLimit-Remaining")
        if remaining is not None and remaining.strip().isdigit():
            self._day_remaining[tenant] = int(remaining)
        problem = errors.from_response(response)
        if problem is not None:
            raise problem
        return response


def _keyed(send: dict[str, Any], key: str) -> dict[str, Any]:
    return {**send, "headers": {**send["headers"], "Idempotency-Key": key}}


def _raise_refusal(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    elements = _body(response).get("Elements") or []
    messages = [e.get("Message") for element in elements for e in element.get("ValidationErrors") or [] if e.get("Message")]
    raise PermanentError("; ".join(messages) or f"Xero refused the request ({response.status_code}).",
                         http_status=response.status_code)


def _quoted(number: str) -> str:
    return number.replace("\\", "\\\\").replace('"', '\\"')


def _auth_headers(ctx: PushContext) -> dict[str, str]:
    creds = ctx.credentials
    if not creds.access_token or not creds.tenant_id:
        raise ConnectionBroken(
            "The Xero connection has no access token or organisation.",
            advice="Finish connecting Xero under Integrated Apps and choose the organisation.",
        )
    return {"Authorization": f"Bearer {creds.access_token}", "xero-tenant-id": creds.tenant_id}


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientError(
            f"Xero answered {response.status_code} with a body that is not JSON.", http_status=response.status_code
        ) from exc
    return body if isinstance(body, dict) else {}
