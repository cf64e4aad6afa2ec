"""Pure translations: one POS record (PushItem) + the connection's settings → one Xero element.

No I/O here. Each function returns a `Document`: which collection the element goes to, the
element itself, and the payments to post once Xero has accepted the document. A record that
cannot be translated raises a PermanentError (with advice) or a TransientError (a record it
refers to has not reached Xero yet).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.connectors import rules
from app.connectors.base import PushItem
from app.connectors.xero import errors
from app.connectors.xero.settings import XeroSettings
from app.entities import totals

CONTACT_NUMBER_MAX = 50
ITEM_CODE_MAX = 30
ITEM_NAME_MAX = 50
TAX_NUMBER_MAX = 50

# Customers and suppliers share Xero's Contacts; the prefix keeps customer 1001 and supplier 1001
# apart while staying readable in Xero's "Contact code" column.
CONTACT_PREFIX = {"customer": "CUS-", "supplier": "SUP-"}

ID_FIELD = {
    "Contacts": "ContactID",
    "Items": "ItemID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "PurchaseOrders": "PurchaseOrderID",
}


@dataclass(frozen=True)
class PaymentPlan:
    """A payment to apply to the document once it exists in Xero."""

    account_code: str
    amount: float
    date: str
    reference: str


@dataclass(frozen=True)
class Document:
    collection: str
    element: dict[str, Any]
    payments: tuple[PaymentPlan, ...] = field(default=())
    note: str | None = None  # what the shop should know once Xero has it (a rounding line added)

    @property
    def id_field(self) -> str:
        return ID_FIELD[self.collection]


def build(item: PushItem, settings: XeroSettings, item_codes: Mapping[str, str] | None = None,
          tax_rates: Mapping[str, Decimal] | None = None) -> Document:
    """Translate one record. `item_codes` maps Xero ItemIDs to item codes (for sale and PO lines);
    `tax_rates` maps TaxTypes to percent (for sales with prices before tax)."""
    codes = item_codes or {}
    match item.entity_type:
        case "customer" | "supplier":
            return Document("Contacts", contact(item))
        case "product":
            return Document("Items", product(item, settings))
        case "purchase_order":
            return Document("PurchaseOrders", purchase_order(item, settings, codes))
        case "sale":
            return sale(item, settings, codes, tax_rates)
        case "shift_report":
            return shift_report(item, settings)
    raise ValueError(f"Xero does not take entity type {item.entity_type!r}")


# --- contacts ---------------------------------------------------------------------------------


def contact_number(entity_type: str, pos_id: str) -> str:
    """Stable, ≤ 50 chars, distinct for a customer and a supplier of the same POS id."""
    number = CONTACT_PREFIX[entity_type] + pos_id
    if len(number) <= CONTACT_NUMBER_MAX:
        return number
    digest = hashlib.sha256(pos_id.encode()).hexdigest()[:12]
    keep = CONTACT_NUMBER_MAX - len(CONTACT_PREFIX[entity_type]) - len(digest) - 1
    return f"{CONTACT_PREFIX[entity_type]}{pos_id[:keep]}~{digest}"


def name_with_pos_id(name: str, pos_id: str) -> str:
    """The name sent again when Xero already has an active contact of that name."""
    suffix = f" ({pos_id})"
    return name[: 255 - len(suffix)] + suffix


def contact(item: PushItem) -> dict[str, Any]:
    p = item.payload
    name = rules.display_name(item.entity_type, p)
    if not name:
        what = "first name, last name or company name" if item.entity_type == "customer" else "name"
        raise errors.advice_error(
            "missing_name",
            f"The {item.entity_type} has no name.",
            f"Give the {item.entity_type} a {what} in the POS: Xero contacts need a name.",
        )
    element: dict[str, Any] = {"ContactNumber": contact_number(item.entity_type, item.pos_id), "Name": name}
    if item.external_id:
        element["ContactID"] = item.external_id
    first, last = (
        (p.get("first_name"), p.get("last_name"))
        if item.entity_type == "customer"
        else (p.get("contact_first_name"), p.get("contact_last_name"))
    )
    _put(element, "FirstName", first)
    _put(element, "LastName", last)
    _put(element, "EmailAddress", p.get("email"))
    tax_number = p.get("tax_number")
    if tax_number:
        if len(tax_number) > TAX_NUMBER_MAX:
            raise errors.advice_error(
                "tax_number_too_long",
                f"Tax number has {len(tax_number)} characters; Xero holds at most {TAX_NUMBER_MAX}.",
                "Shorten the tax number in the POS.",
            )
        element["TaxNumber"] = tax_number
    phones = [
        {"PhoneType": kind, "PhoneNumber": p[key]}
        for key, kind in (("phone", "DEFAULT"), ("mobile", "MOBILE"))
        if p.get(key)
    ]
    if phones:
        element["Phones"] = phones
    addresses = _addresses(p.get("addresses") or [])
    if addresses:
        element["Addresses"] = addresses
    return element


_ADDRESS_TYPE = {"billing": "POBOX", "postal": "POBOX", "street": "STREET", "shipping": "STREET"}


def _addresses(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Xero keeps one address per type; the first of each kind wins.
    out: dict[str, dict[str, Any]] = {}
    for a in raw:
        kind = _ADDRESS_TYPE.get(a.get("kind", "billing"), "POBOX")
        if kind in out:
            continue
        address: dict[str, Any] = {"AddressType": kind}
        for src, dst in (
            ("line1", "AddressLine1"),
            ("line2", "AddressLine2"),
            ("city", "City"),
            ("region", "Region"),
            ("postcode", "PostalCode"),
            ("country", "Country"),
        ):
            _put(address, dst, a.get(src), limit=50 if dst in ("PostalCode", "Country") else None)
        if len(address) > 1:
            out[kind] = address
    return list(out.values())


# --- items ------------------------------------------------------------------------------------


def product(item: PushItem, settings: XeroSettings) -> dict[str, Any]:
    p = item.payload
    sku = p["sku"]
    if len(sku) > ITEM_CODE_MAX:
        raise errors.item_code_too_long(sku)
    tracked = bool(p.get("tracked")) and not p.get("service")
    # Xero caps item names at 50; the full name still reaches Xero as the description.
    element: dict[str, Any] = {
        "Code": sku,
        "Name": p["name"][:ITEM_NAME_MAX],
        "Description": (p.get("description") or p["name"])[:4000],
        "IsSold": True,
        "IsPurchased": True,
    }
    if item.external_id:
        element["ItemID"] = item.external_id
    sales: dict[str, Any] = {
        "AccountCode": settings.sales_inventory_account if tracked else settings.sales_non_inventory_account
    }
    purchases: dict[str, Any] = {}
    if p.get("price") is not None:
        sales["UnitPrice"] = unit(p["price"])
    if p.get("cost") is not None:
        purchases["UnitPrice"] = unit(p["cost"])
    if p.get("tax_rate"):
        sales["TaxType"] = sales_tax(settings, p["tax_rate"])
        purchases["TaxType"] = purchase_tax(settings, p["tax_rate"])
    if tracked:
        element["IsTrackedAsInventory"] = True
        element["InventoryAssetAccountCode"] = settings.inventory_asset_account
        purchases["COGSAccountCode"] = settings.cogs_account
    else:
        purchases["AccountCode"] = settings.purchases_non_inventory_account
    element["SalesDetails"] = sales
    element["PurchaseDetails"] = purchases
    return element


# --- purchase orders --------------------------------------------------------------------------


def purchase_order(item: PushItem, settings: XeroSettings, item_codes: Mapping[str, str]) -> dict[str, Any]:
    p = item.payload
    supplier_id = _reference(item, "supplier", p["supplier_id"])
    element: dict[str, Any] = {
        "Contact": {"ContactID": supplier_id},
        "PurchaseOrderNumber": p["number"],
        "Reference": f"POS {item.pos_id}",
        "Status": "AUTHORISED",
        "LineAmountTypes": "Inclusive" if p.get("prices_include_tax") else "Exclusive",
        "LineItems": [],
    }
    if item.external_id:
        element["PurchaseOrderID"] = item.external_id
    _put(element, "Date", _date(p.get("ordered_at") or p.get("received_at")))
    _put(element, "DeliveryDate", _date(p.get("received_at")))
    _put(element, "CurrencyCode", p.get("currency"))
    for line in p["lines"]:
        out: dict[str, Any] = {
            "ItemCode": _item_code(item, line["product_id"], item_codes),
            "Quantity": quantity(line["quantity"]),
            "UnitAmount": unit(line["unit_cost"]),
        }
        _put(out, "Description", line.get("description"))
        if line.get("tax_rate"):
            out["TaxType"] = purchase_tax(settings, line["tax_rate"])
        element["LineItems"].append(out)
    return element


# --- sales ------------------------------------------------------------------------------------


def sale(item: PushItem, settings: XeroSettings, item_codes: Mapping[str, str],
         tax_rates: Mapping[str, Decimal] | None = None) -> Document:
    """A completed sale → AUTHORISED ACCREC invoice; a refund → ACCRECCREDIT credit note.

    The document comes to the POS total to the cent: where Xero's rounding (each line's amount
    and tax rounded, then summed) would differ, or the POS rounded a cash total, a rounding line
    to the rounding account makes up the difference. Payments may come to less than the total:
    the rest stays owed on the invoice (AmountDue).
    """
    p = item.payload
    refund = p.get("status") == "refund"
    number = f"{settings.invoice_number_prefix}{p['number']}"
    day = _date(p["date"])
    inclusive = p.get("prices_include_tax", True)
    lines = [_sale_line(item, line, settings, item_codes) for line in p.get("lines") or []]
    lines += [_custom_line(line, settings) for line in p.get("custom_lines") or []]
    note = None
    difference = _rounding_needed(p, lines, inclusive, tax_rates or {})
    if difference:
        lines.append({"Description": "Rounding", "Quantity": 1.0, "UnitAmount": float(difference),
                      "AccountCode": settings.rounding_account, "TaxType": settings.untaxed_tax_type})
        note = (f"Added a rounding line of {difference} to account {settings.rounding_account} so the "
                f"{'credit note' if refund else 'invoice'} total equals the POS total {totals.sale_total(p)}.")
    element: dict[str, Any] = {
        "Type": "ACCRECCREDIT" if refund else "ACCREC",
        "Contact": _sale_contact(item, settings),
        "Date": day,
        "Reference": f"POS {item.pos_id}",
        "Status": "AUTHORISED",
        "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
        "LineItems": lines,
    }
    _put(element, "CurrencyCode", p.get("currency"))
    if refund:
        element["CreditNoteNumber"] = number
    else:
        element["InvoiceNumber"] = number
        element["DueDate"] = day  # paid at the till: due the day it was issued
    collection = "CreditNotes" if refund else "Invoices"
    if item.external_id:
        element[ID_FIELD[collection]] = item.external_id
    plans = _payment_plans(
        (
            (pay["payment_type"], totals.dec(pay["amount"]) - totals.dec(pay.get("change_given")), pay.get("paid_at"))
            for pay in p.get("payments") or []
        ),
        settings,
        default_date=day,
        reference=number,
        refund=refund,
    )
    return Document(collection, element, plans, note)


def xero_total(lines: list[dict[str, Any]], inclusive: bool, tax_rates: Mapping[str, Decimal]) -> Decimal | None:
    """The total Xero computes: each line's amount rounded to the cent, plus (prices before tax) each
    line's tax (given, or at its TaxType's rate) rounded; None when a rate is not known."""
    total = Decimal(0)
    for line in lines:
        amount = totals.cents(
            totals.dec(line.get("Quantity", 1)) * totals.dec(line.get("UnitAmount")) - totals.dec(line.get("DiscountAmount"))
        )
        total += amount
        if not inclusive and line.get("TaxType") not in (None, "NONE"):
            if line.get("TaxAmount") is not None:
                total += totals.cents(line["TaxAmount"])
            elif line["TaxType"] in tax_rates:
                total += totals.cents(amount * tax_rates[line["TaxType"]] / 100)
            else:
                return None
    return total


def _rounding_needed(payload: dict[str, Any], lines: list[dict[str, Any]], inclusive: bool,
                     tax_rates: Mapping[str, Decimal]) -> Decimal:
    wanted = totals.sale_total(payload)
    computed = xero_total(lines, inclusive, tax_rates)
    if wanted is None or computed is None:
        return Decimal(0)
    return wanted - computed


def _custom_line(line: dict[str, Any], settings: XeroSettings) -> dict[str, Any]:
    kind = line["kind"]
    account = settings.custom_line_accounts.get(kind)
    if not account:
        raise errors.missing_custom_line_mapping(kind)
    out: dict[str, Any] = {
        "Description": line.get("description") or kind.replace("_", " ").capitalize(),
        "Quantity": 1.0,
        "UnitAmount": unit(line["amount"]),
        "AccountCode": account,
        "TaxType": sales_tax(settings, line["tax_rate"]) if line.get("tax_rate") else settings.untaxed_tax_type,
    }
    if line.get("tax_amount") is not None:
        out["TaxAmount"] = money(line["tax_amount"])
    return out


def _sale_contact(item: PushItem, settings: XeroSettings) -> dict[str, Any]:
    customer = item.payload.get("customer_id")
    if not customer:
        # Xero finds the contact by name, or creates it the first time.
        return {"Name": settings.walk_in_contact_name}
    return {"ContactID": _reference(item, "customer", customer)}


def _sale_line(
    item: PushItem, line: dict[str, Any], settings: XeroSettings, item_codes: Mapping[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ItemCode": _item_code(item, line["product_id"], item_codes),
        "Quantity": quantity(line["quantity"]),
        "UnitAmount": unit(line["unit_price"]),
    }
    _put(out, "Description", line.get("description"))
    discount = Decimal(str(line.get("discount") or 0))
    if discount > 0:
        out["DiscountAmount"] = money(discount)
    if line.get("tax_rate"):
        out["TaxType"] = sales_tax(settings, line["tax_rate"])
    if line.get("tax_amount") is not None and not item.payload.get("prices_include_tax", True):
        out["TaxAmount"] = money(line["tax_amount"])
    return out


# --- shift reports ----------------------------------------------------------------------------


def shift_report(item: PushItem, settings: XeroSettings) -> Document:
    """One summary invoice per register shift: a line per tax rate, a payment per payment type."""
    p = item.payload
    negative = rules.negative_payment_totals(p)
    if negative:
        raise errors.negative_shift_totals(negative)
    label = p.get("number") or item.pos_id
    number = f"{settings.invoice_number_prefix}SHIFT-{label}"
    day = _date(p.get("closed_at") or p["opened_at"])
    where = f" · {p['register_name']}" if p.get("register_name") else ""
    lines: list[dict[str, Any]] = []
    for total in p.get("totals_by_tax_rate") or []:
        lines.append(
            {
                "Description": f"POS sales, {total['tax_rate']}, shift {label}",
                "Quantity": 1.0,
                "UnitAmount": money(total["net"]),
                "TaxAmount": money(total["tax"]),
                "TaxType": sales_tax(settings, total["tax_rate"]),
                "AccountCode": settings.shift_sales_account,
            }
        )
    element: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": {"Name": settings.walk_in_contact_name},
        "Date": day,
        "DueDate": day,
        "InvoiceNumber": number,
        "Reference": f"Shift {label}{where}",
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": lines,
    }
    if not lines:
        # No tax breakdown from the POS: one untaxed line so the total matches the payments.
        element["LineAmountTypes"] = "NoTax"
        element["LineItems"] = [
            {
                "Description": f"POS sales, shift {label}",
                "Quantity": 1.0,
                "UnitAmount": money(p["sales_total"]),
                "AccountCode": settings.shift_sales_account,
            }
        ]
    _put(element, "CurrencyCode", p.get("currency"))
    if item.external_id:
        element["InvoiceID"] = item.external_id
    plans = _payment_plans(
        ((t["payment_type"], t["amount"], None) for t in p.get("totals_by_payment_type") or []),
        settings,
        default_date=day,
        reference=number,
        refund=False,
    )
    return Document("Invoices", element, plans)


# --- payments ---------------------------------------------------------------------------------


def _payment_plans(
    payments, settings: XeroSettings, *, default_date: str, reference: str, refund: bool
) -> tuple[PaymentPlan, ...]:
    totals: dict[str, Decimal] = {}
    dates: dict[str, str] = {}
    for payment_type, amount, paid_at in payments:
        totals[payment_type] = totals.get(payment_type, Decimal(0)) + Decimal(str(amount))
        if paid_at:
            dates[payment_type] = max(dates.get(payment_type, ""), _date(paid_at))
    plans = []
    for payment_type, total in totals.items():
        account = settings.payment_accounts.get(payment_type)
        if not account:
            raise errors.missing_payment_mapping(payment_type)
        if refund:
            total = abs(total)  # POSes record refunds paid out either as negative or as positive amounts
        if total == 0:
            continue
        if total < 0:
            raise errors.advice_error(
                "negative_payment",
                f"Negative {payment_type} payment on the sale.",
                "Xero's API cannot record a negative payment on an invoice; record it as a refund "
                "in the POS or by hand in Xero.",
            )
        plans.append(
            PaymentPlan(
                account_code=account,
                amount=money(total),
                date=dates.get(payment_type, default_date),
                reference=f"{reference} {payment_type}",
            )
        )
    return tuple(plans)


def payment_element(plan: PaymentPlan, collection: str, document_id: str) -> dict[str, Any]:
    target = "CreditNote" if collection == "CreditNotes" else "Invoice"
    return {
        target: {ID_FIELD[collection]: document_id},
        "Account": {"Code": plan.account_code},
        "Date": plan.date,
        "Amount": plan.amount,
        "Reference": plan.reference,
    }


# --- small helpers ----------------------------------------------------------------------------


def sales_tax(settings: XeroSettings, tax_rate: str) -> str:
    tax_type = settings.sales_tax_types.get(tax_rate)
    if not tax_type:
        raise errors.missing_tax_mapping(tax_rate, "sales")
    return tax_type


def purchase_tax(settings: XeroSettings, tax_rate: str) -> str:
    tax_type = settings.purchase_tax_types.get(tax_rate)
    if not tax_type:
        raise errors.missing_tax_mapping(tax_rate, "purchases")
    return tax_type


def product_references(item: PushItem) -> list[str]:
    """ItemIDs the record's lines refer to (to look their codes up before mapping)."""
    return [
        ref
        for line in item.payload.get("lines") or []
        if (ref := item.references.get(("product", line["product_id"])))
    ]


def _reference(item: PushItem, entity_type: str, pos_id: str) -> str:
    ref = item.references.get((entity_type, pos_id))
    if not ref:
        raise errors.reference_not_synced(entity_type, pos_id)
    return ref


def _item_code(item: PushItem, product_id: str, item_codes: Mapping[str, str]) -> str:
    item_id = _reference(item, "product", product_id)
    code = item_codes.get(item_id)
    if not code:
        raise errors.advice_error(
            "item_not_in_xero",
            f"Product {product_id} (Xero item {item_id}) was not found in Xero.",
            f"Sync product {product_id} again (SYNC NOW on the product), then this record.",
        )
    return code


def money(value: Any) -> float:
    # Xero's schema types amounts as JSON numbers (format double), never strings.
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def unit(value: Any) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


quantity = unit


def _date(value: str | None) -> str | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date().isoformat()


def _put(target: dict[str, Any], key: str, value: Any, *, limit: int | None = None) -> None:
    if value not in (None, ""):
        target[key] = value[:limit] if limit and isinstance(value, str) else value
