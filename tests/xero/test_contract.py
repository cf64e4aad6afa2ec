"""Every request the connector sends must be one Xero's official OpenAPI description accepts.

The requests come from the real connector talking to the fake Xero; each body is validated
against the request-body schema of its operation in xero_accounting.yaml, and every property
name is checked to exist in that schema (Xero's schemas rarely forbid extra properties, so
plain validation would let a typo through). Read-only properties must not be sent, amounts
must be JSON numbers, and query parameters and headers must be declared by the operation.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.connectors.xero.connector import XeroConnector
from app.connectors.xero.settings import XeroSettings
from app.entities.schemas import (
    CUSTOMER_EXAMPLE,
    MORE_SALE_EXAMPLES,
    PRODUCT_EXAMPLE,
    PURCHASE_ORDER_EXAMPLE,
    SALE_EXAMPLE,
    SHIFT_REPORT_EXAMPLE,
    SUPPLIER_EXAMPLE,
)
from tests.fakes.fake_xero import FakeXero

from .conftest import app_settings, context_for, push_item


def spec_path() -> Path:
    override = os.environ.get("XERO_SPEC_PATH")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared/specs/xero/xero_accounting.yaml"


SPEC_PATH = spec_path()
pytestmark = pytest.mark.skipif(
    not SPEC_PATH.is_file(),
    reason=f"Xero OpenAPI description not found at {SPEC_PATH} (set XERO_SPEC_PATH to check the contract)",
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open() as fh:
        return yaml.load(fh, Loader=loader)


@pytest.fixture(scope="module")
def registry(spec):
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    # OpenAPI 3.0 schemas are a draft-7-like dialect: $ref siblings are ignored, `nullable`
    # and `x-*` are unknown keywords (ignored), `format: double` is not asserted.
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT7))


SPEC_URI = "urn:xero:accounting"


# --- recording what the connector sends -----------------------------------------------------------


@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, str]
    headers: httpx.Headers
    body: Any


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[Sent] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append(Sent(request.method, request.url.path, dict(request.url.params), request.headers, body))
        return await self.inner.handle_async_request(request)


async def record_everything() -> list[Sent]:
    """Push every entity type, in both sales modes, through the connector; return all writes."""
    fake = FakeXero()
    tenant = fake.add_tenant(demo_chart=True)
    recorder = Recorder(fake.transport())
    connector = XeroConnector(app_settings(), transport=recorder)
    individual = context_for(fake, tenant, XeroSettings())
    totals = context_for(fake, tenant, XeroSettings(sales_mode="shift_totals"))
    try:

        async def one(ctx, entity_type, payload, *, key, refs=None, external_id=None):
            item = push_item(entity_type, copy.deepcopy(payload), key=key, references=refs, external_id=external_id)
            [result] = await connector.push(ctx, entity_type, [item])
            assert result.ok, (entity_type, result.error and result.error.message)
            return result.external_id

        customer = await one(individual, "customer", CUSTOMER_EXAMPLE, key=1)
        await one(individual, "customer", {**CUSTOMER_EXAMPLE, "company_name": "Lopez Ltd",
                                           "tax_number": "GB123", "mobile": "+44 7700 900000"},
                  key=1, external_id=customer)
        supplier = await one(individual, "supplier", SUPPLIER_EXAMPLE, key=2)
        product = await one(individual, "product", PRODUCT_EXAMPLE, key=3)
        await one(individual, "product", {**PRODUCT_EXAMPLE, "id": "P-2", "sku": "SVC-1", "tracked": False,
                                          "service": True, "name": "Grinding service"}, key=4)
        await one(individual, "product", {**PRODUCT_EXAMPLE, "price": "25.00"}, key=3, external_id=product)
        refs = {("supplier", "S-2001"): supplier, ("customer", "C-1001"): customer, ("product", "P-3001"): product}
        await one(individual, "purchase_order", PURCHASE_ORDER_EXAMPLE, key=5, refs=refs)
        await one(individual, "sale", SALE_EXAMPLE, key=6, refs=refs)
        walk_in = {**SALE_EXAMPLE, "id": "SALE-2", "number": "5002", "customer_id": None, "prices_include_tax": False,
                   "payments": [{"payment_type": "Cash", "amount": "10.00"}]}
        await one(individual, "sale", walk_in, key=7, refs=refs)
        refund = {**SALE_EXAMPLE, "id": "SALE-3", "number": "5003", "status": "refund",
                  "payments": [{"payment_type": "Card", "amount": "-44.00"}]}
        await one(individual, "sale", refund, key=8, refs=refs)
        await one(totals, "shift_report", SHIFT_REPORT_EXAMPLE, key=9)
        await one(totals, "shift_report", {**SHIFT_REPORT_EXAMPLE, "id": "SHIFT-2", "number": "6002",
                                           "totals_by_tax_rate": []}, key=10)
        custom = {**MORE_SALE_EXAMPLES["custom_lines_and_deposit"]["value"], "cash_rounding": "-0.02", "total": "54.38",
                  "payments": [{"payment_type": "Gift card", "amount": "10.00"}]}
        paid_sale = await one(individual, "sale", custom, key=11, refs=refs)

        async def undo(entity_type, payload, external_id, *, key):
            item = push_item(entity_type, copy.deepcopy(payload), key=key, references=refs, external_id=external_id)
            [result] = await connector.retract(individual, entity_type, [item])
            assert result.ok, (entity_type, result.error and result.error.message)

        await undo("sale", {**custom, "status": "voided"}, paid_sale, key=11)
        await undo("customer", CUSTOMER_EXAMPLE, customer, key=1)
        po = [s for s in recorder.sent if s.path.endswith("/PurchaseOrders")]
        assert po
        orders = fake.books[tenant].purchase_orders
        await undo("purchase_order", PURCHASE_ORDER_EXAMPLE, next(iter(orders)), key=5)
        await undo("product", {**PRODUCT_EXAMPLE, "id": "P-2"}, next(
            i for i, item in fake.books[tenant].items.items() if item["Code"] == "SVC-1"), key=4)
        assert any(s.method == "DELETE" and "/Items/" in s.path for s in recorder.sent)
    finally:
        await connector.aclose()
    return [s for s in recorder.sent if s.method in ("POST", "PUT")]


@pytest.fixture(scope="module")
async def sent() -> list[Sent]:
    return await record_everything()


# --- checking against the spec ---------------------------------------------------------------------


def operation(spec, sent: Sent) -> dict[str, Any]:
    path = sent.path.removeprefix("/api.xro/2.0")
    op = spec["paths"].get(path, {}).get(sent.method.lower())
    if op is None:  # an object's own address: /Payments/{PaymentID}
        collection = path.rsplit("/", 1)[0]
        templated = [p for p in spec["paths"] if p.startswith(collection + "/{") and p.count("/") == path.count("/")]
        op = next((spec["paths"][p].get(sent.method.lower()) for p in templated if spec["paths"][p].get(sent.method.lower())), None)
    assert op is not None, f"{sent.method} {path} is not an operation of the Xero spec"
    return op


def resolve(spec, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    if "allOf" in schema:
        merged: dict[str, Any] = {"properties": {}}
        for part in schema["allOf"]:
            merged["properties"].update(resolve(spec, part).get("properties", {}))
        return merged
    return schema


def unknown_properties(spec, schema: dict[str, Any], value: Any, path: str) -> list[str]:
    """Property names sent that the schema does not declare, and read-only ones, with JSON paths."""
    schema = resolve(spec, schema)
    problems: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, child in value.items():
            if key not in properties:
                problems.append(f"{path}.{key}: not a property of the schema")
                continue
            prop = resolve(spec, properties[key])
            if properties[key].get("readOnly") or prop.get("readOnly"):
                problems.append(f"{path}.{key}: read-only in the schema")
            if child is None:
                problems.append(f"{path}.{key}: null sent")
            problems += unknown_properties(spec, properties[key], child, f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, child in enumerate(value):
            problems += unknown_properties(spec, schema["items"], child, f"{path}[{i}]")
    elif isinstance(value, str) and schema.get("type") == "number":
        problems.append(f"{path}: amount sent as a string")
    return problems


def declared_parameters(spec, op: dict[str, Any]) -> dict[str, set[str]]:
    declared: dict[str, set[str]] = {"query": set(), "header": set()}
    for param in op.get("parameters", []):
        param = resolve(spec, param)
        declared.setdefault(param["in"], set()).add(param["name"].lower())
    return declared


async def test_every_entity_type_and_mode_was_exercised(sent):
    paths = {(m, "Payments/{id}" if m == "POST" and "/Payments/" in p else p.rsplit("/", 1)[-1]) for m, p in
             ((s.method, s.path) for s in sent)}
    assert paths == {
        ("POST", "Contacts"),
        ("POST", "Items"),
        ("POST", "PurchaseOrders"),
        ("POST", "Invoices"),
        ("POST", "CreditNotes"),
        ("PUT", "Payments"),
        ("POST", "Payments/{id}"),  # removing a payment before voiding its invoice
    }


async def test_request_bodies_validate_against_the_spec(spec, registry, sent):
    from jsonschema import Draft7Validator

    failures = []
    for s in sent:
        schema_ref = operation(spec, s)["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        validator = Draft7Validator({"$ref": f"{SPEC_URI}{schema_ref}"}, registry=registry)
        for error in validator.iter_errors(s.body):
            failures.append(f"{s.method} {s.path} {error.json_path}: {error.message}")
    assert not failures, "\n".join(failures)


async def test_only_properties_the_spec_declares_are_sent(spec, sent):
    failures = []
    for s in sent:
        schema = operation(spec, s)["requestBody"]["content"]["application/json"]["schema"]
        failures += [f"{s.method} {s.path} {p}" for p in unknown_properties(spec, schema, s.body, "$")]
    assert not failures, "\n".join(failures)


async def test_query_parameters_and_headers_are_declared(spec, sent):
    failures = []
    for s in sent:
        declared = declared_parameters(spec, operation(spec, s))
        failures += [f"{s.method} {s.path}: query {q}" for q in s.params if q.lower() not in declared["query"]]
        if "idempotency-key" not in declared["header"]:
            failures.append(f"{s.method} {s.path}: Idempotency-Key not declared")
        if not s.headers.get("Idempotency-Key") or len(s.headers["Idempotency-Key"]) > 128:
            failures.append(f"{s.method} {s.path}: Idempotency-Key missing or longer than 128")
        if "summarizeerrors" in declared["query"] and s.params.get("summarizeErrors") != "false":
            failures.append(f"{s.method} {s.path}: summarizeErrors=false missing")
    assert not failures, "\n".join(failures)


async def test_checker_reports_typos_read_only_fields_and_string_amounts(spec, registry):
    from jsonschema import Draft7Validator

    body = {"Invoices": [{"Type": "ACCREC", "Totl": 5, "Total": 5, "LineItems": [{"UnitAmount": "24.00"}]}]}
    schema = {"$ref": "#/components/schemas/Invoices"}
    problems = unknown_properties(spec, schema, body, "$")
    assert "$.Invoices[0].Totl: not a property of the schema" in problems
    assert "$.Invoices[0].Total: read-only in the schema" in problems
    assert "$.Invoices[0].LineItems[0].UnitAmount: amount sent as a string" in problems
    validator = Draft7Validator({"$ref": f"{SPEC_URI}#/components/schemas/Invoices"}, registry=registry)
    assert any("UnitAmount" in e.json_path for e in validator.iter_errors(body))
