"""The fault suite's programs other than the sandbox: the fake Xero and the fake QuickBooks,
served over real HTTP from the suite's own process, connected through their OAuth, and read
object by object for the checks.

The fakes keep the real limits (Xero: 60 calls a minute and 5 in flight per organisation;
QuickBooks: 500 requests and 40 batch calls a minute, 10 in flight) and their idempotency memory;
`chaos` turns on a seeded share of failing calls (tests/fakes/chaos.py).
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from app.connectors.xero.mapping import contact_number
from tests.fakes.chaos import Chaos
from tests.fakes.fake_quickbooks import FakeQuickBooks
from tests.fakes.fake_xero import FakeXero

XERO_API = "/api.xro/2.0"
XERO_BATCH = 50  # documents per Xero call
QUICKBOOKS_BATCH = 30  # operations per QuickBooks batch call
CLIENT_ID, CLIENT_SECRET = "possync-fault-suite", "fault-suite-secret"


@dataclass
class Found:
    """What the program holds for one scenario's records."""

    duplicated: int = 0
    wrong_content: int = 0
    missing: int = 0  # synced links whose object the program does not hold


class Program:
    """One fake program served for the whole suite run."""

    name: str
    calls_per_minute: int
    settings: dict[str, Any] | None = None  # the connection's sync settings, when the defaults do not fit

    def __init__(self) -> None:
        self._serving = contextlib.ExitStack()
        self.url = ""

    def start(self) -> None:
        self.url = self._serving.enter_context(self.fake.serve())

    def stop(self) -> None:
        self._serving.close()

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    async def connect(self, client: httpx.AsyncClient) -> str:
        """The OAuth dance through possync's start route, the fake's consent page and our callback."""
        created = await client.post("/v1/connections", json={"connector": self.name, "settings": self.settings})
        created.raise_for_status()
        start = urlsplit(created.json()["authorize_url"])
        to_program = await client.get(start.path, params=parse_qs(start.query))
        async with httpx.AsyncClient() as browser:
            consent = await browser.get(to_program.headers["location"])
        back = urlsplit(consent.headers["location"])
        done = await client.get(back.path, params={k: v[0] for k, v in parse_qs(back.query).items()})
        done.raise_for_status()
        if done.json().get("status") != "active":
            raise RuntimeError(f"{self.name} did not connect: {done.text}")
        return done.json()["id"]

    def chaos(self, rate: float, seed: int) -> Chaos | None:
        self.fake.chaos = Chaos(rate=rate, seed=seed) if rate else None
        return self.fake.chaos

    def api_calls(self) -> int:
        raise NotImplementedError

    def calls_by_kind(self, since: int) -> dict[str, int]:
        """Method, path and answer of the calls made since then (for reading a ratio)."""
        counts = Counter(f"{c.method} {c.path.rsplit('/', 1)[-1]} {c.status}" for c in self.fake.calls[since:])
        return dict(sorted(counts.items()))

    def faults_by_kind(self, since: int) -> Counter:
        return Counter(c.fault for c in self.fake.calls[since:] if getattr(c, "fault", None))

    def minimal_calls(self, counts: dict[str, int], synced: dict[str, int]) -> int:
        raise NotImplementedError

    def windowed_calls(self, synced: dict[str, int]) -> int:
        """Of the minimal calls, those the program's per-minute window counts."""
        return self.minimal_calls(synced, synced)

    @classmethod
    def floor_s(cls, minimal_calls: int) -> float:
        """The least time the program's own limit allows for that many calls: a full window's worth
        goes at once, and the first call of each further window's worth waits a minute more."""
        return max(0, minimal_calls - 1) // cls.calls_per_minute * 60.0

    def check(self, records: list[tuple[str, str, dict, str | None]]) -> Found:
        """records: (entity type, POS id, stored payload, external id of a synced link or None)."""
        raise NotImplementedError


class XeroProgram(Program):
    name = "xero"
    calls_per_minute = 60  # per organisation, a rolling minute

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeXero(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, check_tokens=True)
        self.tenant = self.fake.add_tenant("Fault suite (UK)", demo_chart=True)

    def env(self) -> dict[str, str]:
        return {"XERO_CLIENT_ID": CLIENT_ID, "XERO_CLIENT_SECRET": CLIENT_SECRET, "XERO_API_URL": self.url,
                "XERO_IDENTITY_URL": self.url, "XERO_LOGIN_URL": self.url}

    def api_calls(self) -> int:
        return len(self.fake.calls)

    def calls_made(self, since: int) -> int:
        return sum(1 for c in self.fake.calls[since:] if c.path.startswith(XERO_API))

    def minimal_calls(self, counts: dict[str, int], synced: dict[str, int]) -> int:
        """One call per 50 documents of each type, one per 50 sale payments, one item-code look-up."""
        documents = sum(math.ceil(n / XERO_BATCH) for n in synced.values())
        payments = math.ceil(synced.get("sale", 0) / XERO_BATCH)
        lookups = 1 if synced.get("sale") or synced.get("purchase_order") else 0
        return documents + payments + lookups

    def check(self, records: list[tuple[str, str, dict, str | None]]) -> Found:
        books = self.fake.books[self.tenant]
        contacts = _index(books.contacts.values(), "ContactNumber")
        items = _index(books.items.values(), "Code")
        orders = _index(books.purchase_orders.values(), "Reference")
        invoices = _index([*list(books.invoices.values()), *list(books.credit_notes.values())], "Reference")
        found = Found()
        for entity_type, pos_id, payload, external_id in records:
            if entity_type in ("customer", "supplier"):
                held = contacts.get(contact_number(entity_type, pos_id), [])
                right = lambda o: not payload.get("email") or o.get("EmailAddress") == payload["email"]  # noqa: E731
            elif entity_type == "product":
                held = items.get(payload["sku"], [])
                right = lambda o: _same(o.get("SalesDetails", {}).get("UnitPrice"), payload.get("price"))  # noqa: E731
            elif entity_type == "purchase_order":
                held = orders.get(f"POS {pos_id}", [])
                right = lambda o: len(o.get("LineItems") or []) == len(payload["lines"])  # noqa: E731
            elif entity_type == "sale":
                held = invoices.get(f"POS {pos_id}", [])
                right = lambda o: _paid_in_full(o, payload)  # noqa: E731
            else:
                continue  # shift reports: skipped by the default settings (sales are sent one by one)
            found.duplicated += max(0, len(held) - 1)
            if external_id is None:
                continue
            if not held:
                found.missing += 1
            elif not right(held[0]):
                found.wrong_content += 1
        return found


def _paid_in_full(invoice: dict[str, Any], sale: dict[str, Any]) -> bool:
    total = sum(Decimal(line["unit_price"]) * Decimal(line["quantity"]) for line in sale["lines"])
    payments = [p for p in invoice.get("Payments") or []]
    references = Counter(p.get("Reference") for p in payments)
    return (_same(invoice.get("Total"), total) and _same(invoice.get("AmountDue", 0), 0)
            and len(payments) == len(sale.get("payments") or []) and all(n == 1 for n in references.values()))


class QuickBooksProgram(Program):
    name = "quickbooks"
    calls_per_minute = 40  # batch calls per company; the 500 requests a minute bind later
    # The workload's three payment types (the defaults map Cash and Card only).
    settings = {"payment_types": {"Cash": {"deposit_account": "35", "payment_method": "1"},
                                  "Card": {"deposit_account": "4", "payment_method": "3"},
                                  "Gift card": {"deposit_account": "4"}}}

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeQuickBooks(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, check_tokens=True)
        self.realm = self.fake.add_realm("Fault suite", us=True)  # automated sales tax: no tax code map

    def env(self) -> dict[str, str]:
        return {"QUICKBOOKS_CLIENT_ID": CLIENT_ID, "QUICKBOOKS_CLIENT_SECRET": CLIENT_SECRET,
                "QUICKBOOKS_API_URL": self.url, "QUICKBOOKS_OAUTH_URL": f"{self.url}/oauth2/v1/tokens/bearer",
                "QUICKBOOKS_AUTHORIZE_URL": f"{self.url}/connect/oauth2",
                "QUICKBOOKS_REVOKE_URL": f"{self.url}/v2/oauth2/tokens/revoke"}

    def api_calls(self) -> int:
        return len(self.fake.calls)

    def calls_made(self, since: int) -> int:
        return sum(1 for c in self.fake.calls[since:] if c.kind in ("batch", "query", "preferences", "companyinfo"))

    def minimal_calls(self, counts: dict[str, int], synced: dict[str, int]) -> int:
        """One batch call per 30 records of each type, one read of the company's tax preferences."""
        preferences = 1 if set(synced) - {"customer", "supplier"} else 0
        return sum(math.ceil(n / QUICKBOOKS_BATCH) for n in synced.values()) + preferences

    def windowed_calls(self, synced: dict[str, int]) -> int:
        return sum(math.ceil(n / QUICKBOOKS_BATCH) for n in synced.values())  # the batch bucket's

    def check(self, records: list[tuple[str, str, dict, str | None]]) -> Found:
        # Every synced link names its object; duplicates show as two objects of one kind with the
        # same natural key (DisplayName of people, Sku or Name of items, DocNumber of transactions).
        company = self.fake.companies[self.realm]
        found = Found()
        for entity in list(company.objects):
            keyed = Counter(_qb_key(entity, o) for o in list(company.objects[entity].values()))
            found.duplicated += sum(n - 1 for key, n in keyed.items() if key and n > 1)
        for entity_type, _pos_id, _payload, external_id in records:
            if external_id is None:
                continue
            if not any(external_id in company.objects[e] for e in QB_ENTITIES.get(entity_type, ())):
                found.missing += 1
        return found


QB_ENTITIES = {"customer": ("Customer",), "supplier": ("Vendor",), "product": ("Item",),
               "purchase_order": ("PurchaseOrder",), "sale": ("SalesReceipt", "Invoice", "RefundReceipt"),
               "shift_report": ("SalesReceipt", "Invoice")}


def _qb_key(entity: str, obj: dict[str, Any]) -> str | None:
    return obj.get("DisplayName") or obj.get("DocNumber") or obj.get("Sku") or obj.get("Name")


def _index(objects, field: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    # The fake serves from a thread of this process: copy the view first (one C call, under the GIL),
    # or a create landing meanwhile changes the dict mid-iteration.
    for obj in list(objects):
        if obj.get(field):
            out.setdefault(obj[field], []).append(obj)
    return out


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(Decimal(str(a)) - Decimal(str(b))) < Decimal("0.005")


PROGRAMS = {"xero": XeroProgram, "quickbooks": QuickBooksProgram}
