"""The six entity types, declared once. Everything else loops over ENTITY_TYPES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from app.entities import schemas
from app.entities.common import EntitySchema

Reference = tuple[str, str]  # (entity type, POS id)


@dataclass(frozen=True)
class EntityType:
    name: str
    collection: str
    title: str
    schema: type[EntitySchema]
    example: dict[str, Any]
    # Which other records must exist in a program before this one can be pushed there.
    references: Callable[[dict[str, Any]], list[Reference]]
    # More named examples for the OpenAPI document (a refund, custom lines…), beside `example`.
    more_examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What a list screen searches (besides the POS id) and the date it filters by, if any.
    search_fields: tuple[str, ...] = ()
    date_field: str | None = None


def _no_references(_payload: dict[str, Any]) -> list[Reference]:
    return []


def _line_products(payload: dict[str, Any]) -> list[Reference]:
    return [("product", line["product_id"]) for line in payload.get("lines", [])]


def _sale_references(payload: dict[str, Any]) -> list[Reference]:
    refs = [("customer", payload["customer_id"])] if payload.get("customer_id") else []
    return refs + _line_products(payload)


def _purchase_order_references(payload: dict[str, Any]) -> list[Reference]:
    return [("supplier", payload["supplier_id"]), *_line_products(payload)]


_TYPES = [
    EntityType("customer", "customers", "Customer", schemas.Customer, schemas.CUSTOMER_EXAMPLE, _no_references,
               search_fields=("first_name", "last_name", "company_name", "email")),
    EntityType("supplier", "suppliers", "Supplier", schemas.Supplier, schemas.SUPPLIER_EXAMPLE, _no_references,
               search_fields=("name", "contact_first_name", "contact_last_name")),
    EntityType("product", "products", "Product", schemas.Product, schemas.PRODUCT_EXAMPLE, _no_references,
               search_fields=("sku", "name")),
    EntityType(
        "purchase_order",
        "purchases",
        "Purchase order",
        schemas.PurchaseOrder,
        schemas.PURCHASE_ORDER_EXAMPLE,
        _purchase_order_references,
        search_fields=("number",),
        date_field="ordered_at",
    ),
    EntityType("sale", "sales", "Sale", schemas.Sale, schemas.SALE_EXAMPLE, _sale_references,
               more_examples=schemas.MORE_SALE_EXAMPLES, search_fields=("number",), date_field="date"),
    EntityType(
        "shift_report", "shift-reports", "Shift report", schemas.ShiftReport, schemas.SHIFT_REPORT_EXAMPLE,
        _no_references, search_fields=("number", "register_name"), date_field="opened_at",
    ),
]

ENTITY_TYPES: dict[str, EntityType] = {t.name: t for t in _TYPES}
# The names as a type, for request fields and query parameters (an enum in the OpenAPI document).
EntityTypeName = Literal[tuple(ENTITY_TYPES)]  # type: ignore[valid-type]


def unique_references(entity_type: str, payload: dict[str, Any]) -> list[Reference]:
    """The distinct records this payload depends on, in first-seen order."""
    return list(dict.fromkeys(ENTITY_TYPES[entity_type].references(payload)))
