"""A fake QuickBooks Online that behaves like the real one where the connector can tell the difference.

It speaks what the connector uses: `POST /v3/company/{realm}/batch` (≤ 30 create, update, void
and delete operations, each answered by bId; void only for SalesReceipt and Invoice, delete only for
transactions, refused in a closed period and for an invoice with payments applied), `GET …/query` (select * from X where F in (…) / F = '…'),
`GET …/preferences`, `GET …/companyinfo/{realm}`, and Intuit's OAuth endpoints (an authorize page
that redirects with code, state and realmId; the token endpoint with rotating refresh tokens; the
revoke endpoint), all on one host: point every QUICKBOOKS_*_URL at it.

Per company (realm) it keeps objects with their SyncTokens, refuses a stale SyncToken (5010), an
unknown Id (610), a DisplayName shared by a customer, vendor or employee (6240), an item Name in
use (6240), a DocNumber over 21 characters or already used (6140), references to objects,
accounts, payment methods or tax codes the company lacks (2500), and item lines whose Amount is
not Qty × UnitPrice (6000). US companies take TaxCodeRef TAX/NON; others their TaxCode Ids.
It enforces Intuit's three limits (500 requests a minute, 10 in flight, 40 batch calls a minute)
with 429 and the XML throttle body, and honours `requestid`: one id is one body, answered again
as first answered. Failures can be injected: 5xx, delays (client time-outs), lost answers, a Fault
with HTTP 200, throttling, and an edit made in QuickBooks (the next update goes stale).

In-process:   fake = FakeQuickBooks(); realm = fake.add_realm(); QuickBooksConnector(s, transport=fake.transport())
Over TCP:     with fake.serve() as base_url: ...   (uvicorn in a thread)
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.chaos import MALFORMED_BODY, Chaos, Fault
from tests.fakes.deliveries import Deliveries, intuit_cloud_events
from tests.fakes.fake_xero import ResponseLost, _InProcessTransport
from tests.fakes.quickbooks_companies import KINDS, US, CompanyKind

ENTITIES = {"Customer", "Vendor", "Employee", "Item", "PurchaseOrder", "SalesReceipt", "Invoice", "RefundReceipt",
            "Payment", "TaxCode", "TaxRate"}
PEOPLE = ("Customer", "Vendor", "Employee")
TRANSACTIONS = ("PurchaseOrder", "SalesReceipt", "Invoice", "RefundReceipt", "Payment")
SALES_FORMS = ("SalesReceipt", "Invoice", "RefundReceipt")
VOIDABLE = ("SalesReceipt", "Invoice")
# The US sandbox company's accounts the default settings name, and more.
SANDBOX_ACCOUNT_LIST = list(US.accounts)
CENT = Decimal("0.01")
THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2026-11-27T10:00:00.000-08:00">'
    '<Fault type="SERVICE"><Error code="003001"><Message>message=ThrottleExceeded; errorCode=003001; '
    "statusCode=429</Message><Detail>The request limit was reached.</Detail></Error></Fault></IntuitResponse>"
)


@dataclass
class Call:
    method: str
    path: str
    realm: str | None
    status: int
    kind: str = "other"  # batch, query, preferences, companyinfo, token, revoke
    operations: int = 0
    requestid: str | None = None
    minorversion: str | None = None
    accept: str | None = None
    replayed: bool = False
    fault: str | None = None  # the injected fault this call met (see chaos.py)
    at: float = field(default_factory=time.time)  # when it arrived (unix seconds)


@dataclass
class _Injection:
    kind: str  # fail, delay, stall, kill, fault200, throttle
    remaining: int
    status: int = 503
    seconds: float = 0.0


@dataclass
class Company:
    realm: str
    name: str
    us: bool
    kind: CompanyKind = US  # its chart, payment methods and tax codes (tests/fakes/quickbooks_companies.py)
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    # Ids are numbered per sequence, not per company: transactions share one, names (customers,
    # vendors, employees) another, items their own, so a Customer and an Item may share an Id.
    next_id: dict[str, int] = field(default_factory=dict)
    closed_until: str | None = None  # the books' closing date (ISO), if set
    accounts: set[str] = field(default_factory=set)  # the Ids of the company's active accounts
    added_accounts: list[tuple[str, str, str]] = field(default_factory=list)  # (Id, Name, AccountType)
    # (epoch seconds, entity, Id) of every change, deletions included: what Change Data Capture reads.
    changes: list[tuple[float, str, str]] = field(default_factory=list)
    deleted: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # CDC's tombstones

    def changed(self, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("MetaData", {})["LastUpdatedTime"] = _now()
        self.changes.append((time.time(), entity, str(obj["Id"])))
        return obj

    def all(self, entity: str) -> list[dict[str, Any]]:
        return list(self.objects[entity].values())

    def created(self, entity: str) -> list[dict[str, Any]]:
        """What was created through the API: all but the items the company started with."""
        starting = {row[0] for row in self.kind.items} if entity == "Item" else set()
        return [o for o in self.all(entity) if o["Id"] not in starting]

    def uses_payment_method(self, method_id: str) -> bool:
        return any(i == method_id and active for i, _, _, active in self.kind.payment_methods)

    def sales_rate(self, code: str | None) -> Decimal | None:
        """The percent a TaxCode adds on a sales line: the sum of its sales rates; None when the code
        is unknown, inactive or has no sales rates (a purchase-only code)."""
        found = self.objects["TaxCode"].get(str(code))
        if found is None or found.get("Active") is False or "SalesTaxRateList" not in found:
            return None
        ids = [d["TaxRateRef"]["value"] for d in found["SalesTaxRateList"]["TaxRateDetail"]]
        return sum((Decimal(str(self.objects["TaxRate"][i]["RateValue"])) for i in ids), Decimal(0))

    def takes_tax_code(self, code: str, *, sales: bool) -> bool:
        found = self.objects["TaxCode"].get(str(code))
        wanted = "SalesTaxRateList" if sales else "PurchaseTaxRateList"
        return found is not None and found.get("Active") is not False and wanted in found


@dataclass
class _Limits:
    window: deque[float] = field(default_factory=deque)
    batches: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    most_in_flight: int = 0  # the highest it ever was, for tests


class Refused(Exception):
    def __init__(self, code: str, message: str, detail: str, element: str = "") -> None:
        super().__init__(message)
        self.error = {"Message": message, "Detail": detail, "code": code, "element": element}


class FakeQuickBooks:
    def __init__(self, *, per_minute: int = 500, concurrent: int = 10, batches_per_minute: int = 40,
                 window_s: float = 60.0, client_id: str | None = None, client_secret: str | None = None,
                 check_tokens: bool = False, requestid_ttl_s: float = 3600.0, chaos: Chaos | None = None) -> None:
        self.chaos = chaos  # a seeded share of API calls goes wrong (see chaos.py)
        self.per_minute, self.concurrent, self.batches_per_minute = per_minute, concurrent, batches_per_minute
        self.window_s = window_s
        self.client_id, self.client_secret = client_id, client_secret
        self.check_tokens = check_tokens
        self.requestid_ttl_s = requestid_ttl_s
        self.companies: dict[str, Company] = {}
        self.calls: list[Call] = []
        self.access_tokens: set[str] = set()
        self.expired_tokens: set[str] = set()
        self.live_refresh_tokens: set[str] = set()
        self.revoked_tokens: list[str] = []
        self.refresh_count = 0
        self.pending_realm: str | None = None  # the company the next consent grants
        self._limits: dict[str, _Limits] = {}
        self._requests: dict[tuple[str, str], tuple[float, str, int, Any]] = {}
        self._injections: list[_Injection] = []
        self._payment_answers_to_lose = 0
        # Where the bookkeeper's changes are delivered (CloudEvents), signed with the verifier token.
        self.deliveries = Deliveries("intuit-signature")
        base = "/v3/company/{realm}"
        self._app = Starlette(routes=[
            Route(f"{base}/batch", self._batch, methods=["POST"]),
            Route(f"{base}/query", self._query, methods=["GET"]),
            Route(f"{base}/cdc", self._cdc, methods=["GET"]),
            Route(f"{base}/preferences", self._preferences, methods=["GET"]),
            Route(f"{base}/companyinfo/{{other}}", self._companyinfo, methods=["GET"]),
            Route("/connect/oauth2", self._authorize, methods=["GET"]),
            Route("/oauth2/v1/tokens/bearer", self._token, methods=["POST"]),
            Route("/v2/oauth2/tokens/revoke", self._revoke, methods=["POST"]),
        ])

    # --- setting up -----------------------------------------------------------------------------

    def add_realm(self, name: str = "Sandbox Company_US_1", *, us: bool = True, realm: str | None = None,
                  country: str | None = None) -> str:
        """A company of one kind (US, GB or AU, see quickbooks_companies.py); `us` alone picks US or GB."""
        kind = KINDS[country or ("US" if us else "GB")]
        realm = realm or str(9130350000000000 + len(self.companies) + secrets.randbelow(10**6))
        company = self.companies[realm] = Company(realm, name, kind.us, kind, accounts={a[0] for a in kind.accounts})
        # Its tax codes, each referring to its sales and purchase TaxRates by Id (read-only here).
        for code, (code_name, sales, purchase, active) in kind.tax_codes.items():
            obj: dict[str, Any] = {"Id": code, "Name": code_name, "Active": active,
                                   "Taxable": bool(sales or purchase)}
            for side, rate, list_name in (("sales", sales, "SalesTaxRateList"),
                                          ("purchase", purchase, "PurchaseTaxRateList")):
                if rate is None:
                    continue
                rate_id = f"{code}{0 if side == 'sales' else 1}"
                company.objects["TaxRate"][rate_id] = {"Id": rate_id, "Name": f"{code_name} ({side})",
                                                       "RateValue": float(rate), "Active": active}
                obj[list_name] = {"TaxRateDetail": [{"TaxRateRef": {"value": rate_id}}]}
            company.objects["TaxCode"][code] = obj
        for item_id, item_name, item_type, income, active in kind.items:
            company.objects["Item"][item_id] = {"Id": item_id, "Name": item_name, "Type": item_type, "Active": active,
                                                "IncomeAccountRef": {"value": income}, "SyncToken": "0"}
        self.pending_realm = self.pending_realm or realm
        return realm

    def add_account(self, realm: str, account_id: str, name: str, account_type: str) -> str:
        """An account the shop added to its chart (a gift card clearing account, a rounding account…)."""
        self.companies[realm].accounts.add(account_id)
        self.companies[realm].added_accounts.append((account_id, name, account_type))
        return account_id

    def lose_payment_answers(self, n: int = 1) -> None:
        """The next n batch calls that create a Payment do their work, then the answer is lost."""
        self._payment_answers_to_lose += n

    def add_employee(self, realm: str, display_name: str) -> str:
        return self._store(self.companies[realm], "Employee", {"DisplayName": display_name})["Id"]

    def issue_tokens(self) -> dict[str, Any]:
        access, refresh = f"qat-{secrets.token_hex(16)}", f"qrt-{secrets.token_hex(16)}"
        self.access_tokens.add(access)
        self.live_refresh_tokens.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "token_type": "bearer", "expires_in": 3600,
                "x_refresh_token_expires_in": 8726400}

    def expire_access_tokens(self) -> None:
        self.expired_tokens |= self.access_tokens
        self.access_tokens.clear()

    def edit_in_quickbooks(self, realm: str, entity: str, object_id: str, **fields: Any) -> None:
        """Someone changed the object in QuickBooks: its SyncToken moves on."""
        obj = self.companies[realm].objects[entity][object_id]
        obj.update(fields)
        obj["SyncToken"] = str(int(obj["SyncToken"]) + 1)
        self.companies[realm].changed(entity, obj)

    # --- the bookkeeper, working in QuickBooks (each change is delivered as a CloudEvent) ---------

    async def bookkeeper_edits(self, realm: str, entity: str, object_id: str, **fields: Any) -> None:
        self.edit_in_quickbooks(realm, entity, object_id, **fields)
        await self.deliveries.send(intuit_cloud_events(realm, entity, object_id, "updated"))

    async def bookkeeper_deletes(self, realm: str, entity: str, object_id: str) -> None:
        """Deleted by hand (a transaction), or made inactive (a name: QuickBooks calls it deleted)."""
        company = self.companies[realm]
        obj = company.objects[entity][object_id]
        if entity in PEOPLE or entity == "Item":
            obj.update(Active=False, SyncToken=str(int(obj["SyncToken"]) + 1))
            company.changed(entity, obj)
        else:
            del company.objects[entity][object_id]
            self._tombstone(company, entity, object_id)
        await self.deliveries.send(intuit_cloud_events(realm, entity, object_id, "deleted"))

    async def bookkeeper_voids(self, realm: str, entity: str, object_id: str) -> None:
        obj = self.companies[realm].objects[entity][object_id]
        self._undo(self.companies[realm], entity, "void", {"Id": object_id, "SyncToken": obj["SyncToken"]})
        await self.deliveries.send(intuit_cloud_events(realm, entity, object_id, "voided"))

    @staticmethod
    def _tombstone(company: Company, entity: str, object_id: str) -> None:
        company.deleted[(entity, object_id)] = {"Id": object_id, "status": "Deleted", "domain": "QBO",
                                                "MetaData": {"LastUpdatedTime": _now()}}
        company.changes.append((time.time(), entity, object_id))

    # --- failure injection ----------------------------------------------------------------------

    def fail_next(self, n: int = 1, *, status: int = 503) -> None:
        self._injections.append(_Injection("fail", n, status=status))

    def delay_next(self, n: int = 1, *, seconds: float = 5.0) -> None:
        """The next n batch calls wait before working; a client that gave up meanwhile changes nothing."""
        self._injections.append(_Injection("delay", n, seconds=seconds))

    def stall_next(self, n: int = 1, *, seconds: float = 5.0) -> None:
        """The next n batch calls do their work, then wait before answering (a worker killed
        meanwhile never learns what they did)."""
        self._injections.append(_Injection("stall", n, seconds=seconds))

    def kill_next(self, n: int = 1) -> None:
        """The next n batch calls do their work, then the answer is lost."""
        self._injections.append(_Injection("kill", n))

    def fault_next(self, n: int = 1) -> None:
        """The next n batch calls answer HTTP 200 with a whole-call Fault (and do nothing)."""
        self._injections.append(_Injection("fault200", n))

    def throttle_next(self, n: int = 1) -> None:
        self._injections.append(_Injection("throttle", n))

    def forget_requestids(self) -> None:
        self._requests.clear()

    # --- looking inside -------------------------------------------------------------------------

    def most_in_flight(self, realm: str) -> int:
        return self._limits.setdefault(realm, _Limits()).most_in_flight

    def count(self, kind: str | None = None, *, status: int | None = None) -> int:
        return sum(1 for c in self.calls if (kind is None or c.kind == kind) and (status is None or c.status == status))

    def transport(self) -> httpx.AsyncBaseTransport:
        return _InProcessTransport(self)

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(self, host=host, port=port, log_level="critical", lifespan="off"))
        thread = threading.Thread(target=server.run, name="fake-quickbooks", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("fake QuickBooks did not start")
            time.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://{host}:{bound}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self._app(scope, receive, send)
        state = scope.setdefault("state", {})

        async def send_or_lose(message):
            if message["type"] == "http.response.start" and state.get("lose_response"):
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                await send({**message, "headers": [*headers, (b"content-length", b"100000")]})
                raise ResponseLost()
            await send(message)

        await self._app(scope, receive, send_or_lose)

    # --- API ------------------------------------------------------------------------------------

    async def _batch(self, request: Request) -> Response:
        return await self._api(request, "batch", self._do_batch)

    async def _do_batch(self, request: Request, company: Company, call: Call) -> Response:
        raw = await request.body()
        try:
            operations = json.loads(raw)["BatchItemRequest"]
        except (ValueError, KeyError, TypeError):
            return _fault(400, "2310", "Invalid or missing BatchItemRequest", "")
        call.operations = len(operations)
        if len(operations) > 30:
            return _fault(400, "6000", "A business validation error has occurred",
                          "Batch has more than 30 operations.")
        rid = request.query_params.get("requestid")
        digest = hashlib.sha256(raw).hexdigest()
        if rid:
            remembered = self._requests.get((company.realm, rid))
            if remembered and remembered[0] > time.monotonic():
                if remembered[1] != digest:
                    return _fault(400, "6000", "A business validation error has occurred",
                                  "This requestid was already used with another request body.")
                call.replayed = True
                return _json(remembered[2], remembered[3])
        injection = self._take()
        if injection and injection.kind == "fault200":
            return _fault(200, "6000", "A business validation error has occurred", "Injected whole-call fault.")
        if injection and injection.kind == "delay":
            await asyncio.sleep(injection.seconds)
            if await request.is_disconnected():
                return _json(499, {})
        answers = [self._operation(company, op) for op in operations]
        body = {"BatchItemResponse": answers, "time": _now()}
        if rid:
            self._requests[(company.realm, rid)] = (time.monotonic() + self.requestid_ttl_s, digest, 200, body)
        if injection and injection.kind == "kill":
            request.state.lose_response = True
        if injection and injection.kind == "stall":
            await asyncio.sleep(injection.seconds)
        if self._payment_answers_to_lose and any("Payment" in op for op in operations):
            self._payment_answers_to_lose -= 1
            request.state.lose_response = True
        return _json(200, body)

    def _operation(self, company: Company, op: dict[str, Any]) -> dict[str, Any]:
        bid = op.get("bId")
        entity = next((k for k in op if k in ENTITIES), None)
        try:
            if entity in ("TaxCode", "TaxRate"):
                raise Refused("2010", "Request has invalid or unsupported property", "Use the TaxService endpoint.")
            if entity is None or op.get("operation") not in ("create", "update", "void", "delete"):
                raise Refused("2010", "Request has invalid or unsupported property", "Unknown operation or entity.")
            if op["operation"] in ("void", "delete"):
                stored = self._undo(company, entity, op["operation"], op[entity])
            else:
                stored = self._write(company, entity, op["operation"], copy.deepcopy(op[entity]))
        except Refused as refused:
            return {"bId": bid, "Fault": {"Error": [refused.error], "type": "ValidationFault"}}
        self._echo(company, entity, op["operation"], stored)
        return {"bId": bid, entity: copy.deepcopy(stored)}

    def _echo(self, company: Company, entity: str, operation: str, stored: dict[str, Any]) -> None:
        """Intuit's webhooks report changes made through the API too, the invoices a payment was
        applied to included (QuickBooks saves those again)."""
        word = {"create": "created", "update": "updated", "void": "voided", "delete": "deleted"}[operation]
        events = intuit_cloud_events(company.realm, entity, str(stored["Id"]), word)
        if entity == "Payment":
            for line in stored.get("Line") or []:
                for linked in line.get("LinkedTxn") or []:
                    events += intuit_cloud_events(company.realm, "Invoice", str(linked["TxnId"]), "updated")
        self.deliveries.echo(events)

    def _write(self, company: Company, entity: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        if operation == "update":
            current = company.objects[entity].get(str(body.get("Id")))
            if current is None or current.get("Active") is False and entity in PEOPLE:
                raise Refused("610", "Object Not Found", f"Object Not Found : Something you're trying to use has "
                              f"been made inactive. Check the fields with accounts, customers, items, vendors or "
                              f"employees. {entity} {body.get('Id')}")
            if str(body.get("SyncToken")) != current["SyncToken"]:
                raise Refused("5010", "Stale Object Error", f"Stale Object Error : You and {company.name} were "
                              "working on this at the same time. Try again.")
            if entity == "Payment":
                raise Refused("6000", "A business validation error has occurred",
                              "This fake takes no Payment updates: delete the payment and create another.")
            merged = {**current, **{k: v for k, v in body.items() if k not in ("sparse", "SyncToken")}}
            self._validate(company, entity, merged, exclude=current["Id"])
            if entity in SALES_FORMS:
                self._compute_totals(company, entity, merged)
            merged["SyncToken"] = str(int(current["SyncToken"]) + 1)
            company.objects[entity][current["Id"]] = company.changed(entity, merged)
            return merged
        if "Id" in body:
            raise Refused("2010", "Request has invalid or unsupported property", "Id is not allowed on create.")
        self._validate(company, entity, body, exclude=None)
        return self._store(company, entity, body)

    def _undo(self, company: Company, entity: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """Void (SalesReceipt, Invoice) or delete (transactions only; names are made inactive instead)."""
        allowed = VOIDABLE if operation == "void" else TRANSACTIONS
        if entity not in allowed:
            raise Refused("2010", "Request has invalid or unsupported property",
                          f"Operation {operation} is not supported for {entity}.")
        current = company.objects[entity].get(str(body.get("Id")))
        if current is None:
            raise Refused("610", "Object Not Found", f"Object Not Found : Something you're trying to use has been "
                          f"made inactive. {entity} {body.get('Id')}")
        if str(body.get("SyncToken")) != current["SyncToken"]:
            raise Refused("5010", "Stale Object Error", f"Stale Object Error : You and {company.name} were "
                          "working on this at the same time. Try again.")
        if company.closed_until and str(current.get("TxnDate") or "9999") <= company.closed_until:
            raise Refused("6210", "Account Period Closed", "The account period has closed and the books are "
                          "locked. Change the closing date in Account and settings.")
        if entity == "Invoice" and current.get("LinkedTxn"):
            raise Refused("6000", "A business validation error has occurred", "This invoice has payments "
                          "applied to it. Remove the payments before voiding it.")
        if operation == "delete":
            del company.objects[entity][current["Id"]]
            if entity == "Payment":
                self._apply_payment(company, current, applied=False)
            self._tombstone(company, entity, current["Id"])
            return {"Id": current["Id"], "status": "Deleted", "domain": "QBO"}
        # QuickBooks keeps a voided document with its lines at zero and says so in its note.
        current["Line"] = [{**line, "Amount": 0.0} for line in current.get("Line", [])]
        current["TotalAmt"] = 0.0
        current["PrivateNote"] = "Voided" + (f" - {current['PrivateNote']}" if current.get("PrivateNote") else "")
        current["SyncToken"] = str(int(current["SyncToken"]) + 1)
        return company.changed(entity, current)

    def close_books(self, realm: str, until: str) -> None:
        """Set the closing date: voids and deletes of transactions dated on or before it are refused (6210)."""
        self.companies[realm].closed_until = until

    def _store(self, company: Company, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        sequence = "transactions" if entity in TRANSACTIONS else "names" if entity in PEOPLE else entity
        company.next_id[sequence] = company.next_id.get(sequence, 100) + 1
        body = {**body, "Id": str(company.next_id[sequence]), "SyncToken": "0", "domain": "QBO",
                "MetaData": {"CreateTime": _now(), "LastUpdatedTime": _now()}}
        if entity in SALES_FORMS:
            self._compute_totals(company, entity, body)
        elif entity == "PurchaseOrder":
            body["TotalAmt"] = float(sum(Decimal(str(line.get("Amount", 0))) for line in body.get("Line", [])))
        company.objects[entity][body["Id"]] = body
        if entity == "Payment":
            self._apply_payment(company, body)
        company.changes.append((time.time(), entity, body["Id"]))
        return body

    def _compute_totals(self, company: Company, entity: str, body: dict[str, Any]) -> None:
        """Tax and totals the way QuickBooks works them out: tax per line, each line's tax rounded to
        the cent, then summed (Intuit: "QuickBooks Online will always calculate line-by-line").

        TaxInclusive: a line's Amount includes its tax, the tax is the part of it at the line's rate;
        TaxExcluded: the tax is added on top. A discount line lowers the total by its amount. A US
        company's automated sales tax is not modelled (the sandbox does not compute it either).
        An Invoice's Balance is its total less the payments applied to it.
        """
        inclusive = body.get("GlobalTaxCalculation") == "TaxInclusive"
        total, tax = Decimal(0), Decimal(0)
        for line in body.get("Line") or []:
            amount = Decimal(str(line.get("Amount", 0))).quantize(CENT, rounding=ROUND_HALF_UP)
            if line.get("DetailType") == "DiscountLineDetail":
                total -= amount
                continue
            if line.get("DetailType") != "SalesItemLineDetail":
                continue
            code = ((line.get("SalesItemLineDetail") or {}).get("TaxCodeRef") or {}).get("value")
            rate = Decimal(0) if company.us or code is None else company.sales_rate(code) or Decimal(0)
            if inclusive:
                line_tax = (amount * rate / (100 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
                total += amount
            else:
                line_tax = (amount * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
                total += amount + line_tax
            tax += line_tax
        body["TotalAmt"] = float(total)
        if not company.us:
            body["TxnTaxDetail"] = {"TotalTax": float(tax)}
        if entity == "Invoice":
            body["Balance"] = float(total - self._applied_to(company, body.get("Id")))
        elif entity == "SalesReceipt":
            body["Balance"] = 0.0

    def _applied_to(self, company: Company, invoice_id: str | None) -> Decimal:
        return sum((Decimal(str(line.get("Amount", 0))) for payment in company.all("Payment")
                    for line in payment.get("Line") or []
                    if any(t.get("TxnId") == invoice_id for t in line.get("LinkedTxn") or [])), Decimal(0))

    def _validate_payment(self, company: Company, body: dict[str, Any]) -> None:
        if "CustomerRef" not in body:
            raise Refused("6000", "A business validation error has occurred", "A payment needs a customer.")
        self._exists(company, "Customer", body["CustomerRef"])
        if body.get("TotalAmt") is None:
            raise Refused("6000", "A business validation error has occurred", "Payment TotalAmt is required.")
        applied = Decimal(0)
        for line in body.get("Line") or []:
            amount = Decimal(str(line.get("Amount", 0)))
            applied += amount
            for linked in line.get("LinkedTxn") or []:
                invoice = company.objects["Invoice"].get(str(linked.get("TxnId")))
                if linked.get("TxnType") != "Invoice" or invoice is None:
                    raise _invalid_ref("Invoice", linked.get("TxnId"))
                if invoice.get("CustomerRef", {}).get("value") != body["CustomerRef"]["value"]:
                    raise Refused("6000", "A business validation error has occurred",
                                  "The payment's customer is not the invoice's customer.")
                if amount > Decimal(str(invoice.get("Balance", 0))) + Decimal("0.001"):
                    raise Refused("6000", "A business validation error has occurred",
                                  "The payment amount is more than the invoice's open balance.")
        if applied > Decimal(str(body["TotalAmt"])) + Decimal("0.001"):
            raise Refused("6000", "A business validation error has occurred",
                          "The amounts applied come to more than the payment's TotalAmt.")

    def _apply_payment(self, company: Company, payment: dict[str, Any], *, applied: bool = True) -> None:
        """Applying a payment lowers the invoice's Balance and links the two; deleting it undoes that."""
        for line in payment.get("Line") or []:
            for linked in line.get("LinkedTxn") or []:
                invoice = company.objects["Invoice"][str(linked["TxnId"])]
                invoice["Balance"] = float(Decimal(str(invoice["TotalAmt"])) - self._applied_to(company, invoice["Id"]))
                others = [t for t in invoice.get("LinkedTxn") or [] if t.get("TxnId") != payment["Id"]]
                if applied:
                    others.append({"TxnId": payment["Id"], "TxnType": "Payment"})
                invoice["LinkedTxn"] = others
                # QuickBooks saves the invoice again: its SyncToken and time of change move on.
                invoice["SyncToken"] = str(int(invoice["SyncToken"]) + 1)
                company.changed("Invoice", invoice)

    def _validate(self, company: Company, entity: str, body: dict[str, Any], *, exclude: str | None) -> None:
        if entity in PEOPLE:
            name = str(body.get("DisplayName") or "").strip()
            if not name:
                raise Refused("6000", "A business validation error has occurred", "DisplayName is required.")
            for other in PEOPLE:
                for obj in company.all(other):
                    itself = other == entity and obj["Id"] == exclude  # ids are per entity
                    if not itself and str(obj.get("DisplayName", "")).lower() == name.lower():
                        raise Refused("6240", "Duplicate Name Exists Error", "The name supplied already exists. : "
                                      "Another customer, vendor or employee is already using this name. Please use "
                                      "a different name.", "DisplayName")
        if entity == "Item":
            self._validate_item(company, body, exclude)
        if entity == "Payment":
            self._validate_payment(company, body)
            for ref in ("DepositToAccountRef", "PaymentMethodRef"):
                if ref in body and ref == "DepositToAccountRef":
                    self._account(body[ref], company)
                elif ref in body and not company.uses_payment_method(body[ref]["value"]):
                    raise _invalid_ref("PaymentMethod", body[ref]["value"])
        elif entity in TRANSACTIONS:
            self._validate_transaction(company, entity, body, exclude)

    def _validate_item(self, company: Company, body: dict[str, Any], exclude: str | None) -> None:
        name = str(body.get("Name") or "")
        if not name or len(name) > 100:
            raise Refused("6000", "A business validation error has occurred", "Item Name is required (≤ 100).")
        if any(o["Id"] != exclude and o.get("Name", "").lower() == name.lower() for o in company.all("Item")):
            raise Refused("6240", "Duplicate Name Exists Error", "The name supplied already exists. : Another "
                          "product or service is already using this name. Please use a different name.", "Name")
        for ref in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
            if ref in body:
                self._account(body[ref], company)
        if body.get("Type") == "Inventory":
            missing = [f for f in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef", "QtyOnHand",
                                   "InvStartDate") if f not in body]
            if missing or body.get("TrackQtyOnHand") is not True:
                raise Refused("6000", "A business validation error has occurred",
                              f"Inventory items need {', '.join(missing) or 'TrackQtyOnHand'}.")
        if not company.us:
            for ref, sales in (("SalesTaxCodeRef", True), ("PurchaseTaxCodeRef", False)):
                if ref in body and not company.takes_tax_code(body[ref]["value"], sales=sales):
                    raise _invalid_ref("TaxCode", body[ref]["value"])

    def _validate_transaction(self, company: Company, entity: str, body: dict[str, Any], exclude: str | None) -> None:
        number = body.get("DocNumber")
        if number is not None:
            if len(number) > 21:
                raise Refused("6000", "A business validation error has occurred",
                              "String length is either shorter or longer than supported by specification. "
                              "DocNumber: max 21.", "DocNumber")
            if any(o["Id"] != exclude and o.get("DocNumber") == number for o in company.all(entity)):
                raise Refused("6140", "Duplicate Document Number Error", "Duplicate Document Number Error : You "
                              "must specify a different number. This number has already been used.", "DocNumber")
        if "VendorRef" in body:
            self._exists(company, "Vendor", body["VendorRef"])
        if "CustomerRef" in body:
            self._exists(company, "Customer", body["CustomerRef"])
        elif entity == "Invoice":
            raise Refused("6000", "A business validation error has occurred", "An invoice needs a customer.")
        for ref in ("DepositToAccountRef", "APAccountRef"):
            if ref in body:
                self._account(body[ref], company)
        if "PaymentMethodRef" in body and not company.uses_payment_method(body["PaymentMethodRef"]["value"]):
            raise _invalid_ref("PaymentMethod", body["PaymentMethodRef"]["value"])
        if company.us and "GlobalTaxCalculation" in body:
            raise Refused("6000", "A business validation error has occurred",
                          "GlobalTaxCalculation is not supported for US companies.")
        for line in body.get("Line") or []:
            detail = line.get(line.get("DetailType", ""), {})
            if line.get("DetailType") in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail"):
                if "ItemRef" in detail:
                    self._exists(company, "Item", detail["ItemRef"])
                if "Qty" in detail and "UnitPrice" in detail:
                    expected = (Decimal(str(detail["Qty"])) * Decimal(str(detail["UnitPrice"]))).quantize(Decimal("0.01"))
                    if abs(expected - Decimal(str(line.get("Amount", 0)))) > Decimal("0.01"):
                        raise Refused("6000", "A business validation error has occurred",
                                      "Amount is not equal to UnitPrice * Qty.", "Line.Amount")
                code = (detail.get("TaxCodeRef") or {}).get("value")
                # A sales line needs a code with sales rates, a purchase line one with purchase rates.
                sales = line["DetailType"] == "SalesItemLineDetail"
                if code is not None and (code not in ("TAX", "NON") if company.us
                                         else not company.takes_tax_code(code, sales=sales)):
                    raise _invalid_ref("TaxCode", code)

    def _account(self, ref: dict[str, Any], company: Company) -> None:
        if str(ref.get("value")) not in company.accounts:
            raise _invalid_ref("Account", ref.get("value"))

    def _exists(self, company: Company, entity: str, ref: dict[str, Any], allow: set[str] = frozenset()) -> None:
        value = str(ref.get("value"))
        obj = company.objects[entity].get(value)
        if value in allow:
            return
        if obj is None:
            raise _invalid_ref(entity, value)
        if obj.get("Active") is False:
            raise Refused("610", "Object Not Found", f"Object Not Found : Something you're trying to use has been "
                          f"made inactive. {entity} {value}")

    async def _query(self, request: Request) -> Response:
        async def work(request: Request, company: Company, call: Call) -> Response:
            statement = request.query_params.get("query", "")
            if (listed := _company_list(company, statement)) is not None:
                return listed
            # Inactive names are answered too when asked for (`and Active in (true, false)`); this fake
            # answers them either way.
            statement = re.sub(r" and Active in \(true, ?false\)", "", statement, flags=re.I)
            match = re.match(r"select \* from (\w+) where (\w+) (in|=) \((.*)\)|select \* from (\w+) where (\w+) = "
                             r"('(?:[^'\\]|\\.)*')", statement.replace(" maxresults 1000", ""), re.I)
            if not match:
                return _fault(400, "4000", "Error parsing query", f"QueryParserError: {statement}")
            entity, fld, raw = (match.group(1), match.group(2), match.group(4)) if match.group(1) else (
                match.group(5), match.group(6), match.group(7))
            values = {v.replace("\\'", "'").replace("\\\\", "\\") for v in re.findall(r"'((?:[^'\\]|\\.)*)'", raw)}
            if entity not in ENTITIES:
                return _fault(400, "4001", "Invalid query", f"Unknown entity {entity}")
            found = [copy.deepcopy(o) for o in company.all(entity) if str(o.get(fld)) in values]
            return _json(200, {"QueryResponse": {entity: found, "startPosition": 1, "maxResults": len(found)} if found
                               else {}, "time": _now()})

        return await self._api(request, "query", work)

    async def _cdc(self, request: Request) -> Response:
        """Change Data Capture: what changed after `changedSince` (at most 30 days back), per entity."""
        async def work(request: Request, company: Company, call: Call) -> Response:
            since_text = request.query_params.get("changedSince", "")
            try:
                since = datetime.fromisoformat(since_text.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return _fault(400, "4000", "Error parsing changedSince", f"changedSince={since_text!r}")
            if since < time.time() - 30 * 86400:
                return _fault(400, "4000", "Invalid changedSince", "changedSince must be within the last 30 days.")
            entities = [e for e in request.query_params.get("entities", "").split(",") if e]
            blocks = []
            for entity in entities:
                if entity not in ENTITIES:
                    return _fault(400, "4001", "Invalid query", f"Unknown entity {entity}")
                ids = dict.fromkeys(i for at, e, i in company.changes if e == entity and at > since)
                found = [copy.deepcopy(company.objects[entity].get(i) or company.deleted[(entity, i)])
                         for i in ids if i in company.objects[entity] or (entity, i) in company.deleted][:1000]
                blocks.append({entity: found, "startPosition": 1, "maxResults": len(found)})
            return _json(200, {"CDCResponse": [{"QueryResponse": blocks}], "time": _now()})

        return await self._api(request, "query", work)

    async def _preferences(self, request: Request) -> Response:
        async def work(request: Request, company: Company, call: Call) -> Response:
            tax = {"UsingSalesTax": True, "PartnerTaxEnabled": company.us}
            return _json(200, {"Preferences": {"Id": "1", "SyncToken": "0", "TaxPrefs": tax}, "time": _now()})

        return await self._api(request, "preferences", work)

    async def _companyinfo(self, request: Request) -> Response:
        async def work(request: Request, company: Company, call: Call) -> Response:
            return _json(200, {"CompanyInfo": {"Id": "1", "CompanyName": company.name,
                                               "Country": company.kind.country}, "time": _now()})

        return await self._api(request, "companyinfo", work)

    async def _api(self, request: Request, kind: str, work) -> Response:
        realm = request.path_params["realm"]
        call = Call(request.method, request.url.path, realm, 0, kind, requestid=request.query_params.get("requestid"),
                    minorversion=request.query_params.get("minorversion"), accept=request.headers.get("accept"))
        self.calls.append(call)
        response = self._check_auth(request)
        if response is None and realm not in self.companies:
            response = _lower_fault(403, "3100", "AuthorizationFailed", "Not authorized for this company.")
        if response is None:
            response = self._over_limit(self._limits.setdefault(realm, _Limits()), kind)
        if response is None and kind == "batch" and self._peek("throttle"):
            self._take()
            response = Response(THROTTLE_XML, status_code=429, media_type="application/xml")
        if response is None and kind == "batch" and self._peek("fail"):
            response = _fault(self._take().status, "10000", "An application error has occurred", "Injected.")
        if response is not None:
            call.status = response.status_code
            return response
        limits = self._limits[realm]
        now = time.monotonic()
        limits.window.append(now)
        if kind == "batch":
            limits.batches.append(now)
        fault = self.chaos.draw() if self.chaos is not None else None
        if fault is not None:
            call.fault = fault.kind
            if fault.refusal_status is not None:
                call.status = fault.refusal_status
                return self._refusal(fault)
        limits.in_flight += 1
        limits.most_in_flight = max(limits.most_in_flight, limits.in_flight)
        try:
            if fault is None or fault.work_done:
                response = await work(request, self.companies[realm], call)
            else:
                response = _json(499, {})
        finally:
            limits.in_flight -= 1
        response.headers["intuit_tid"] = f"1-{secrets.token_hex(8)}"
        call.status = response.status_code
        if fault is not None:
            response = await self._go_wrong(request, fault, response)
        return response

    def _refusal(self, fault: Fault) -> Response:
        if fault.kind == "429":
            return Response(THROTTLE_XML, status_code=429, media_type="application/xml",
                            headers={"Retry-After": str(self.chaos.retry_after_s)})
        if fault.kind == "502":
            return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502,
                            media_type="text/html")
        return _fault(500, "10000", "An application error has occurred", "Injected.")

    async def _go_wrong(self, request: Request, fault: Fault, response: Response) -> Response:
        """After the work (or instead of it): an answer that hangs, drops, or is not JSON."""
        if fault.kind == "timeout":
            await asyncio.sleep(self.chaos.hang_s)
        elif fault.kind == "reset":
            request.state.lose_response = True
        elif fault.kind == "malformed":
            return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
        return response

    def _over_limit(self, limits: _Limits, kind: str) -> Response | None:
        now = time.monotonic()
        for window in (limits.window, limits.batches):
            while window and window[0] <= now - self.window_s:
                window.popleft()
        over = (limits.in_flight >= self.concurrent or len(limits.window) >= self.per_minute
                or (kind == "batch" and len(limits.batches) >= self.batches_per_minute))
        return Response(THROTTLE_XML, status_code=429, media_type="application/xml") if over else None

    def _peek(self, kind: str) -> bool:
        return bool(self._injections) and self._injections[0].kind == kind and self._injections[0].remaining > 0

    def _take(self) -> _Injection | None:
        while self._injections and self._injections[0].remaining <= 0:
            self._injections.pop(0)
        if not self._injections:
            return None
        injection = self._injections[0]
        injection.remaining -= 1
        return injection

    def _check_auth(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if token in self.expired_tokens or not token or (self.check_tokens and token not in self.access_tokens):
            return _lower_fault(401, "3200", "AuthenticationFailed", "Token expired: " + token[:8])
        return None

    # --- OAuth ----------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        code = f"code-{secrets.token_hex(8)}"
        back = {"code": code, "state": q.get("state", ""), "realmId": self.pending_realm or ""}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(back)}", 302)

    async def _token(self, request: Request) -> Response:
        call = Call("POST", request.url.path, None, 200, "token")
        self.calls.append(call)
        form = dict(parse_qsl((await request.body()).decode()))
        if not self._client_ok(request, form):
            call.status = 401
            return _json(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code" and form.get("code"):
            return _json(200, self.issue_tokens())
        if grant == "refresh_token":
            old = form.get("refresh_token", "")
            if old not in self.live_refresh_tokens:
                call.status = 400
                return _json(400, {"error": "invalid_grant"})
            self.live_refresh_tokens.discard(old)  # rotated: the old one is spent
            self.refresh_count += 1
            return _json(200, self.issue_tokens())
        call.status = 400
        return _json(400, {"error": "unsupported_grant_type"})

    async def _revoke(self, request: Request) -> Response:
        self.calls.append(Call("POST", request.url.path, None, 200, "revoke"))
        if not self._client_ok(request, {}):
            return _json(401, {"error": "invalid_client"})
        token = (await request.json()).get("token", "")
        self.revoked_tokens.append(token)
        self.live_refresh_tokens.discard(token)
        return Response(status_code=200)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        if self.client_id is None:
            return True
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        else:
            user, password = form.get("client_id"), form.get("client_secret")
        return user == self.client_id and password == self.client_secret


def _invalid_ref(what: str, value: Any) -> Refused:
    return Refused("2500", "Invalid Reference Id", f"Invalid Reference Id : {what} element id {value} not found")


def _fault(status: int, code: str, message: str, detail: str) -> JSONResponse:
    body = {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
                      "type": "ValidationFault"}, "time": _now()}
    return _json(status, body)


def _lower_fault(status: int, code: str, name: str, detail: str) -> JSONResponse:
    message = f"message={name}; errorCode={code.zfill(6)}; statusCode={status}"
    return _json(status, {"fault": {"error": [{"message": message, "detail": detail, "code": code}],
                                    "type": "AUTHENTICATION"}, "time": _now()})


def _json(status: int, body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime())


# The lists a settings form reads (`select * from Account where Active in (true, false)`…): the
# company kind's own (quickbooks_companies.py), an inactive one of each among them.
# Classes and locations (the API's Department), a sub-class and an inactive one among them.
SANDBOX_TRACKING = {
    "Class": [{"Id": "100", "Name": "Retail", "FullyQualifiedName": "Retail", "Active": True},
              {"Id": "101", "Name": "Cafe", "FullyQualifiedName": "Retail:Cafe", "Active": True,
               "SubClass": True, "ParentRef": {"value": "100"}},
              {"Id": "102", "Name": "Wholesale", "FullyQualifiedName": "Wholesale", "Active": False}],
    "Department": [{"Id": "1", "Name": "High Street", "FullyQualifiedName": "High Street", "Active": True},
                   {"Id": "2", "Name": "Airport", "FullyQualifiedName": "Airport", "Active": True}],
}


def _company_list(company: Company, statement: str) -> Response | None:
    match = re.fullmatch(r"select \* from (Account|TaxCode|TaxRate|PaymentMethod|Class|Department|Item) "
                         r"where Active in \(true, ?false\)(?: startposition (\d+))?(?: maxresults (\d+))?",
                         statement.strip(), re.IGNORECASE)
    if not match:
        return None
    entity, kind = match.group(1), company.kind
    if entity == "Account":
        found = [{"Id": i, "Name": n, "AccountType": t, "Active": True} for i, n, t in kind.accounts]
        found += [{"Id": i, "Name": n, "AccountType": t, "Active": True} for i, n, t in company.added_accounts]
        found += [{"Id": i, "Name": n, "AccountType": t, "Active": False} for i, n, t in kind.inactive_accounts]
    elif entity in ("Class", "Department"):
        found = [dict(o) for o in SANDBOX_TRACKING[entity]]
    elif entity == "PaymentMethod":
        found = [{"Id": i, "Name": n, "Type": t, "Active": active} for i, n, t, active in kind.payment_methods]
    else:  # a US company with automated sales tax has none a setting names
        found = [copy.deepcopy(o) for o in company.all(entity)]
    # One page, as QuickBooks answers: from STARTPOSITION (1-based), at most MAXRESULTS (1,000 at most).
    start = int(match.group(2) or 1)
    found = found[start - 1:start - 1 + min(int(match.group(3) or 100), 1000)]
    return _json(200, {"QueryResponse": {entity: found, "startPosition": start, "maxResults": len(found)} if found
                       else {}, "time": _now()})
