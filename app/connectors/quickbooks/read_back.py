"""Reading back from QuickBooks what records became, as the company holds them now.

One `query` per QuickBooks entity and 100 ids (`Id in (…)`, inactive names included); a
transaction QuickBooks deleted is simply not returned. A voided SalesReceipt or Invoice is kept
with its amounts at zero and "Voided" at the start of its private note. Catch-up reads Change
Data Capture (`cdc`), which reports deletions as `"status": "Deleted"`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.connectors.base import PushContext, PushItem, RemoteObject
from app.connectors.digest import Fields, content_digest
from app.connectors.quickbooks.adapter import QuickBooksApi, quoted
from app.connectors.quickbooks.retract import CANDIDATES, carries_mark

IDS_PER_QUERY = 100  # keeps the query string short; a query answers at most 1,000 objects
NAMES = ("Customer", "Vendor", "Item")  # name lists: made inactive, never deleted
CDC_ENTITIES = ("Customer", "Vendor", "Item", "PurchaseOrder", "SalesReceipt", "Invoice", "RefundReceipt")
CDC_MAX_DAYS = 30  # QuickBooks answers changes of the last 30 days at most


async def fetch_remote(api: QuickBooksApi, ctx: PushContext, entity_type: str,
                       items: list[PushItem]) -> dict[int, RemoteObject]:
    candidates = CANDIDATES[entity_type]
    ids = sorted({item.external_id for item in items if item.external_id})
    found: dict[int, RemoteObject] = {}
    for entity in candidates:
        by_id: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ", ".join(quoted(i) for i in ids[start : start + IDS_PER_QUERY])
            where = f"Id in ({chunk})" + (" and Active in (true, false)" if entity in NAMES else "")
            by_id.update({str(o.get("Id")): o for o in await api.query(ctx, entity, where)})
        for item in items:
            obj = by_id.get(str(item.external_id))
            # Ids are numbered per entity: where a sale may be one of several, its mark decides.
            if item.key in found or obj is None or (len(candidates) > 1 and not carries_mark(obj, entity_type, item.pos_id)):
                continue
            found[item.key] = remote_object(entity, obj)
    for item in items:
        if item.external_id and item.key not in found:
            found[item.key] = RemoteObject(item.external_id, "deleted")
    return found


# The fields app.connectors.quickbooks.mapping writes, per entity: a difference in these is a change
# to the books. Left out on purpose: SyncToken and MetaData (they move on every save, possync's own
# included), Balance and linked payments (a payment taken in QuickBooks), Active (judged on its
# own), quantities on hand, and the names QuickBooks copies into references.
_REF: Fields = {"value": None}
_ADDRESS: Fields = {"Line1": None, "Line2": None, "City": None, "CountrySubDivisionCode": None, "PostalCode": None,
                    "Country": None}
_NAME: Fields = {"DisplayName": None, "GivenName": None, "FamilyName": None, "CompanyName": None, "AcctNum": None,
                 "PrimaryEmailAddr": {"Address": None}, "PrimaryPhone": {"FreeFormNumber": None},
                 "Mobile": {"FreeFormNumber": None}, "BillAddr": _ADDRESS, "ShipAddr": _ADDRESS, "Notes": None,
                 "PrimaryTaxIdentifier": None, "TaxIdentifier": None}
_LINE: Fields = {"DetailType": None, "Amount": None, "Description": None,
                 "SalesItemLineDetail": {"ItemRef": _REF, "Qty": None, "UnitPrice": None, "TaxCodeRef": _REF},
                 "ItemBasedExpenseLineDetail": {"ItemRef": _REF, "Qty": None, "UnitPrice": None, "TaxCodeRef": _REF},
                 "DiscountLineDetail": {"PercentBased": None, "DiscountAccountRef": _REF}}
_SALE: Fields = {"CustomerRef": _REF, "DocNumber": None, "TxnDate": None, "DueDate": None, "PrivateNote": None,
                 "CustomerMemo": None, "GlobalTaxCalculation": None, "CurrencyRef": _REF, "Line": _LINE,
                 "DepositToAccountRef": _REF, "PaymentMethodRef": _REF}
MAPPED_FIELDS: dict[str, Fields] = {
    "Customer": _NAME, "Vendor": _NAME,
    "Item": {"Name": None, "Sku": None, "Type": None, "Description": None, "UnitPrice": None, "PurchaseCost": None,
             "Taxable": None, "IncomeAccountRef": _REF, "ExpenseAccountRef": _REF, "AssetAccountRef": _REF,
             "InvStartDate": None},
    "SalesReceipt": _SALE, "Invoice": _SALE, "RefundReceipt": _SALE,
    "PurchaseOrder": {"VendorRef": _REF, "DocNumber": None, "TxnDate": None, "PrivateNote": None, "CurrencyRef": _REF,
                      "APAccountRef": _REF, "Line": _LINE},
}


def digest_of(entity: str, obj: dict[str, Any]) -> str | None:
    """The object's digest over what possync maps (the same for a push's answer and a read-back)."""
    fields = MAPPED_FIELDS.get(entity)
    return content_digest(obj, fields) if fields is not None else None


def remote_object(entity: str, obj: dict[str, Any]) -> RemoteObject:
    version = str(obj["SyncToken"]) if obj.get("SyncToken") is not None else None
    updated_at = _time((obj.get("MetaData") or {}).get("LastUpdatedTime"))
    base = {"external_id": str(obj["Id"]), "remote_version": version, "updated_at": updated_at,
            "digest": digest_of(entity, obj)}
    if entity in NAMES:
        return RemoteObject(status="archived" if obj.get("Active") is False else "active", **base)
    voided = str(obj.get("PrivateNote") or "").startswith("Voided")
    total = _money(obj.get("TotalAmt"))
    paid = total - _money(obj["Balance"]) if "Balance" in obj and total is not None else total
    return RemoteObject(status="voided" if voided else "active", total=total, amount_paid=paid, **base)


async def changed_since(api: QuickBooksApi, ctx: PushContext, since: datetime) -> list[tuple[str, str]]:
    """(entity, Id) of everything changed after `since` (at most 30 days back), deletions included."""
    oldest = datetime.now(UTC) - timedelta(days=CDC_MAX_DAYS) + timedelta(minutes=1)
    answer = await api.cdc(ctx, list(CDC_ENTITIES), max(since, oldest))
    changed: list[tuple[str, str]] = []
    for block in answer:
        for response in block.get("QueryResponse") or []:
            for entity in CDC_ENTITIES:
                changed += [(entity, str(o["Id"])) for o in response.get(entity) or [] if o.get("Id")]
    return changed


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
