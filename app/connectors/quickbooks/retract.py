"""Undoing in QuickBooks what a record put there, as far as QuickBooks allows.

- a customer, supplier or product: its Customer, Vendor or Item is made inactive (`Active: false`,
  a sparse update): QuickBooks keeps names that transactions use and offers no delete for them;
- a sale or shift summary: its SalesReceipt or Invoice is voided (amounts to zero, the document
  kept); a RefundReceipt, which QuickBooks does not void, is deleted;
- a purchase order: deleted.

All go in batch calls with the objects' current SyncTokens. Where QuickBooks refuses (a closed
period, a payment applied to the invoice), the error's advice says what to do by hand.
"""

from __future__ import annotations

from typing import Any

from app.connectors.base import PushContext, PushItem, PushResult
from app.connectors.errors import PermanentError, SyncError
from app.connectors.quickbooks import errors, payments
from app.connectors.quickbooks.adapter import MAX_BATCH, QuickBooksApi, quoted

# Entity type → the QuickBooks entities its record may have become, tried in this order.
CANDIDATES = {
    "customer": ("Customer",), "supplier": ("Vendor",), "product": ("Item",),
    "purchase_order": ("PurchaseOrder",),
    "sale": ("SalesReceipt", "Invoice", "RefundReceipt"), "shift_report": ("SalesReceipt",),
}
HOW = {  # entity → (batch operation, action reported, what to do by hand when refused)
    "Customer": ("inactive", "archived", "make the customer inactive by hand in QuickBooks (Sales → Customers → "
                 "Make inactive)"),
    "Vendor": ("inactive", "archived", "make the vendor inactive by hand in QuickBooks (Expenses → Vendors → "
               "Make inactive)"),
    "Item": ("inactive", "archived", "make the item inactive by hand in QuickBooks (Sales → Products and "
             "services → Make inactive)"),
    "SalesReceipt": ("void", "voided", "void the sales receipt by hand in QuickBooks (open it → More → Void), "
                     "after reopening the period if it is closed"),
    "Invoice": ("void", "voided", "remove the payments received against the invoice, then void it by hand in "
                "QuickBooks (open it → More → Void)"),
    "RefundReceipt": ("delete", "deleted", "delete the refund receipt by hand in QuickBooks (open it → More → "
                      "Delete)"),
    "PurchaseOrder": ("delete", "deleted", "delete the purchase order by hand in QuickBooks (open it → More → "
                      "Delete)"),
}


async def retract(api: QuickBooksApi, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
    results: dict[int, PushResult] = {}
    found = await _find(api, ctx, entity_type, items)
    ops: list[tuple[PushItem, str, dict[str, Any]]] = []
    for item in items:
        hit = found.get(item.key)
        if hit is None:
            results[item.key] = PushResult(item.key, external_id=item.external_id, error=errors.advice_error(
                "object_not_found", f"QuickBooks no longer has the object {item.external_id} of this record.",
                "Nothing is left to undo in QuickBooks for it; check there that it is gone."))
            continue
        entity, obj = hit
        if entity in ("SalesReceipt", "Invoice") and str(obj.get("PrivateNote") or "").startswith("Voided"):
            results[item.key] = PushResult(item.key, action="voided", external_id=item.external_id)
            continue
        if obj.get("Active") is False:
            results[item.key] = PushResult(item.key, action="archived", external_id=item.external_id)
            continue
        ops.append((item, entity, obj))
    ops = await _payments_removed_first(api, ctx, ops, results)
    for start in range(0, len(ops), MAX_BATCH):
        chunk = ops[start : start + MAX_BATCH]
        try:
            answer = await api.batch(ctx, [_operation(item, entity, obj) for item, entity, obj in chunk])
        except SyncError as exc:
            if not isinstance(exc, PermanentError):
                raise
            for item, entity, _ in chunk:
                results[item.key] = PushResult(item.key, external_id=item.external_id,
                                               error=_by_hand(exc, entity, item))
            continue
        by_bid = {str(entry.get("bId")): entry for entry in answer.items}
        for item, entity, _ in chunk:
            entry = by_bid.get(str(item.key)) or {}
            faults = errors.faults_in(entry)
            if faults or entity not in entry:
                error = errors.classify(faults) if faults else PermanentError(
                    f"QuickBooks answered without the {entity}.")
                error.request_id = answer.intuit_tid
                if isinstance(error, PermanentError):
                    error = _by_hand(error, entity, item)
                results[item.key] = PushResult(item.key, external_id=item.external_id, error=error)
            else:
                results[item.key] = PushResult(item.key, action=HOW[entity][1], external_id=item.external_id,
                                               request_id=answer.intuit_tid)
    return [results[item.key] for item in items]


async def _payments_removed_first(api: QuickBooksApi, ctx: PushContext, ops: list[tuple[PushItem, str, dict[str, Any]]],
                                  results: dict[int, PushResult]) -> list[tuple[PushItem, str, dict[str, Any]]]:
    """An Invoice with payments applied (a part-paid or mixed-payment sale) loses its Payments first,
    then is voided; its SyncToken is read again, as removing payments may move it on."""
    paid = [(item, obj) for item, entity, obj in ops if entity == "Invoice" and obj.get("LinkedTxn")]
    if not paid:
        return ops
    failed = await payments.remove(api, ctx, paid)
    for item, _ in paid:
        if item.key in failed:
            error = failed[item.key]
            if isinstance(error, PermanentError):
                error = _by_hand(error, "Invoice", item)
            results[item.key] = PushResult(item.key, external_id=item.external_id, error=error)
    ids = [str(obj["Id"]) for item, obj in paid if item.key not in failed]
    fresh = {str(o["Id"]): o for o in await api.query(ctx, "Invoice", f"Id in ({', '.join(quoted(i) for i in ids)})")} if ids else {}
    return [(item, entity, fresh.get(str(obj["Id"]), obj) if entity == "Invoice" else obj)
            for item, entity, obj in ops if item.key not in failed]


async def _find(api: QuickBooksApi, ctx: PushContext, entity_type: str,
                items: list[PushItem]) -> dict[int, tuple[str, dict[str, Any]]]:
    """Each record's object with its current SyncToken. Ids are counted per entity, so where a record may
    be one of several entities the object must also carry this record's mark."""
    candidates = CANDIDATES[entity_type]
    ids = sorted({item.external_id for item in items if item.external_id})
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    if not ids:
        return found
    for entity in candidates:
        objects = await api.query(ctx, entity, f"Id in ({', '.join(quoted(i) for i in ids)})")
        by_id = {str(o.get("Id")): o for o in objects}
        for item in items:
            obj = by_id.get(str(item.external_id))
            if item.key in found or obj is None:
                continue
            if len(candidates) == 1 or carries_mark(obj, entity_type, item.pos_id):
                found[item.key] = (entity, obj)
    return found


def carries_mark(obj: dict[str, Any], entity_type: str, pos_id: str) -> bool:
    marker = f"POS shift {pos_id}" if entity_type == "shift_report" else f"POS {pos_id}"
    note = str(obj.get("PrivateNote") or "")
    return note == marker or note.startswith(marker + "\n") or note.endswith(marker)


def _operation(item: PushItem, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
    how = HOW[entity][0]
    body: dict[str, Any] = {"Id": str(obj["Id"]), "SyncToken": str(obj.get("SyncToken", "0"))}
    if how == "inactive":
        return {"bId": str(item.key), "operation": "update", entity: {**body, "sparse": True, "Active": False}}
    return {"bId": str(item.key), "operation": how, entity: body}


def _by_hand(exc: PermanentError, entity: str, item: PushItem) -> PermanentError:
    return PermanentError(
        f"QuickBooks refused to undo {entity} {item.external_id}: {exc.message}",
        code="undo_refused",
        advice=f"The record is gone from the POS but QuickBooks keeps {entity} {item.external_id}: "
        f"{HOW[entity][2]}. {exc.advice or ''}".strip(),
        http_status=exc.http_status,
        request_id=exc.request_id,
    )
