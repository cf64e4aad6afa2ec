"""Every request body the connector sends must be one Intuit's own schema (the XSD) accepts.

The bodies come from the real connector talking to the fake QuickBooks: each entity type, both
sales modes, a US company (automated sales tax) and a non-US one (tax codes), creates and sparse
updates. Each property must be defined by the entity's complexType (with its bases), be a list
exactly where the schema repeats it, and hold an enumeration value that exists. Every violation
is reported by its path.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import httpx
import pytest

from app.connectors.quickbooks import QuickBooksConnector, QuickBooksSettings
from app.entities.schemas import (
    CUSTOMER_EXAMPLE,
    PRODUCT_EXAMPLE,
    PURCHASE_ORDER_EXAMPLE,
    SALE_EXAMPLE,
    SHIFT_REPORT_EXAMPLE,
    SUPPLIER_EXAMPLE,
)
from tests.fakes.fake_quickbooks import FakeQuickBooks

from .conftest import GLOBAL_TAX, app_settings, context_for, push_item


def spec_folder() -> Path:
    override = os.environ.get("QUICKBOOKS_SPEC_PATH")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared/specs/quickbooks"


SPEC = spec_folder()
pytestmark = pytest.mark.skipif(
    not (SPEC / "Finance.xsd").is_file(),
    reason=f"Intuit's XSD not found in {SPEC} (set QUICKBOOKS_SPEC_PATH to check the contract)",
)


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.batches: list[dict] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch"):
            self.batches.append(json.loads(request.content))
        return await self.inner.handle_async_request(request)


async def record_everything(*, us: bool) -> list[dict]:
    fake = FakeQuickBooks()
    realm = fake.add_realm(us=us)
    recorder = Recorder(fake.transport())
    connector = QuickBooksConnector(app_settings(), transport=recorder)
    tax = {} if us else {"tax_codes": GLOBAL_TAX}
    individual = context_for(fake, realm, QuickBooksSettings(**tax))
    totals = context_for(fake, realm, QuickBooksSettings(sales_mode="shift_totals", **tax))
    renaming = context_for(fake, realm, QuickBooksSettings(duplicate_names="add_pos_id", **tax))
    try:
        async def one(ctx, entity_type, payload, *, key, refs=None, external_id=None, version="v1",
                      remote_version=None):
            item = push_item(entity_type, copy.deepcopy(payload), key=key, references=refs, external_id=external_id,
                             version=version, remote_version=remote_version)
            [result] = await connector.push(ctx, entity_type, [item])
            assert result.ok, (entity_type, payload.get("id"), result.error and result.error.message)
            return result

        customer = await one(individual, "customer", CUSTOMER_EXAMPLE, key=1)
        await one(individual, "customer", {**CUSTOMER_EXAMPLE, "company_name": "Lopez Ltd", "tax_number": "GB123",
                                           "mobile": "+44 7700 900000", "note": "Regular",
                                           "addresses": [*CUSTOMER_EXAMPLE["addresses"],
                                                         {"kind": "shipping", "line1": "1 Dock Rd", "city": "Hull"}]},
                  key=1, external_id=customer.external_id, remote_version=customer.remote_version, version="v2")
        fake.add_employee(realm, "Tom Reid")
        await one(renaming, "customer", {"id": "C-2", "first_name": "Tom", "last_name": "Reid"}, key=2)
        supplier = await one(individual, "supplier", SUPPLIER_EXAMPLE, key=3)
        await one(individual, "supplier", {**SUPPLIER_EXAMPLE, "tax_number": "GB999"}, key=3,
                  external_id=supplier.external_id, remote_version=supplier.remote_version, version="v2")
        product = await one(individual, "product", PRODUCT_EXAMPLE, key=4)
        await one(individual, "product", {**PRODUCT_EXAMPLE, "price": "25.00", "quantity": "38"}, key=4,
                  external_id=product.external_id, remote_version=product.remote_version, version="v2")
        await one(individual, "product", {**PRODUCT_EXAMPLE, "id": "P-2", "sku": "SVC-1", "name": "Grinding",
                                          "tracked": False, "service": True}, key=5)
        await one(individual, "product", {**PRODUCT_EXAMPLE, "id": "P-3", "sku": "MUG-1", "name": "Mug",
                                          "tracked": False, "description": "Stoneware"}, key=6)
        refs = {("customer", "C-1001"): customer.external_id, ("supplier", "S-2001"): supplier.external_id,
                ("product", "P-3001"): product.external_id}
        order = await one(individual, "purchase_order", {**PURCHASE_ORDER_EXAMPLE, "currency": "USD",
                                                         "expected_at": "2026-11-24T09:00:00Z", "note": "Dock 2"},
                          key=7, refs=refs)
        await one(individual, "purchase_order", PURCHASE_ORDER_EXAMPLE, key=7, refs=refs,
                  external_id=order.external_id, remote_version=order.remote_version, version="v2")
        base = {k: v for k, v in SALE_EXAMPLE.items() if k != "payments"}
        sales = [
            SALE_EXAMPLE,
            {**base, "id": "S-2", "number": "2", "note": "Gift wrap", "payments": [
                {"payment_type": "Card", "amount": "20"}, {"payment_type": "Cash", "amount": "24"}]},
            {**base, "id": "S-3", "number": "3", "payments": []},
            {**base, "id": "S-4", "number": "4", "status": "refund", "payments": [{"payment_type": "Cash",
                                                                                    "amount": "-44"}]},
            {**base, "id": "S-5", "number": "5", "cash_rounding": "-0.02", "total": "52.38",
             "custom_lines": [{"kind": "service_charge", "description": "Service", "amount": "4.40",
                               "tax_rate": "VAT 20%"}, {"kind": "other", "amount": "4.00"}],
             "payments": [{"payment_type": "Cash", "amount": "60", "change_given": "7.62"}]},
        ]
        synced = [await one(individual, "sale", sale, key=key, refs=refs) for key, sale in enumerate(sales, start=10)]
        # Undoing: a receipt and an invoice voided, a refund receipt and an order deleted, names made inactive.
        undo = [push_item("sale", {**sale, "status": "voided"}, key=key, external_id=result.external_id)
                for key, (sale, result) in enumerate(zip(sales, synced), start=10)]
        for result in await connector.retract(individual, "sale", undo):
            assert result.ok, result.error
        for entity_type, result, key in (("purchase_order", order, 7), ("supplier", supplier, 3),
                                         ("product", product, 4), ("customer", customer, 1)):
            [out] = await connector.retract(individual, entity_type, [push_item(entity_type, {}, key=key,
                                                                                  external_id=result.external_id)])
            assert out.ok, (entity_type, out.error)
        shift_no_tax = {**SHIFT_REPORT_EXAMPLE, "id": "SH-2", "number": "6002", "totals_by_tax_rate": [],
                        "totals_by_payment_type": [{"payment_type": "Card", "amount": "30"},
                                                   {"payment_type": "Cash", "amount": "14"}]}
        for key, shift in enumerate((SHIFT_REPORT_EXAMPLE, shift_no_tax), start=20):
            await one(totals, "shift_report", shift, key=key)
    finally:
        await connector.aclose()
    return recorder.batches


@pytest.fixture(scope="module")
def schema():
    from tests.quickbooks.xsd_contract import Schema

    return Schema(SPEC)


@pytest.mark.parametrize("us", [True, False], ids=["us-automated-sales-tax", "non-us-tax-codes"])
async def test_every_request_body_uses_only_what_intuits_schema_defines(schema, us):
    batches = await record_everything(us=us)
    entities = {key for body in batches for op in body["BatchItemRequest"] for key in op if key[0].isupper()}
    assert entities == {"Customer", "Vendor", "Item", "PurchaseOrder", "SalesReceipt", "Invoice", "RefundReceipt",
                        "Payment"}
    operations = {op["operation"] for body in batches for op in body["BatchItemRequest"]}
    assert operations == {"create", "update", "void", "delete"}
    violations = [v for body in batches for v in schema.batch_violations(body)]
    assert violations == [], "\n".join(violations)


def test_the_check_itself_reports_each_kind_of_violation_by_path(schema):
    body = {"BatchItemRequest": [{"bId": "1", "operation": "upsert", "SalesReceipt": {
        "DocNumber": "1", "Line": {"Amount": 1}, "Colour": "red",
        "PrivateNote": ["a"], "GlobalTaxCalculation": "Sometimes",
    }}]}
    assert sorted(schema.batch_violations(body)) == sorted([
        "BatchItemRequest[0].operation: 'upsert' is not one of OperationEnum's values",
        "BatchItemRequest[0].SalesReceipt.Line: SalesReceipt repeats it, so it must be a list",
        "BatchItemRequest[0].SalesReceipt.Colour: not a property of SalesReceipt",
        "BatchItemRequest[0].SalesReceipt.PrivateNote: SalesReceipt does not repeat it, so it must not be a list",
        "BatchItemRequest[0].SalesReceipt.GlobalTaxCalculation: 'Sometimes' is not one of GlobalTaxCalculationEnum's values",
    ])
