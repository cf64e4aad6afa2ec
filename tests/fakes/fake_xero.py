"""A fake Xero that behaves like the real one where the connector can tell the difference.

It speaks the Accounting API endpoints the connector uses (POST/PUT Contacts, Items, Invoices,
CreditNotes, PurchaseOrders, Payments; GET Items), the identity endpoints (`/connect/token`
with rotating refresh tokens, `/connect/revocation`, a login page that redirects with a code)
and `GET /connections`, all on one host: point XERO_API_URL, XERO_IDENTITY_URL and
XERO_LOGIN_URL at it.

Per organisation it enforces Xero's limits (calls per window, calls in flight, calls per day)
with 429 + Retry-After + X-Rate-Limit-Problem, reports X-DayLimit-Remaining and
X-MinLimit-Remaining, and replays the first answer for a repeated Idempotency-Key. Failures can
be injected: 5xx answers, delays (client time-outs) and "killed" requests whose work is done
but whose answer is lost.

In-process:   fake = FakeXero(); tenant = fake.add_tenant(); transport = fake.transport()
              XeroConnector(settings, transport=transport)
Over TCP:     with fake.serve() as base_url: ...   (uvicorn in a thread)
Standalone:   python -m tests.fakes.fake_xero --port 8765
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.chaos import MALFORMED_BODY, Chaos, Fault
from tests.fakes.deliveries import Deliveries, xero_batch, xero_delivery, xero_event
from tests.fakes.xero_books import (
    COUNTRY_CHARTS, COUNTRY_TAX_RATES, DEMO_ACCOUNT_CODES, DEMO_TAX_RATES, KINDS, Books, touched,
)

API = "/api.xro/2.0"
WRITABLE = set(KINDS)


class ResponseLost(Exception):
    """Raised by the app after doing the work, to simulate an answer that never arrives."""


@dataclass
class Call:
    method: str
    path: str
    tenant_id: str | None
    status: int
    idempotency_key: str | None = None
    elements: int = 0
    replayed: bool = False
    fault: str | None = None  # the injected fault this call met (see chaos.py)
    at: float = field(default_factory=time.time)  # when it arrived (unix seconds)


@dataclass
class _Injection:
    kind: str  # "fail", "delay", "kill"
    remaining: int
    status: int = 503
    seconds: float = 0.0
    retry_after_s: float | None = None
    path_prefix: str = API
    skip: int = 0  # matching calls to let through untouched first


@dataclass
class _Limits:
    window: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    day_used: int = 0


class FakeXero:
    """An ASGI app (the instance itself) plus the knobs and counters tests need."""

    def __init__(
        self,
        *,
        per_minute: int = 60,
        concurrent: int = 5,
        per_day: int = 5000,
        window_s: float = 60.0,
        day_retry_after_s: float = 3600.0,
        idempotency_ttl_s: float = 360.0,
        client_id: str | None = None,
        client_secret: str | None = None,
        check_tokens: bool = False,
        chaos: Chaos | None = None,
    ) -> None:
        self.chaos = chaos  # a seeded share of API calls goes wrong (see chaos.py)
        self.per_minute, self.concurrent, self.per_day = per_minute, concurrent, per_day
        self.window_s = window_s
        self.day_retry_after_s = day_retry_after_s
        self.idempotency_ttl_s = idempotency_ttl_s
        self.client_id, self.client_secret = client_id, client_secret
        self.check_tokens = check_tokens  # when True, only tokens this fake issued are accepted
        self.books: dict[str, Books] = {}
        self.calls: list[Call] = []
        self.access_tokens: set[str] = set()
        self.expired_tokens: set[str] = set()
        self.live_refresh_tokens: set[str] = set()
        self.used_refresh_tokens: set[str] = set()
        self.revoked_tokens: list[str] = []
        self.code_challenges: dict[str, str] = {}  # code -> PKCE challenge it was issued for
        self.refresh_count = 0
        self._limits: dict[str, _Limits] = {}
        self._idempotent: dict[tuple[str, str], tuple[float, int, Any, str] | None] = {}
        self.key_reuses = 0  # requests refused for reusing a key with another body
        self._injections: list[_Injection] = []
        # Where the bookkeeper's changes are delivered, signed with the webhook key (point_at).
        # possync's own changes are queued there too, as Xero reports every change (see Deliveries).
        self.deliveries = Deliveries("x-xero-signature", batch=xero_batch)
        self._app = Starlette(
            routes=[
                Route(f"{API}/{{collection}}", self._save, methods=["POST", "PUT"]),
                Route(f"{API}/{{collection}}", self._list, methods=["GET"]),
                Route(f"{API}/{{collection}}/{{number}}", self._list, methods=["GET"]),
                Route(f"{API}/Items/{{item_id}}", self._delete_item, methods=["DELETE"]),
                Route(f"{API}/Payments/{{payment_id}}", self._update_payment, methods=["POST"]),
                Route("/connections", self._connections, methods=["GET"]),
                Route("/connections/{connection_id}", self._disconnect, methods=["DELETE"]),
                Route("/connect/token", self._token, methods=["POST"]),
                Route("/connect/revocation", self._revoke, methods=["POST"]),
                Route("/identity/connect/authorize", self._authorize, methods=["GET"]),
            ]
        )

    # --- setting up -----------------------------------------------------------------------------

    def add_tenant(
        self,
        name: str = "Demo Company (UK)",
        *,
        tenant_id: str | None = None,
        account_codes: set[str] | None = None,
        tax_rates: dict[str, Decimal] | None = None,
        demo_chart: bool = False,
        country: str | None = None,
    ) -> str:
        """A new organisation; `demo_chart` refuses codes and tax types the UK demo company lacks;
        `country` ("AU", "UK") gives it that country's chart and tax types instead, described in full."""
        if country is not None:
            chart, rows = COUNTRY_CHARTS[country], COUNTRY_TAX_RATES[country]
            books = Books(name=name, tenant_id=tenant_id or str(uuid.uuid4()), account_codes=set(chart),
                          tax_rates={t: row[1] for t, row in rows.items()}, chart=chart, tax_rows=rows)
            self.books[books.tenant_id] = books
            return books.tenant_id
        books = Books(
            name=name,
            tenant_id=tenant_id or str(uuid.uuid4()),
            account_codes=set(DEMO_ACCOUNT_CODES) if demo_chart and account_codes is None else account_codes,
            tax_rates=dict(DEMO_TAX_RATES) if demo_chart and tax_rates is None else tax_rates,
        )
        self.books[books.tenant_id] = books
        return books.tenant_id

    def issue_tokens(self) -> dict[str, Any]:
        """A token set as /connect/token would give (for tests that skip the OAuth dance)."""
        access, refresh = f"at-{secrets.token_hex(16)}", f"rt-{secrets.token_hex(16)}"
        self.access_tokens.add(access)
        self.live_refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 1800,
            "token_type": "Bearer",
            "scope": "offline_access accounting.contacts accounting.settings accounting.invoices accounting.payments",
        }

    # --- failure injection ----------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        retry_after_s: float | None = None,
        path_prefix: str = API,
        after: int = 0,
    ) -> None:
        """The next n accepted calls (after letting `after` through) answer `status` and do nothing."""
        self._injections.append(
            _Injection("fail", n, status=status, retry_after_s=retry_after_s, path_prefix=path_prefix, skip=after)
        )

    def delay_next(self, n: int = 1, *, seconds: float = 5.0, path_prefix: str = API) -> None:
        """The next n calls wait before working; a client that gave up meanwhile changes nothing."""
        self._injections.append(_Injection("delay", n, seconds=seconds, path_prefix=path_prefix))

    def kill_next(self, n: int = 1, *, path_prefix: str = API) -> None:
        """The next n calls do their work, then the connection drops before the answer."""
        self._injections.append(_Injection("kill", n, path_prefix=path_prefix))

    def forget_idempotency_keys(self) -> None:
        """As Xero does about six minutes after a request: its key may name a new request again."""
        self._idempotent.clear()

    def use_up_day(self, tenant_id: str) -> None:
        self._limits_of(tenant_id).day_used = self.per_day

    # --- the bookkeeper, working in Xero (each change is delivered as Xero's webhook would) ----

    async def void_invoice(self, tenant_id: str, invoice_id: str) -> None:
        """Voided by hand: the bookkeeper removes the payments first, as Xero requires."""
        invoice = self.books[tenant_id].invoices[invoice_id]
        for payment in invoice.get("Payments") or []:
            self.books[tenant_id].payments[payment["PaymentID"]]["Status"] = "DELETED"
        touched(invoice).update(Status="VOIDED", Payments=[], AmountPaid=0.0, AmountDue=0.0)
        await self.deliveries.send(xero_delivery(tenant_id, "INVOICE", invoice_id))

    async def archive_contact(self, tenant_id: str, contact_id: str) -> None:
        touched(self.books[tenant_id].contacts[contact_id])["ContactStatus"] = "ARCHIVED"
        await self.deliveries.send(xero_delivery(tenant_id, "CONTACT", contact_id))

    async def merge_contacts(self, tenant_id: str, merged_id: str, into_id: str) -> None:
        """Xero's merge: the merged contact is archived and names the one that absorbed it; its
        documents move to that contact."""
        books = self.books[tenant_id]
        merged, into = books.contacts[merged_id], books.contacts[into_id]
        touched(merged).update(ContactStatus="ARCHIVED", MergedToContactID=into_id)
        for doc in [*books.invoices.values(), *books.credit_notes.values(), *books.purchase_orders.values()]:
            if (doc.get("Contact") or {}).get("ContactID") == merged_id:
                doc["Contact"] = {"ContactID": into_id, "Name": into["Name"]}
        await self.deliveries.send(xero_delivery(tenant_id, "CONTACT", merged_id))

    async def edit(self, tenant_id: str, collection: str, object_id: str, **fields: Any) -> None:
        """Any other change by hand (a contact's email, an invoice's reference…)."""
        store = getattr(self.books[tenant_id], KINDS[collection][1])
        touched(store[object_id]).update(fields)
        category = {"Contacts": "CONTACT", "Invoices": "INVOICE", "CreditNotes": "CREDITNOTE"}.get(collection)
        if category:
            await self.deliveries.send(xero_delivery(tenant_id, category, object_id))

    async def receive_payment(self, tenant_id: str, invoice_id: str, amount: Decimal, account_code: str = "090") -> None:
        """A payment recorded in Xero against an invoice (on account in the POS)."""
        books = self.books[tenant_id]
        books.save("Payments", [{"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": account_code},
                                 "Amount": float(amount), "Reference": "Paid by bank transfer"}], all_or_nothing=True)
        touched(books.invoices[invoice_id])
        await self.deliveries.send(xero_delivery(tenant_id, "INVOICE", invoice_id))

    # --- looking inside -------------------------------------------------------------------------

    def count(self, method: str | None = None, path: str | None = None, *, status: int | None = None) -> int:
        return sum(
            1
            for c in self.calls
            if (method is None or c.method == method)
            and (path is None or c.path.endswith(path))
            and (status is None or c.status == status)
        )

    def in_flight(self, tenant_id: str) -> int:
        return self._limits_of(tenant_id).in_flight

    # --- clients --------------------------------------------------------------------------------

    def transport(self) -> httpx.AsyncBaseTransport:
        """In-process transport that honours client read time-outs and loses killed answers."""
        return _InProcessTransport(self)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport(), base_url="http://fake-xero", **kwargs)

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over TCP with uvicorn in a background thread; yields the base URL."""
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(self, host=host, port=port, log_level="critical", lifespan="off"))
        thread = threading.Thread(target=server.run, name="fake-xero", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("fake Xero did not start")
            time.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://{host}:{bound}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    # --- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self._app(scope, receive, send)
        state = scope.setdefault("state", {})

        async def send_or_lose(message):
            if message["type"] == "http.response.start" and state.get("lose_response"):
                # Start an answer that never completes: a real server's connection drops here.
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                await send({**message, "headers": [*headers, (b"content-length", b"100000")]})
                raise ResponseLost()
            await send(message)

        await self._app(scope, receive, send_or_lose)

    # --- API endpoints --------------------------------------------------------------------------

    async def _save(self, request: Request) -> Response:
        collection = request.path_params["collection"]
        return await self._api_call(request, lambda books: self._apply(request, books, collection))

    async def _apply(self, request: Request, books: Books, collection: str) -> tuple[int, Any, int]:
        if collection not in WRITABLE:
            return 404, {"Title": "Not Found", "Status": 404}, 0
        body = await request.json()
        elements = body.get(collection) if isinstance(body, dict) else None
        if elements is None and collection == "Payments" and isinstance(body, dict) and "Amount" in body:
            elements = [body]  # POST /Payments takes a single payment
        if not isinstance(elements, list) or not elements:
            return 400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": "No elements"}, 0
        summarize = request.query_params.get("summarizeErrors", "true").lower() != "false"
        answer, refused = books.save(collection, elements, all_or_nothing=summarize)
        if not (refused and summarize):
            self._echo(books.tenant_id, collection, elements, answer)
        if refused and summarize:
            return 400, {
                "ErrorNumber": 10,
                "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [a for a in answer if a.get("ValidationErrors")],
            }, len(elements)
        return 200, {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "possync", collection: answer}, len(elements)

    def _echo(self, tenant_id: str, collection: str, sent: list[dict], answer: list[dict]) -> None:
        """Xero's webhooks report changes made through the API too: contacts, invoices and credit
        notes saved, and the documents a payment was applied to (Xero has none for items or orders)."""
        events = []
        for element, saved in zip(sent, answer, strict=False):
            if saved.get("ValidationErrors"):
                continue
            if collection == "Payments":
                for category, field in (("INVOICE", "Invoice"), ("CREDITNOTE", "CreditNote")):
                    document = (saved.get(field) or element.get(field) or {}).get(f"{field}ID")
                    if document:
                        events.append(xero_event(tenant_id, category, document, "UPDATE"))
                continue
            category = {"Contacts": "CONTACT", "Invoices": "INVOICE", "CreditNotes": "CREDITNOTE"}.get(collection)
            id_field = KINDS[collection][0]
            if category and saved.get(id_field):
                events.append(xero_event(tenant_id, category, saved[id_field],
                                         "UPDATE" if element.get(id_field) else "CREATE"))
        self.deliveries.echo(events)

    async def _delete_item(self, request: Request) -> Response:
        item_id = request.path_params["item_id"]

        async def work(books: Books) -> tuple[int, Any, int]:
            return books.delete_item(item_id)

        return await self._api_call(request, work)

    async def _update_payment(self, request: Request) -> Response:
        payment_id = request.path_params["payment_id"]
        body = await request.json()

        async def work(books: Books) -> tuple[int, Any, int]:
            return books.delete_payment(payment_id, body)

        return await self._api_call(request, work)

    async def _list(self, request: Request) -> Response:
        collection = request.path_params["collection"]

        number = request.path_params.get("number")

        async def read(books: Books) -> tuple[int, Any, int]:
            if collection == "TaxRates":
                return 200, {"TaxRates": books.tax_rate_list()}, 0
            if collection == "Accounts":
                return 200, {"Accounts": books.account_list()}, 0
            if collection == "TrackingCategories":
                archived = request.query_params.get("includeArchived", "").lower() == "true"
                return 200, {"TrackingCategories": books.tracking_list(include_archived=archived)}, 0
            if collection not in KINDS:
                return 404, {"Title": "Not Found", "Status": 404}, 0
            id_field = KINDS[collection][0]
            found = [dict(d) for d in getattr(books, KINDS[collection][1]).values()]
            if number is not None and any(d[id_field] == number for d in found):
                found = [d for d in found if d[id_field] == number]  # Xero takes an id or a number here
            elif "IDs" in request.query_params:
                ids = set(request.query_params["IDs"].split(","))
                found = [d for d in found if d[id_field] in ids]
            elif collection == "PurchaseOrders" and number is None and (
                "DateFrom" in request.query_params or "page" in request.query_params
            ):
                # Xero filters purchase orders by date only, and pages them (100 per page).
                low, high = request.query_params.get("DateFrom", ""), request.query_params.get("DateTo", "9999")
                found = sorted((d for d in found if low <= str(d.get("Date", ""))[:10] <= high),
                               key=lambda d: d[id_field])
                page = int(request.query_params.get("page", "1"))
                found = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            elif (ids := _ids_asked(request, id_field)) is not None:
                found = [d for d in found if d[id_field] in ids]
            elif (numbers := _numbers_asked(request, number)) is not None:
                field = NUMBER_FIELDS[collection]
                found = [d for d in found if d.get(field) in numbers]
                if number is not None and not found:
                    return 404, {"Title": "Not Found", "Status": 404, "Detail": "Resource not found"}, 0
            since = request.headers.get("If-Modified-Since")
            if since and number is None:
                found = [d for d in found if _stamp(d.get("UpdatedDateUTC")) > _stamp(since)]
                if "page" in request.query_params and collection != "PurchaseOrders":
                    page = int(request.query_params["page"])
                    found = sorted(found, key=lambda d: d[id_field])[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            if collection in ("Invoices", "CreditNotes") and number is None and "page" not in request.query_params:
                # As Xero: a list read that is not paged answers the documents without their line items.
                found = [{k: v for k, v in d.items() if k != "LineItems"} for d in found]
            return 200, {collection: found}, 0

        return await self._api_call(request, read)

    async def _api_call(self, request: Request, work) -> Response:
        tenant_id = request.headers.get("xero-tenant-id")
        key = request.headers.get("Idempotency-Key")
        call = Call(request.method, request.url.path, tenant_id, 0, key)
        self.calls.append(call)
        refusal = self._check_auth(request)
        if refusal is None and tenant_id not in self.books:
            refusal = _json(403, {"Title": "Forbidden", "Status": 403, "Detail": "AuthorizationUnsuccessful"})
        if refusal is not None:
            call.status = refusal.status_code
            return refusal
        limits = self._limits_of(tenant_id)
        over = self._over_limit(limits)
        if over is not None:
            call.status = over.status_code
            return over
        limits.window.append(time.monotonic())
        limits.day_used += 1
        limits.in_flight += 1
        try:
            status, body, call.elements = await self._run(request, tenant_id, key, work, call)
        finally:
            limits.in_flight -= 1
        if getattr(request.state, "hang", False):
            await asyncio.sleep(self.chaos.hang_s)
        call.status = status
        if getattr(request.state, "malformed", False):
            response = Response(MALFORMED_BODY, status_code=status, media_type="application/json")
        else:
            response = _json(status, body)
        response.headers.update(self._limit_headers(limits))
        retry_after = getattr(request.state, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(int(math.ceil(retry_after)))
            if status == 429:
                response.headers["X-Rate-Limit-Problem"] = "minute"
        return response

    async def _run(self, request: Request, tenant_id: str, key: str | None, work, call: Call) -> tuple[int, Any, int]:
        await request.body()  # read now: is_disconnected() below must not swallow the body
        fault = self.chaos.draw() if self.chaos is not None else None
        if fault is not None:
            call.fault = fault.kind
            if fault.refusal_status is not None:
                return self._refuse(request, fault)
            if not fault.work_done:
                return await self._go_wrong(request, fault, 499, {})
        injection = self._take_injection(request.url.path)
        if injection and injection.kind == "fail":
            if injection.retry_after_s is not None:
                request.state.retry_after = injection.retry_after_s
            return injection.status, {"Title": "Service Unavailable", "Status": injection.status}, 0
        if injection and injection.kind == "delay":
            await asyncio.sleep(injection.seconds)
            if await request.is_disconnected():
                return 499, {"Title": "Client gone"}, 0
        if key and request.method in ("POST", "PUT"):
            slot = (tenant_id, key)
            digest = hashlib.sha256(f"{request.method} {request.url}".encode() + await request.body()).hexdigest()
            remembered = self._remembered(slot)
            if remembered == "pending":
                return 409, {"Title": "Conflict", "Detail": "A request with this Idempotency-Key is in progress."}, 0
            if remembered is not None:
                if remembered[3] != digest:
                    # Like Xero: one key names one request; another body under it is refused.
                    self.key_reuses += 1
                    return 400, {"Title": "Bad Request", "Status": 400,
                                 "Detail": "Idempotency key reused with a different request"}, 0
                call.replayed = True
                return remembered[1], remembered[2], 0
            self._idempotent[slot] = None  # in progress
            try:
                status, body, n = await work(self.books[tenant_id])
            except BaseException:
                self._idempotent.pop(slot, None)
                raise
            if status < 500:
                self._idempotent[slot] = (time.monotonic() + self.idempotency_ttl_s, status, body, digest)
            else:
                self._idempotent.pop(slot, None)
        else:
            status, body, n = await work(self.books[tenant_id])
        if injection and injection.kind == "kill":
            request.state.lose_response = True
        if fault is not None:
            return await self._go_wrong(request, fault, status, body, n)
        return status, body, n

    def _refuse(self, request: Request, fault: Fault) -> tuple[int, Any, int]:
        if fault.kind == "429":
            request.state.retry_after = self.chaos.retry_after_s
            return 429, {"Title": "Too Many Requests", "Status": 429}, 0
        title = "Internal Server Error" if fault.kind == "500" else "Bad Gateway"
        return fault.refusal_status, {"Title": title, "Status": fault.refusal_status}, 0

    async def _go_wrong(self, request: Request, fault: Fault, status: int, body: Any, n: int = 0):
        """After the work (or instead of it): an answer that hangs, drops, or is not JSON."""
        if fault.kind == "timeout":
            request.state.hang = True  # after the call leaves the in-flight count: the work is over
        elif fault.kind == "reset":
            request.state.lose_response = True
        elif fault.kind == "malformed":
            request.state.malformed = True
        return status, body, n

    def _remembered(self, slot: tuple[str, str]):
        if slot not in self._idempotent:
            return None
        entry = self._idempotent[slot]
        if entry is None:
            return "pending"
        if entry[0] < time.monotonic():
            del self._idempotent[slot]
            return None
        return entry

    def _take_injection(self, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.remaining > 0 and path.startswith(injection.path_prefix):
                if injection.skip > 0:
                    injection.skip -= 1
                    continue
                injection.remaining -= 1
                return injection
        return None

    def _over_limit(self, limits: _Limits) -> Response | None:
        now = time.monotonic()
        while limits.window and limits.window[0] <= now - self.window_s:
            limits.window.popleft()
        if limits.day_used >= self.per_day:
            return self._too_many("day", self.day_retry_after_s, limits)
        if limits.in_flight >= self.concurrent:
            return self._too_many("concurrent", 1, limits)
        if len(limits.window) >= self.per_minute:
            return self._too_many("minute", max(1, math.ceil(limits.window[0] + self.window_s - now)), limits)
        return None

    def _too_many(self, problem: str, retry_after_s: float, limits: _Limits) -> Response:
        response = _json(429, {"Title": "Too Many Requests", "Status": 429})
        response.headers.update(self._limit_headers(limits))
        response.headers["Retry-After"] = str(int(math.ceil(retry_after_s)))
        response.headers["X-Rate-Limit-Problem"] = problem
        return response

    def _limit_headers(self, limits: _Limits) -> dict[str, str]:
        return {
            "X-DayLimit-Remaining": str(max(0, self.per_day - limits.day_used)),
            "X-MinLimit-Remaining": str(max(0, self.per_minute - len(limits.window))),
            "X-AppMinLimit-Remaining": "9999",
        }

    def _limits_of(self, tenant_id: str) -> _Limits:
        return self._limits.setdefault(tenant_id, _Limits())

    def _check_auth(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if token in self.expired_tokens:
            return _json(401, {"Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired: token expired"})
        if not token or (self.check_tokens and token not in self.access_tokens):
            return _json(401, {"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"})
        return None

    def expire_access_tokens(self) -> None:
        """Every access token issued so far now answers 401 TokenExpired (refresh tokens still work)."""
        self.expired_tokens |= self.access_tokens
        self.access_tokens.clear()

    # --- identity -------------------------------------------------------------------------------

    async def _connections(self, request: Request) -> Response:
        self.calls.append(Call("GET", "/connections", None, 200))
        refusal = self._check_auth(request)
        if refusal is not None:
            self.calls[-1].status = refusal.status_code
            return refusal
        return _json(200, [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, b.tenant_id)),
                "authEventId": str(uuid.uuid4()),
                "tenantId": b.tenant_id,
                "tenantType": "ORGANISATION",
                "tenantName": b.name,
                "createdDateUtc": "2026-01-01T00:00:00.0000000",
                "updatedDateUtc": "2026-01-01T00:00:00.0000000",
            }
            for b in self.books.values()
        ])

    async def _disconnect(self, request: Request) -> Response:
        gone = [t for t in self.books if str(uuid.uuid5(uuid.NAMESPACE_URL, t)) == request.path_params["connection_id"]]
        for tenant_id in gone:
            del self.books[tenant_id]
        return Response(status_code=204 if gone else 404)

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        code = f"code-{secrets.token_hex(8)}"
        if q.get("code_challenge"):
            if q.get("code_challenge_method") != "S256":
                return _json(400, {"error": "invalid_request"})
            self.code_challenges[code] = q["code_challenge"]
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}", 302)

    async def _token(self, request: Request) -> Response:
        self.calls.append(Call("POST", "/connect/token", None, 200))
        injection = self._take_injection("/connect/token")
        if injection and injection.kind == "fail":
            self.calls[-1].status = injection.status
            return _json(injection.status, {"error": "server_error"})
        form = await _form(request)
        if not self._client_ok(request, form):
            self.calls[-1].status = 401
            return _json(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code" and form.get("code"):
            challenge = self.code_challenges.pop(str(form["code"]), None)
            verifier = str(form.get("code_verifier") or "")
            if challenge is not None and _s256(verifier) != challenge:
                self.calls[-1].status = 400
                return _json(400, {"error": "invalid_grant"})
            return _json(200, self.issue_tokens())
        if grant == "refresh_token":
            old = str(form.get("refresh_token") or "")
            if old not in self.live_refresh_tokens:
                self.calls[-1].status = 400
                return _json(400, {"error": "invalid_grant"})
            self.live_refresh_tokens.discard(old)
            self.used_refresh_tokens.add(old)
            self.refresh_count += 1
            return _json(200, self.issue_tokens())
        self.calls[-1].status = 400
        return _json(400, {"error": "unsupported_grant_type"})

    async def _revoke(self, request: Request) -> Response:
        form = await _form(request)
        token = str(form.get("token") or "")
        self.revoked_tokens.append(token)
        self.live_refresh_tokens.discard(token)
        self.access_tokens.discard(token)
        return Response(status_code=200)

    def _client_ok(self, request: Request, form) -> bool:
        if self.client_id is None:
            return True
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        else:
            user, password = form.get("client_id"), form.get("client_secret")
        return user == self.client_id and password == self.client_secret


PAGE_SIZE = 100
NUMBER_FIELDS = {"Invoices": "InvoiceNumber", "CreditNotes": "CreditNoteNumber", "PurchaseOrders": "PurchaseOrderNumber"}


def _numbers_asked(request: Request, in_path: str | None) -> set[str] | None:
    """The document numbers a GET filters on: a path number, InvoiceNumbers, or a where clause of
    `Field=="…" OR …` (the only form of `where` this fake understands)."""
    if in_path is not None:
        return {in_path}
    if "InvoiceNumbers" in request.query_params:
        return set(request.query_params["InvoiceNumbers"].split(","))
    where = request.query_params.get("where")
    if where:
        return {m.group(1).replace('\\"', '"') for m in re.finditer(r'Number=="((?:[^"\\]|\\.)*)"', where)}
    return None


def _ids_asked(request: Request, id_field: str) -> set[str] | None:
    """Ids a `where` of `<IdField>==Guid("…") OR …` asks for (how credit notes are read by id)."""
    where = request.query_params.get("where") or ""
    found = re.findall(rf'{id_field}==Guid\("([0-9a-fA-F-]+)"\)', where)
    return set(found) if found else None


def _stamp(value: str | None) -> float:
    """Seconds since the epoch of Xero's "/Date(ms+0000)/" or of an ISO time (If-Modified-Since)."""
    if not value:
        return 0.0
    match = re.fullmatch(r"/Date\((\d+)(?:[+-]\d{4})?\)/", value)
    if match:
        return int(match.group(1)) / 1000
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def _form(request: Request) -> dict[str, str]:
    # Parsed by hand: Starlette's form parser needs python-multipart, which the project lacks.
    return dict(parse_qsl((await request.body()).decode()))


def _s256(verifier: str) -> str:
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _json(status: int, body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class _InProcessTransport(httpx.AsyncBaseTransport):
    def __init__(self, fake: FakeXero) -> None:
        self._asgi = httpx.ASGITransport(app=fake)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            if read_timeout is None:
                return await self._asgi.handle_async_request(request)
            return await asyncio.wait_for(self._asgi.handle_async_request(request), read_timeout)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("fake Xero did not answer in time", request=request) from exc
        except ResponseLost as exc:
            raise httpx.RemoteProtocolError("connection closed before the full answer", request=request) from exc

    async def aclose(self) -> None:
        await self._asgi.aclose()


def main() -> None:
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Run a fake Xero for benchmarks and end-to-end tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--tenant", default="Demo Company (UK)")
    parser.add_argument("--tenant-id", default=None)
    parser.add_argument("--per-minute", type=int, default=60)
    parser.add_argument("--concurrent", type=int, default=5)
    args = parser.parse_args()
    fake = FakeXero(per_minute=args.per_minute, concurrent=args.concurrent)
    print("tenant", fake.add_tenant(args.tenant, tenant_id=args.tenant_id), flush=True)
    uvicorn.run(fake, host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
