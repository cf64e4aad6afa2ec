"""The programs behind the real engine and API (jobs in-process): the sandbox, the fake Xero and the
fake QuickBooks.

`Program` hides which one is connected, so a "books" scenario runs against both and reads back
what the program holds: one document per sale or per shift, with its total.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.connectors.base import Credentials
from app.connectors.quickbooks import QuickBooksConnector
from app.connectors.xero import XeroConnector
from app.db import transaction
from app.models import Connection, ConnectionStatus, SandboxObject
from app.stores.service import store_for_key
from app.connections import service as connections
from app.connections.credentials import seal_credentials
from tests.fakes.fake_xero import FakeXero
from tests.fakes.fake_quickbooks import FakeQuickBooks
from tests.quickbooks.conftest import GLOBAL_TAX
from tests.quickbooks.conftest import app_settings as quickbooks_settings
from tests.xero.conftest import app_settings

D = Decimal


class Program:
    name: str

    def __init__(self, api) -> None:
        self.api = api
        self.connection_id: str | None = None

    async def settings(self, changes: dict) -> Any:
        return await self.api.request("PATCH", f"/v1/connections/{self.connection_id}/settings", json=changes)

    async def documents(self) -> dict[str, dict]:
        """POS id of the sale or shift → {"kind", "total", "status", "object"} as the program holds it."""
        raise NotImplementedError


class Sandbox(Program):
    name = "sandbox"

    async def connect(self, settings: dict | None = None) -> str:
        self.connection_id = await self.api.connect_sandbox(settings)
        return self.connection_id

    async def objects(self, kind: str | None = None) -> list[SandboxObject]:
        async with self.api.deps.sessions() as session:
            rows = (await session.scalars(select(SandboxObject))).all()
        return [o for o in rows if kind is None or o.kind == kind]

    async def documents(self) -> dict[str, dict]:
        out = {}
        for o in await self.objects():
            if o.kind in ("sales_receipt", "summary_receipt"):
                assert o.reference not in out, f"two documents for {o.reference}"
                out[o.reference] = {"kind": o.kind, "total": D(str(o.data.get("program_total", o.data.get("total", "0")))),
                                    "status": o.data.get("program_status", "active"), "object": o}
        return out


class Xero(Program):
    name = "xero"

    def __init__(self, api) -> None:
        super().__init__(api)
        self.fake = FakeXero(per_minute=100000, concurrent=100)
        self.tenant = self.fake.add_tenant("Demo Company (UK)", demo_chart=True)

    @property
    def books(self):
        return self.fake.books[self.tenant]

    async def connect(self, settings: dict | None = None) -> str:
        deps = self.api.deps
        deps.connectors["xero"] = XeroConnector(app_settings(), transport=self.fake.transport(), timeout_s=5.0)
        tokens = self.fake.issue_tokens()
        credentials = Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                                  tenant_id=self.tenant)
        connector = deps.connectors["xero"]
        async with transaction(deps.sessions) as session:
            store = await store_for_key(session=session, key=self.api.key)
            connection = Connection(store_id=store.id, connector="xero", tenant_id=self.tenant,
                                    tenant_name="Demo Company (UK)", status=ConnectionStatus.AUTHORIZING,
                                    settings=connections.validated_settings(connector, settings),
                                    credentials_encrypted=seal_credentials(deps.secrets, credentials))
            session.add(connection)
            await session.flush()
            await connections.activate(session=session, connection=connection, connector=connector)
            self.connection_id = str(connection.id)
        await self.api.settle()
        return self.connection_id

    async def documents(self) -> dict[str, dict]:
        out = {}
        for collection, kind in ((self.books.invoices, "invoice"), (self.books.credit_notes, "credit_note")):
            for doc in collection.values():
                reference = doc.get("Reference") or ""
                pos_id = reference.removeprefix("POS ") if reference.startswith("POS ") else doc.get("InvoiceNumber")
                if reference.startswith("Shift "):
                    pos_id = reference.removeprefix("Shift ").split(" ")[0]  # the tests' shifts have no number
                assert pos_id not in out, f"two documents for {pos_id}"
                out[pos_id] = {"kind": kind, "total": D(str(doc["Total"])), "status": doc["Status"], "object": doc}
        return out


class QuickBooks(Program):
    """The fake QuickBooks, a company outside the US (tax codes, as the scenarios' VAT rates need)."""

    name = "quickbooks"

    def __init__(self, api) -> None:
        super().__init__(api)
        self.fake = FakeQuickBooks(per_minute=100000, concurrent=100, batches_per_minute=100000)
        self.realm = self.fake.add_realm("Sandbox Company_GB", us=False)

    @property
    def company(self):
        return self.fake.companies[self.realm]

    async def connect(self, settings: dict | None = None) -> str:
        deps = self.api.deps
        connector = QuickBooksConnector(quickbooks_settings(), transport=self.fake.transport(), timeout_s=5.0)
        deps.connectors["quickbooks"] = connector
        tokens = self.fake.issue_tokens()
        credentials = Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                                  tenant_id=self.realm, extra={"realm_id": self.realm})
        async with transaction(deps.sessions) as session:
            store = await store_for_key(session=session, key=self.api.key)
            connection = Connection(store_id=store.id, connector="quickbooks", tenant_id=self.realm,
                                    tenant_name="Sandbox Company_GB", status=ConnectionStatus.AUTHORIZING,
                                    settings=connections.validated_settings(
                                        connector, {"tax_codes": GLOBAL_TAX, **(settings or {})}),
                                    credentials_encrypted=seal_credentials(deps.secrets, credentials))
            session.add(connection)
            await session.flush()
            await connections.activate(session=session, connection=connection, connector=connector)
            self.connection_id = str(connection.id)
        await self.api.settle()
        return self.connection_id

    async def documents(self) -> dict[str, dict]:
        out = {}
        for entity in ("SalesReceipt", "Invoice", "RefundReceipt"):
            for doc in self.company.all(entity):
                note = str(doc.get("PrivateNote") or "")
                voided = note.startswith("Voided")
                marker = note.removeprefix("Voided").removeprefix(" - ")
                pos_id = marker.removeprefix("POS shift ").removeprefix("POS ").split("\n")[0]
                assert pos_id not in out, f"two documents for {pos_id}"
                out[pos_id] = {"kind": entity, "total": D(str(doc["TotalAmt"])).quantize(D("0.01")),
                               "status": "voided" if voided else "active", "object": doc}
        return out


PROGRAMS = {"sandbox": Sandbox, "xero": Xero}
