"""Payments received against a sale's Invoice: one QuickBooks Payment per POS payment.

A sale paid in part, or with several payment types, is an Invoice (see mapping.sale); each of its
POS payments becomes a Payment applied to that Invoice and deposited to its payment type's account.
Each Payment carries its mark in PrivateNote ("POS S-1 payment 2"). Before creating, the Payments
already applied to the Invoice (its LinkedTxn) are read, and a mark found there is not sent again:
a try whose answer was lost, even past the time Intuit remembers a requestid, creates no second
Payment.
"""

from __future__ import annotations

from typing import Any

from app.connectors.base import PushContext, PushItem
from app.connectors.errors import SyncError, TransientError
from app.connectors.quickbooks import errors
from app.connectors.quickbooks.adapter import MAX_BATCH, QuickBooksApi, quoted
from app.connectors.quickbooks.mapping import Document, PaymentPlan, money


async def receive(api: QuickBooksApi, ctx: PushContext,
                  invoices: list[tuple[PushItem, Document, dict[str, Any]]]) -> dict[int, SyncError]:
    """Create the Payments not yet applied to each Invoice; return the records whose Payments failed."""
    try:
        received = await _received_marks(api, ctx, [invoice for _, _, invoice in invoices])
    except SyncError as exc:
        return {item.key: exc for item, _, _ in invoices}
    ops: list[tuple[int, dict[str, Any]]] = []
    for item, doc, invoice in invoices:
        for plan in doc.payments:
            if plan.marker(item.pos_id) not in received:
                body = _payment(item, plan, invoice)
                ops.append((item.key, {"bId": f"{item.key}.{plan.number}", "operation": "create", "Payment": body}))
    return await _send(api, ctx, ops, "Payment")


async def _received_marks(api: QuickBooksApi, ctx: PushContext, invoices: list[dict[str, Any]]) -> set[str]:
    ids = sorted({str(t["TxnId"]) for invoice in invoices for t in invoice.get("LinkedTxn") or []
                  if t.get("TxnType") == "Payment" and t.get("TxnId")})
    if not ids:
        return set()
    found = await api.query(ctx, "Payment", f"Id in ({', '.join(quoted(i) for i in ids)})")
    return {str(payment.get("PrivateNote") or "") for payment in found}


def _payment(item: PushItem, plan: PaymentPlan, invoice: dict[str, Any]) -> dict[str, Any]:
    amount = money(plan.amount)
    body: dict[str, Any] = {
        "CustomerRef": invoice["CustomerRef"],
        "TotalAmt": amount,
        "TxnDate": plan.date,
        "DepositToAccountRef": {"value": plan.deposit_account},
        "PrivateNote": plan.marker(item.pos_id),
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": str(invoice["Id"]), "TxnType": "Invoice"}]}],
    }
    if plan.payment_method:
        body["PaymentMethodRef"] = {"value": plan.payment_method}
    if invoice.get("CurrencyRef"):
        body["CurrencyRef"] = invoice["CurrencyRef"]
    return body


async def remove(api: QuickBooksApi, ctx: PushContext,
                 invoices: list[tuple[PushItem, dict[str, Any]]]) -> dict[int, SyncError]:
    """Delete the Payments applied to each Invoice (QuickBooks voids no invoice with payments applied);
    return the records whose Payments could not be removed."""
    by_payment: dict[str, int] = {}
    for item, invoice in invoices:
        for linked in invoice.get("LinkedTxn") or []:
            if linked.get("TxnType") == "Payment" and linked.get("TxnId"):
                by_payment[str(linked["TxnId"])] = item.key
    if not by_payment:
        return {}
    try:
        found = await api.query(ctx, "Payment", f"Id in ({', '.join(quoted(i) for i in sorted(by_payment))})")
    except SyncError as exc:
        return {key: exc for key in set(by_payment.values())}
    ops = [(by_payment[str(p["Id"])], {"bId": f"payment.{p['Id']}", "operation": "delete",
                                       "Payment": {"Id": str(p["Id"]), "SyncToken": str(p.get("SyncToken", "0"))}})
           for p in found if str(p.get("Id")) in by_payment]
    return await _send(api, ctx, ops, None)


async def _send(api: QuickBooksApi, ctx: PushContext, ops: list[tuple[int, dict[str, Any]]],
                answered: str | None) -> dict[int, SyncError]:
    """Send (record key, operation) pairs in batches; return the first failure of each record.
    `answered`: the entity a successful answer must carry (None: no faults is enough)."""
    failures: dict[int, SyncError] = {}
    for start in range(0, len(ops), MAX_BATCH):
        chunk = ops[start : start + MAX_BATCH]
        try:
            answer = await api.batch(ctx, [op for _, op in chunk])
        except SyncError as exc:
            for key, _ in chunk:
                failures.setdefault(key, exc)
            continue
        by_bid = {str(entry.get("bId")): entry for entry in answer.items}
        for key, op in chunk:
            entry = by_bid.get(op["bId"]) or {}
            faults = errors.faults_in(entry)
            if faults:
                error = errors.classify(faults)
                error.request_id = answer.intuit_tid
                failures.setdefault(key, error)
            elif answered and not isinstance(entry.get(answered), dict):
                failures.setdefault(key, TransientError(f"QuickBooks answered without the {answered}.",
                                                        request_id=answer.intuit_tid))
    return failures
