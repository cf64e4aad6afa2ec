"""Reading back from Xero what records became, as the organisation holds them now.

Contacts and invoices are read by `IDs=` lists, credit notes by a `where` on their ids, items with
one GET of every item (Xero's Items takes no id list and is not paged), purchase orders one by one
(Xero filters them by date and status only). An object Xero did not return is gone: Xero deletes
items and draft documents outright.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.connectors.base import PushContext, PushItem, RemoteObject
from app.connectors.digest import Fields, content_digest
from app.connectors.errors import PermanentError
from app.connectors.xero.adapter import NUMBERS_PER_LOOKUP, XeroApi

GONE_DOCUMENT = {"VOIDED": "voided", "DELETED": "deleted"}
# Webhook categories and catch-up collections → the words the engine matches (app.webhooks.processing).
CATCH_UP_COLLECTIONS = {"Contacts": "CONTACT", "Invoices": "INVOICE", "CreditNotes": "CREDITNOTE"}


def collection_of(entity_type: str, payload: dict[str, Any]) -> str:
    if entity_type in ("customer", "supplier"):
        return "Contacts"
    if entity_type == "product":
        return "Items"
    if entity_type == "purchase_order":
        return "PurchaseOrders"
    return "CreditNotes" if payload.get("status") == "refund" else "Invoices"


async def fetch_remote(api: XeroApi, ctx: PushContext, entity_type: str,
                       items: list[PushItem]) -> dict[int, RemoteObject]:
    by_collection: dict[str, list[PushItem]] = {}
    for item in items:
        if item.external_id:
            by_collection.setdefault(collection_of(entity_type, item.payload), []).append(item)
    found: dict[int, RemoteObject] = {}
    for collection, group in by_collection.items():
        ids = sorted({item.external_id for item in group})
        elements = await _read(api, ctx, collection, ids)
        id_field = ID_FIELDS[collection]
        by_id = {str(e.get(id_field)): e for e in elements if e.get(id_field)}
        for item in group:
            element = by_id.get(item.external_id)
            found[item.key] = remote_object(collection, element) if element else RemoteObject(item.external_id, "deleted")
    return found


ID_FIELDS = {"Contacts": "ContactID", "Items": "ItemID", "Invoices": "InvoiceID", "CreditNotes": "CreditNoteID",
             "PurchaseOrders": "PurchaseOrderID"}


async def _read(api: XeroApi, ctx: PushContext, collection: str, ids: list[str]) -> list[dict[str, Any]]:
    if collection == "Items":
        wanted = set(ids)
        return [i for i in await api.items(ctx) if i.get("ItemID") in wanted]
    found: list[dict[str, Any]] = []
    if collection == "PurchaseOrders":
        for order_id in ids:
            try:
                found += await api.get(ctx, f"PurchaseOrders/{order_id}", {}, "PurchaseOrders")
            except PermanentError as exc:
                if exc.http_status != 404:
                    raise
        return found
    for start in range(0, len(ids), NUMBERS_PER_LOOKUP):
        chunk = ids[start : start + NUMBERS_PER_LOOKUP]
        if collection == "CreditNotes":
            params = {"where": " OR ".join(f'CreditNoteID==Guid("{i}")' for i in chunk)}
        else:
            # Archived contacts and archived invoices are left out unless asked for.
            params = {"IDs": ",".join(chunk), "includeArchived": "true"}
        found += await api.get(ctx, collection, params, collection)
    return found


# The fields app.connectors.xero.mapping writes, per collection: a difference in these is a change
# to the books. Left out on purpose: Status (voided, archived and paid are judged on their own),
# AmountPaid/AmountDue/Payments (a payment taken in Xero), IsCustomer/IsSupplier (Xero sets them as
# documents arrive), quantities on hand, UpdatedDateUTC, and the contact's name on a document.
_LINE: Fields = {"Description": None, "Quantity": None, "UnitAmount": None, "ItemCode": None, "AccountCode": None,
                 "TaxType": None, "TaxAmount": None, "DiscountRate": None, "Tracking": None}
_DOCUMENT: Fields = {"Type": None, "Contact": {"ContactID": None}, "Date": None, "DueDate": None, "Reference": None,
                     "LineAmountTypes": None, "CurrencyCode": None, "LineItems": _LINE}
MAPPED_FIELDS: dict[str, Fields] = {
    "Contacts": {"Name": None, "ContactNumber": None, "FirstName": None, "LastName": None, "EmailAddress": None,
                 "TaxNumber": None, "Phones": {"PhoneType": None, "PhoneNumber": None},
                 "Addresses": {"AddressType": None, "AddressLine1": None, "AddressLine2": None, "City": None,
                               "Region": None, "PostalCode": None, "Country": None}},
    "Items": {"Code": None, "Name": None, "Description": None, "IsSold": None, "IsPurchased": None,
              "IsTrackedAsInventory": None, "InventoryAssetAccountCode": None,
              "SalesDetails": {"UnitPrice": None, "AccountCode": None, "TaxType": None},
              "PurchaseDetails": {"UnitPrice": None, "AccountCode": None, "COGSAccountCode": None, "TaxType": None}},
    "Invoices": {**_DOCUMENT, "InvoiceNumber": None},
    "CreditNotes": {**_DOCUMENT, "CreditNoteNumber": None},
    "PurchaseOrders": {"Contact": {"ContactID": None}, "PurchaseOrderNumber": None, "Reference": None, "Date": None,
                       "DeliveryDate": None, "LineAmountTypes": None, "CurrencyCode": None, "LineItems": _LINE},
}


def digest_of(collection: str, element: dict[str, Any]) -> str:
    """The element's digest over what possync maps (the same for a push's answer and a read-back)."""
    return content_digest(element, MAPPED_FIELDS[collection])


def remote_object(collection: str, element: dict[str, Any]) -> RemoteObject:
    external_id = str(element[ID_FIELDS[collection]])
    updated_at = xero_time(element.get("UpdatedDateUTC"))
    digest = digest_of(collection, element)
    if collection == "Contacts":
        merged_into = element.get("MergedToContactID")
        if merged_into and merged_into != external_id:
            return RemoteObject(external_id, "merged", updated_at=updated_at, merged_into=str(merged_into))
        status = "archived" if element.get("ContactStatus") == "ARCHIVED" else "active"
        return RemoteObject(external_id, status, updated_at=updated_at, digest=digest)
    if collection == "Items":
        return RemoteObject(external_id, "active", updated_at=updated_at, digest=digest)
    status = GONE_DOCUMENT.get(str(element.get("Status") or ""), "active")
    return RemoteObject(external_id, status, updated_at=updated_at, amount_paid=_money(element.get("AmountPaid")),
                        total=_money(element.get("Total")), digest=digest)


async def changed_since(api: XeroApi, ctx: PushContext, since: datetime) -> list[tuple[str, str]]:
    """Every contact, invoice and credit note Xero changed after `since` (If-Modified-Since)."""
    header = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    changed: list[tuple[str, str]] = []
    for collection, kind in CATCH_UP_COLLECTIONS.items():
        page = 1
        while True:
            elements = await api.get(ctx, collection, {"page": str(page), "includeArchived": "true"}, collection,
                                     headers={"If-Modified-Since": header})
            changed += [(kind, str(e[ID_FIELDS[collection]])) for e in elements if e.get(ID_FIELDS[collection])]
            if len(elements) < CATCH_UP_PAGE:
                break
            page += 1
    return changed


CATCH_UP_PAGE = 100  # Xero's page size when `page` is given
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def xero_time(value: Any) -> datetime | None:
    """Xero writes times as "/Date(1573755038314+0000)/" in JSON, sometimes as ISO 8601 (UTC)."""
    if not value:
        return None
    text = str(value)
    match = _MS_DATE.fullmatch(text)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
