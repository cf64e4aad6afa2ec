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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
class PaymentPlan:
    """One POS payment, received in QuickBooks as a Payment applied to the sale's Invoice."""

    number: int  # its place among the sale's payments: marks the Payment as this one
    amount: Decimal
    date: str
    deposit_account: str
    payment_method: str | None

    def marker(self, pos_id: str) -> str:
        return f"POS {pos_id} payment {self.number}"


@dataclass(frozen=True)
class Document:
    entity: str  # QuickBooks entity name: Customer, Vendor, Item, PurchaseOrder, SalesReceipt, Invoice, RefundReceipt
    body: dict[str, Any]
    lookup_field: str  # DisplayName, Name or DocNumber: how a lost create is found again
    marker_field: str  # the field that carries this record's mark (Notes, Sku, PrivateNote)
    marker: str
    payments: tuple[PaymentPlan, ...] = field(default=())  # received against an Invoice once it exists
    note: str | None = None  # what the shop should know once QuickBooks has it (a rounding line added)

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
        return replace(self, body={**self.body, field: self.body[field][: limit - len(suffix)] + suffix})


def build(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool, today: date,
          tax_rates: Mapping[str, Decimal] | None = None) -> Document:
    """Translate one record. `today` dates the opening stock of a new inventory item; `tax_rates`
    (TaxCode Id → percent) lets a sale with prices before tax come to the POS total."""
    match item.entity_type:
        case "customer" | "supplier":
            return person(item)
        case "product":
            return product(item, settings, us_tax=us_tax, today=today)
        case "purchase_order":
            return purchase_order(item, settings, us_tax=us_tax)
        case "sale":
            return sale(item, settings, us_tax=us_tax, tax_rates=tax_rates)
        case "shift_report":
            return shift_report(item, settings, us_tax=us_tax, tax_rates=tax_rates)
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


def sale(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool,
         tax_rates: Mapping[str, Decimal] | None = None) -> Document:
    """Paid in full with one payment type → SalesReceipt; anything else → Invoice; a refund → RefundReceipt.

    A SalesReceipt says the sale was paid in full into one account (one DepositToAccountRef). A sale
    paid in part (the rest owed: on account, a layby deposit) or with several payment types (cash +
    gift card + store credit) becomes an Invoice with one Payment per POS payment, each deposited
    to its payment type's account; what is not paid stays open on the Invoice. Nothing paid: an
    Invoice alone. Where QuickBooks' rounding (tax per line, each line to the cent) would make the
    document differ from the POS total, a "Rounding" line on the rounding item makes up the
    difference, and the document's note says so.
    """
    p = item.payload
    refund = p.get("status") == "refund"
    marker = f"POS {item.pos_id}"
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
    inclusive = p.get("prices_include_tax", True)
    if not us_tax:
        body["GlobalTaxCalculation"] = "TaxInclusive" if inclusive else "TaxExcluded"
    _put(body, "CustomerMemo", {"value": p["note"][:1000]} if p.get("note") else None)
    note = _round_to_pos_total(body, p, settings, us_tax=us_tax, tax_rates=tax_rates or {}, refund=refund)
    if refund:
        paid = [pay for pay in p.get("payments") or [] if _net(pay) != 0]
        if not paid:
            raise errors.advice_error(
                "refund_without_payment",
                "The refund names no payment type.",
                "Record how the refund was paid out (its payment type) in the POS; QuickBooks needs the account it "
                "came from.",
            )
        body.update(_deposit(settings, [pay["payment_type"] for pay in paid]))
        return Document("RefundReceipt", body, "DocNumber", "PrivateNote", marker, note=note)
    paid = [pay for pay in p.get("payments") or [] if _net(pay) > 0]
    if _paid_in_full_one_way(p, paid):
        body.update(_deposit(settings, [pay["payment_type"] for pay in paid]))
        return Document("SalesReceipt", body, "DocNumber", "PrivateNote", marker, note=note)
    if "CustomerRef" not in body:
        if not settings.walk_in_customer:
            raise errors.advice_error(
                "invoice_without_customer",
                "The sale is not paid in full at once (on account, a part payment, or several payment types), so "
                "QuickBooks gets it as an invoice, and an invoice needs a customer; the sale has none.",
                "Add the customer to the sale in the POS, or set walk_in_customer in this connection's settings "
                "to the Id of a QuickBooks customer for sales without one (e.g. 'Walk-in customer').",
            )
        body["CustomerRef"] = _ref(settings.walk_in_customer)
    body["DueDate"] = body["TxnDate"]
    plans = tuple(_payment_plan(n, pay, settings, body["TxnDate"]) for n, pay in enumerate(paid, start=1))
    return Document("Invoice", body, "DocNumber", "PrivateNote", marker, payments=plans, note=note)


def _paid_in_full_one_way(payload: dict[str, Any], paid: list[dict[str, Any]]) -> bool:
    if not paid or len({pay["payment_type"] for pay in paid}) != 1:
        return False
    total = totals.sale_total(payload)
    return total is None or totals.cents(totals.paid(payload)) >= total


def _payment_plan(number: int, payment: dict[str, Any], settings: QuickBooksSettings, day: str) -> PaymentPlan:
    mapping = settings.payment_types.get(payment["payment_type"])
    if mapping is None:
        raise errors.missing_payment_mapping(payment["payment_type"])
    return PaymentPlan(number=number, amount=totals.cents(_net(payment)),
                       date=_date(payment.get("paid_at")) or day,
                       deposit_account=mapping.deposit_account, payment_method=mapping.payment_method)


def _net(payment: dict[str, Any]) -> Decimal:
    """What a payment leaves in the till: its amount less the change handed back."""
    return totals.dec(payment["amount"]) - totals.dec(payment.get("change_given"))


def quickbooks_total(lines: list[dict[str, Any]], *, inclusive: bool,
                     tax_rates: Mapping[str, Decimal]) -> Decimal | None:
    """The total QuickBooks works out: each line's amount to the cent, discount lines taken off, and
    (prices before tax) each line's tax at its code's rate rounded to the cent, then summed. None
    when a rate is not known."""
    total = Decimal(0)
    for line in lines:
        amount = totals.cents(line["Amount"])
        if line["DetailType"] == "DiscountLineDetail":
            total -= amount
            continue
        total += amount
        code = (line["SalesItemLineDetail"].get("TaxCodeRef") or {}).get("value")
        if not inclusive and code is not None:
            if code not in tax_rates:
                return None
            total += totals.cents(amount * tax_rates[code] / 100)
    return total


def _round_to_pos_total(body: dict[str, Any], payload: dict[str, Any], settings: QuickBooksSettings, *,
                        us_tax: bool, tax_rates: Mapping[str, Decimal], refund: bool) -> str | None:
    """Add the rounding line the document needs to equal the POS total; return what to tell the shop."""
    said = []
    cash = totals.dec(payload.get("cash_rounding"))
    if cash:
        said.append(f"a rounding line of {totals.cents(cash)} (the POS's cash rounding)")
    wanted = totals.sale_total(payload)
    # A US company's tax is worked out by automated sales tax after the fact: nothing to compare to.
    computed = None if us_tax else quickbooks_total(
        body["Line"], inclusive=payload.get("prices_include_tax", True), tax_rates=tax_rates)
    if wanted is not None and computed is not None and wanted != computed:
        said.append(_rounding_line(body, settings, wanted, computed).removeprefix("Added "))
    if not said:
        return None
    what = "refund receipt" if refund else "document"
    return f"Added {' and '.join(said)} to the {what}, on item {settings.rounding_item}."


def _rounding_line(body: dict[str, Any], settings: QuickBooksSettings, wanted: Decimal,
                   computed: Decimal | None) -> str | None:
    """Append a "Rounding" line making QuickBooks' total `computed` come to `wanted`; say what was added."""
    if computed is None or wanted == computed:
        return None
    difference = wanted - computed
    body["Line"].append({"DetailType": "SalesItemLineDetail", "Amount": money(difference), "Description": "Rounding",
                         "SalesItemLineDetail": {"ItemRef": _ref(settings.rounding_item), "Qty": 1,
                                                 "UnitPrice": unit(difference)}})
    return f"Added a rounding line of {difference} so the total equals the POS total {wanted}"


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


def shift_report(item: PushItem, settings: QuickBooksSettings, *, us_tax: bool,
                 tax_rates: Mapping[str, Decimal] | None = None) -> Document:
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
    note = None
    if not us_tax and p.get("totals_by_tax_rate"):
        # The POS's net and tax per rate, against QuickBooks' own tax on each line's net.
        wanted = sum((totals.cents(t["net"]) + totals.cents(t.get("tax") or 0) for t in p["totals_by_tax_rate"]),
                     Decimal(0))
        note = _rounding_line(body, settings, wanted, quickbooks_total(lines, inclusive=False,
                                                                       tax_rates=tax_rates or {}))
    return Document("SalesReceipt", body, "DocNumber", "PrivateNote", marker, note=note)


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
