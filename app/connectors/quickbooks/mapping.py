"""Pure translations: one POS record (PushItem) + the connection's settings → one QuickBooks object.

No I/O here. `build` returns a `Document`: the entity name, the JSON body of a create (the
connector adds Id, SyncToken and `sparse` for an update), the field that finds the object again
after a lost answer (`lookup_field`) and how to tell that a found object is this record's
(`owned_by`). A record that cannot be translated raises a PermanentError with advice.

Tax: a US company uses automated sales tax (lines say TAX or NON, Intuit computes the rest);
any other company gets each POS tax rate's TaxCode Id and GlobalTaxCalculation. Which kind a
company is comes from its Preferences (read by the connector, passed in as `us_tax`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.connectors import rules
from app.connectors.base import PushItem
from app.connectors.quickbooks import errors
from app.connectors.quickbooks.settings import QuickBooksSettings
from app.entities import totals

DOC_NUMBER_MAX = 21
ITEM_NAME_MAX = 100
DISPLAY_NAME_MAX = 500
NOTES_MAX = 2000
NAMED = {"Customer", "Vendor", "Item"}


@dataclass(frozen=True)
class Document:
    entity: str  # QuickBooks entity name: Customer, Vendor, Item, PurchaseOrder, SalesReceipt, Invoice, RefundReceipt
    body: dict[str, Any]
    lookup_field: str  # DisplayName, Name or DocNumber: how a lost create is found again
    marker_field: str  # the field that carries this record's mark (Notes, Sku, PrivateNote)
    marker: str

    @property
    def lookup_value(self) -> str:
        return self.body[self.lookup_field]

    def owns(self, found: dict[str, Any]) -> bool:
        """Whether an object QuickBooks holds is the one an earlier push of this record created."""
        value = str(found.get(self.marker_field) or "")
        return value == self.marker or value.startswith(self.marker + "\n")

    def renamed(self, pos_id: str) -> "Document":
        """The same object under its name with the POS id appended (duplicate_names = add_pos_id)."""
        field = self.lookup_field
        limit = ITEM_NAME_MAX if self.entity == "Item" else DISPLAY_NAME_MAX
        suffix = f" ({pos_id})"
        return Document(self.entity, {**self.body, field: self.body[field][: limit - len(suffix)] + suffix},
                        field, self.marker_field, self.marker)


def build(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool, today: date) -> Document:
    """Translate one record. `today` dates the opening stock of a new inventory item."""
    match item.entity_type:
        case "customer" | "supplier":
            return person(item)
        case "product":
            return product(item, settings, us_tax=us_tax, today=today)
        case "purchase_order":
            return purchase_order(item, settings, us_tax=us_tax)
        case "sale":
            return sale(item, settings, us_tax=us_tax)
        case "shift_report":
            return shift_report(item, settings, us_tax=us_tax)
    raise ValueError(f"QuickBooks does not take entity type {item.entity_type!r}")


# --- customers and vendors ----------------------------------------------------------------------


def person(item: PushItem) -> Document:
    p = item.payload
    customer = item.entity_type == "customer"
    name = rules.display_name(item.entity_type, p)
    if not name:
        what = "first name, last name or company name" if customer else "name"
        raise errors.advice_error(
            "missing_name",
            f"The {item.entity_type} has no name.",
            f"Give the {item.entity_type} a {what} in the POS: QuickBooks needs a display name.",
        )
    marker = f"POS {item.entity_type} {item.pos_id}"
    body: dict[str, Any] = {"DisplayName": name[:DISPLAY_NAME_MAX]}
    first, last = (p.get("first_name"), p.get("last_name")) if customer else (
        p.get("contact_first_name"), p.get("contact_last_name"))
    _put(body, "GivenName", first, limit=100)
    _put(body, "FamilyName", last, limit=100)
    _put(body, "CompanyName", p.get("company_name") if customer else p.get("name"), limit=100)
    if p.get("email"):
        body["PrimaryEmailAddr"] = {"Address": p["email"]}
    if p.get("phone"):
        body["PrimaryPhone"] = {"FreeFormNumber": p["phone"][:30]}
    if customer and p.get("mobile"):
        body["Mobile"] = {"FreeFormNumber": p["mobile"][:30]}
    if p.get("tax_number"):
        body["PrimaryTaxIdentifier" if customer else "TaxIdentifier"] = p["tax_number"]
    if not customer:
        _put(body, "AcctNum", p.get("account_number"), limit=100)
    billing, shipping = _addresses(p.get("addresses") or [])
    _put(body, "BillAddr", billing)
    _put(body, "ShipAddr", shipping)
    # The mark that tells, after a lost answer, that a customer of this name is this record.
    body["Notes"] = (marker + ("\n" + p["note"] if p.get("note") else ""))[:NOTES_MAX]
    return Document("Customer" if customer else "Vendor", body, "DisplayName", "Notes", marker)


def _addresses(raw: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    billing = shipping = None
    for a in raw:
        address: dict[str, Any] = {}
        for src, dst in (("line1", "Line1"), ("line2", "Line2"), ("city", "City"),
                         ("region", "CountrySubDivisionCode"), ("postcode", "PostalCode"), ("country", "Country")):
            _put(address, dst, a.get(src))
        if not address:
            continue
        if a.get("kind") in ("shipping", "street"):
            shipping = shipping or address
        else:
            billing = billing or address
    return billing, shipping


# --- items --------------------------------------------------------------------------------------


def product(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool, today: date) -> Document:
    p = item.payload
    if len(p["name"]) > ITEM_NAME_MAX:
        raise errors.advice_error(
            "item_name_too_long",
            f"Product name has {len(p['name'])} characters; QuickBooks item names hold at most {ITEM_NAME_MAX}.",
            f"Shorten the product's name to {ITEM_NAME_MAX} characters in the POS (a cut name could clash with "
            "another item's), then sync it again.",
        )
    body: dict[str, Any] = {"Name": p["name"], "Sku": p["sku"], "Active": bool(p.get("active", True))}
    _put(body, "Description", p.get("description"), limit=4000)
    if p.get("price") is not None:
        body["UnitPrice"] = unit(p["price"])
    if p.get("cost") is not None:
        body["PurchaseCost"] = unit(p["cost"])
    if p.get("service"):
        body.update(Type="Service", IncomeAccountRef=_ref(settings.sales_service_account))
    elif p.get("tracked"):
        body.update(
            Type="Inventory",
            TrackQtyOnHand=True,
            QtyOnHand=quantity(p.get("quantity") or 0),
            IncomeAccountRef=_ref(settings.sales_inventory_account),
            ExpenseAccountRef=_ref(settings.cogs_account),
            AssetAccountRef=_ref(settings.inventory_asset_account),
        )
        if item.external_id is None:
            body["InvStartDate"] = today.isoformat()  # opening stock: only when the item is created
    else:
        body.update(
            Type="NonInventory",
            IncomeAccountRef=_ref(settings.sales_non_inventory_account),
            ExpenseAccountRef=_ref(settings.purchases_non_inventory_account),
        )
    if p.get("tax_rate"):
        if us_tax:
            body["Taxable"] = p["tax_rate"] not in settings.us_non_taxable_rates
        else:
            code = tax_code(settings, p["tax_rate"])
            body.update(SalesTaxCodeRef=_ref(code), PurchaseTaxCodeRef=_ref(code),
                        SalesTaxIncluded=bool(p.get("prices_include_tax", True)))
    return Document("Item", body, "Name", "Sku", p["sku"])


# --- purchase orders ----------------------------------------------------------------------------


def purchase_order(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool) -> Document:
    p = item.payload
    marker = f"POS {item.pos_id}"
    body: dict[str, Any] = {
        "VendorRef": _ref(_reference(item, "supplier", p["supplier_id"])),
        "DocNumber": doc_number(p["number"]),
        "PrivateNote": marker,
        "Line": [],
    }
    _put(body, "TxnDate", _date(p.get("ordered_at") or p.get("received_at")))
    _put(body, "ExpectedDate", _date(p.get("expected_at")))
    _put(body, "Memo", p.get("note"), limit=4000)
    if p.get("currency"):
        body["CurrencyRef"] = _ref(p["currency"])
    if not us_tax:
        body["GlobalTaxCalculation"] = "TaxInclusive" if p.get("prices_include_tax") else "TaxExcluded"
    for line in p["lines"]:
        detail: dict[str, Any] = {
            "ItemRef": _ref(_reference(item, "product", line["product_id"])),
            "Qty": quantity(line["quantity"]),
            "UnitPrice": unit(line["unit_cost"]),
        }
        if line.get("tax_rate") and not us_tax:  # US purchases carry no sales tax code
            detail["TaxCodeRef"] = _ref(tax_code(settings, line["tax_rate"]))
        out: dict[str, Any] = {
            "DetailType": "ItemBasedExpenseLineDetail",
            "Amount": money(Decimal(str(line["quantity"])) * Decimal(str(line["unit_cost"]))),
            "ItemBasedExpenseLineDetail": detail,
        }
        _put(out, "Description", line.get("description"), limit=4000)
        body["Line"].append(out)
    return Document("PurchaseOrder", body, "DocNumber", "PrivateNote", marker)


# --- sales --------------------------------------------------------------------------------------


def sale(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool) -> Document:
    """Paid at the till → SalesReceipt; nothing paid (on account) → Invoice; a refund → RefundReceipt.

    A sale paid with several payment types is still one SalesReceipt (one object per record, one
    batch operation): its money goes to `mixed_payments_account` (Undeposited Funds), where the
    shop splits it by payment type when it records the bank deposit, as QuickBooks itself does.
    """
    p = item.payload
    refund = p.get("status") == "refund"
    marker = f"POS {item.pos_id}"
    paid = [pay for pay in p.get("payments") or [] if _net(pay) != 0]
    body: dict[str, Any] = {
        "DocNumber": doc_number(settings.doc_number_prefix + p["number"]),
        "TxnDate": _date(p["date"]),
        "PrivateNote": marker,
        "Line": _sale_lines(item, settings, us_tax=us_tax),
    }
    if p.get("customer_id"):
        body["CustomerRef"] = _ref(_reference(item, "customer", p["customer_id"]))
    if p.get("currency"):
        body["CurrencyRef"] = _ref(p["currency"])
    if not us_tax:
        body["GlobalTaxCalculation"] = "TaxInclusive" if p.get("prices_include_tax", True) else "TaxExcluded"
    _put(body, "CustomerMemo", {"value": p["note"][:1000]} if p.get("note") else None)
    if not paid and not refund:
        if "CustomerRef" not in body:
            raise errors.advice_error(
                "on_account_without_customer",
                "A sale with no payment is an on-account sale, and it has no customer.",
                "Add the customer to the sale in the POS (QuickBooks invoices need one), or record its payment.",
            )
        body["DueDate"] = body["TxnDate"]
        return Document("Invoice", body, "DocNumber", "PrivateNote", marker)
    if refund and not paid:
        raise errors.advice_error(
            "refund_without_payment",
            "The refund names no payment type.",
            "Record how the refund was paid out (its payment type) in the POS; QuickBooks needs the account it "
            "came from.",
        )
    _refuse_part_payment(p, refund=refund)
    body.update(_deposit(settings, [pay["payment_type"] for pay in paid]))
    return Document("RefundReceipt" if refund else "SalesReceipt", body, "DocNumber", "PrivateNote", marker)


def _net(payment: dict[str, Any]) -> Decimal:
    """What a payment leaves in the till: its amount less the change handed back."""
    return totals.dec(payment["amount"]) - totals.dec(payment.get("change_given"))


def _refuse_part_payment(payload: dict[str, Any], *, refund: bool) -> None:
    """A SalesReceipt says the whole sale was paid; one paid in part must not claim that."""
    total = totals.sale_total(payload)
    paid = totals.cents(totals.paid(payload))
    if total is None or refund or paid >= total:
        return
    raise errors.advice_error(
        "part_payment_unsupported",
        f"The sale was paid {paid} of its total {total}; {total - paid} is still owed.",
        "possync does not yet send part-paid sales to QuickBooks as an invoice with a payment. Enter this sale "
        "in QuickBooks by hand as an invoice and receive the payment against it, or record the full payment in "
        "the POS.",
    )


def _sale_lines(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    discount = Decimal(0)
    for line in item.payload.get("lines") or []:
        detail: dict[str, Any] = {
            "ItemRef": _ref(_reference(item, "product", line["product_id"])),
            "Qty": quantity(line["quantity"]),
            "UnitPrice": unit(line["unit_price"]),
        }
        _tax(detail, settings, line.get("tax_rate"), us_tax=us_tax)
        out: dict[str, Any] = {
            "DetailType": "SalesItemLineDetail",
            "Amount": money(Decimal(str(line["quantity"])) * Decimal(str(line["unit_price"]))),
            "SalesItemLineDetail": detail,
        }
        _put(out, "Description", line.get("description"), limit=4000)
        lines.append(out)
        discount += Decimal(str(line.get("discount") or 0))
    lines += [_custom_line(line, settings, us_tax=us_tax) for line in item.payload.get("custom_lines") or []]
    rounding = totals.dec(item.payload.get("cash_rounding"))
    if rounding:
        detail = {"ItemRef": _ref(settings.rounding_item), "Qty": 1, "UnitPrice": unit(rounding)}
        if us_tax:
            detail["TaxCodeRef"] = _ref("NON")
        lines.append({"DetailType": "SalesItemLineDetail", "Amount": money(rounding), "Description": "Cash rounding",
                      "SalesItemLineDetail": detail})
    if discount > 0:
        # QuickBooks wants Amount = Qty × UnitPrice on item lines; the POS's line discounts become one
        # discount line (an amount, not a percentage) over the receipt.
        lines.append({"DetailType": "DiscountLineDetail", "Amount": money(discount),
                      "DiscountLineDetail": {"PercentBased": False}})
    return lines


def _custom_line(line: dict[str, Any], settings: QuickBooksSettings, *, us_tax: bool) -> dict[str, Any]:
    """A line with no product: QuickBooks sales lines name an item (never an account), so each kind
    has its item, whose income account is where the kind's money goes."""
    kind = line["kind"]
    item_id = settings.custom_line_items.get(kind)
    if not item_id:
        raise errors.missing_custom_line_mapping(kind)
    detail: dict[str, Any] = {"ItemRef": _ref(item_id), "Qty": 1, "UnitPrice": unit(line["amount"])}
    _tax(detail, settings, line.get("tax_rate"), us_tax=us_tax)
    return {"DetailType": "SalesItemLineDetail", "Amount": money(line["amount"]),
            "Description": (line.get("description") or kind.replace("_", " ").capitalize())[:4000],
            "SalesItemLineDetail": detail}


def _tax(detail: dict[str, Any], settings: QuickBooksSettings, tax_rate: str | None, *, us_tax: bool) -> None:
    if us_tax:
        taxable = bool(tax_rate) and tax_rate not in settings.us_non_taxable_rates
        detail["TaxCodeRef"] = _ref("TAX" if taxable else "NON")
    elif tax_rate:
        detail["TaxCodeRef"] = _ref(tax_code(settings, tax_rate))


def _deposit(settings: QuickBooksSettings, payment_types: list[str]) -> dict[str, Any]:
    mappings = {}
    for payment_type in payment_types:
        mapping = settings.payment_types.get(payment_type)
        if mapping is None:
            raise errors.missing_payment_mapping(payment_type)
        mappings[payment_type] = mapping
    if len(mappings) == 1:
        (only,) = mappings.values()
        out = {"DepositToAccountRef": _ref(only.deposit_account)}
        if only.payment_method:
            out["PaymentMethodRef"] = _ref(only.payment_method)
        return out
    return {"DepositToAccountRef": _ref(settings.mixed_payments_account)}


# --- shift reports ------------------------------------------------------------------------------


def shift_report(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool) -> Document:
    """One summary SalesReceipt per register shift: a line per tax rate, deposited per payment type.

    A SalesReceipt rather than a JournalEntry: it counts in QuickBooks' sales and sales-tax reports
    like the sales it summarises; a journal entry would bypass both.
    """
    p = item.payload
    negative = rules.negative_payment_totals(p)
    if negative:
        names = ", ".join(negative)
        raise errors.advice_error(
            "negative_payment_total",
            f"Negative shift total for payment type(s): {names}.",
            "A sales receipt cannot take a negative payment, so this shift summary cannot be sent. Record the "
            f"{names} refund by hand in QuickBooks (a refund receipt), or sync individual sales.",
        )
    label = p.get("number") or item.pos_id
    marker = f"POS shift {item.pos_id}"
    where = f" · {p['register_name']}" if p.get("register_name") else ""
    lines = []
    for total in p.get("totals_by_tax_rate") or []:
        detail: dict[str, Any] = {"ItemRef": _ref(settings.shift_summary_item), "Qty": 1,
                                  "UnitPrice": money(total["net"])}
        _tax(detail, settings, total["tax_rate"], us_tax=us_tax)
        lines.append({"DetailType": "SalesItemLineDetail", "Amount": money(total["net"]),
                      "Description": f"POS sales, {total['tax_rate']}, shift {label}{where}",
                      "SalesItemLineDetail": detail})
    if not lines:
        detail = {"ItemRef": _ref(settings.shift_summary_item), "Qty": 1, "UnitPrice": money(p["sales_total"])}
        if us_tax:
            detail["TaxCodeRef"] = _ref("NON")
        lines.append({"DetailType": "SalesItemLineDetail", "Amount": money(p["sales_total"]),
                      "Description": f"POS sales, shift {label}{where}", "SalesItemLineDetail": detail})
    body: dict[str, Any] = {
        "DocNumber": doc_number(f"{settings.doc_number_prefix}SHIFT-{label}"),
        "TxnDate": _date(p.get("closed_at") or p["opened_at"]),
        "PrivateNote": marker,
        "Line": lines,
    }
    if p.get("currency"):
        body["CurrencyRef"] = _ref(p["currency"])
    if not us_tax:
        body["GlobalTaxCalculation"] = "TaxExcluded" if p.get("totals_by_tax_rate") else "NotApplicable"
    paid = [t["payment_type"] for t in p.get("totals_by_payment_type") or [] if Decimal(str(t["amount"])) != 0]
    body.update(_deposit(settings, paid) if paid else {"DepositToAccountRef": _ref(settings.mixed_payments_account)})
    return Document("SalesReceipt", body, "DocNumber", "PrivateNote", marker)


# --- small helpers ------------------------------------------------------------------------------


def doc_number(number: str) -> str:
    if len(number) > DOC_NUMBER_MAX:
        raise errors.doc_number_too_long(number, DOC_NUMBER_MAX)
    return number


def tax_code(settings: QuickBooksSettings, tax_rate: str) -> str:
    code = settings.tax_codes.get(tax_rate)
    if not code:
        raise errors.missing_tax_mapping(tax_rate)
    return code


def _reference(item: PushItem, entity_type: str, pos_id: str) -> str:
    ref = item.references.get((entity_type, pos_id))
    if not ref:
        raise errors.reference_not_synced(entity_type, pos_id)
    return ref


def _ref(value: str) -> dict[str, str]:
    return {"value": str(value)}


def money(value: Any) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def unit(value: Any) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


quantity = unit


def _date(value: str | None) -> str | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date().isoformat()


def _put(target: dict[str, Any], key: str, value: Any, *, limit: int | None = None) -> None:
    if value not in (None, "", {}):
        target[key] = value[:limit] if limit and isinstance(value, str) else value
