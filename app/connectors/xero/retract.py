"""Undoing in Xero what a record put there, as far as Xero allows.

- a customer or supplier: its contact is archived (Xero keeps contacts that have transactions);
- a product: its item is deleted (Xero's API has no archive for items; it refuses some deletions);
- a sale or shift summary: its payments are removed, then the invoice or credit note is voided
  (Xero voids only documents without payments; a reconciled payment cannot be removed);
- a purchase order: marked DELETED.

Where Xero refuses, the error's advice says what to do by hand in Xero.
"""

from __future__ import annotations

from typing import Any

from app.connectors.base import PushContext, PushItem, PushResult
from app.connectors.errors import ConnectionBroken, PermanentError, SyncError
from app.connectors.xero import errors
from app.connectors.xero.adapter import XeroApi


async def retract(api: XeroApi, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
    results = []
    for item in items:
        try:
            action = await _undo(api, ctx, entity_type, item)
            results.append(PushResult(item.key, action=action, external_id=item.external_id))
        except ConnectionBroken:
            raise
        except SyncError as exc:
            if isinstance(exc, PermanentError):
                exc = _with_manual_advice(exc, entity_type, item)
            results.append(PushResult(item.key, external_id=item.external_id, error=exc))
    return results


async def _undo(api: XeroApi, ctx: PushContext, entity_type: str, item: PushItem) -> str:
    ext = item.external_id
    if entity_type in ("customer", "supplier"):
        await _save_one(api, ctx, "Contacts", {"ContactID": ext, "ContactStatus": "ARCHIVED"})
        return "archived"
    if entity_type == "product":
        await api.delete_item(ctx, ext)
        return "deleted"
    if entity_type == "purchase_order":
        await _save_one(api, ctx, "PurchaseOrders", {"PurchaseOrderID": ext, "Status": "DELETED"})
        return "deleted"
    collection = "CreditNotes" if item.payload.get("status") == "refund" else "Invoices"
    id_field = "CreditNoteID" if collection == "CreditNotes" else "InvoiceID"
    (document,) = await api.documents_by_id(ctx, collection, [ext]) or [{}]
    if document.get("Status") == "VOIDED":
        return "voided"
    for payment in document.get("Payments") or []:
        await api.delete_payment(ctx, payment["PaymentID"])
    await _save_one(api, ctx, collection, {id_field: ext, "Status": "VOIDED"})
    return "voided"


async def _save_one(api: XeroApi, ctx: PushContext, collection: str, element: dict[str, Any]) -> None:
    # The adapter keys the request by its exact body, so a retried undo is recognised by Xero.
    (answer,) = await api.save(ctx, collection, [element])
    messages = errors.validation_messages(answer)
    if messages:
        raise PermanentError("; ".join(messages), http_status=400)


def _with_manual_advice(exc: PermanentError, entity_type: str, item: PushItem) -> PermanentError:
    what = {
        "customer": ("contact", "archive the contact by hand in Xero (Contacts → Archive)"),
        "supplier": ("contact", "archive the contact by hand in Xero (Contacts → Archive)"),
        "product": ("item", "archive the item by hand in Xero (Products and services → Archive)"),
        "purchase_order": ("purchase order", "delete the purchase order by hand in Xero"),
    }.get(entity_type, ("document", "unreconcile its payments in Xero (the bank account's Reconcile → "
                                    "Account transactions → Unreconcile) and press SYNC NOW, or void it by hand in Xero "
                                    "after removing its payments"))
    return PermanentError(
        f"Xero refused to undo {what[0]} {item.external_id}: {exc.message}",
        code="undo_refused",
        advice=f"The record is gone from the POS but Xero keeps {what[0]} {item.external_id}: {what[1]}.",
        http_status=exc.http_status,
        request_id=exc.request_id,
    )
