"""The books of one fake Xero organisation: what it keeps and what it refuses.

Kept apart from the HTTP layer (fake_xero.py) so its rules read in one sitting. Messages follow
Xero's wording where it is known (contact name clash, unique invoice numbers, archived accounts).
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ZERO_ID = "00000000-0000-0000-0000-000000000000"

# The UK demo company's chart (Xero's UK default chart of accounts), enough for the connector's defaults.
DEMO_ACCOUNT_CODES = {"090", "091", "200", "260", "300", "310", "400", "429", "630", "800", "805", "810", "814",
                      "820"}
DEMO_TAX_RATES = {
    "OUTPUT2": Decimal(20),
    "INPUT2": Decimal(20),
    "RROUTPUT": Decimal(5),
    "RRINPUT": Decimal(5),
    "ZERORATEDOUTPUT": Decimal(0),
    "ZERORATEDINPUT": Decimal(0),
    "EXEMPTOUTPUT": Decimal(0),
    "EXEMPTINPUT": Decimal(0),
    "NONE": Decimal(0),
}

# What GET /Accounts says of the demo chart: code → (name, Type, Class, payments enabled).
DEMO_ACCOUNTS = {
    "090": ("Business Bank Account", "BANK", "ASSET", False),
    "091": ("Business Savings Account", "BANK", "ASSET", False),
    "200": ("Sales", "REVENUE", "REVENUE", False),
    "260": ("Other Revenue", "REVENUE", "REVENUE", False),
    "300": ("Purchases", "DIRECTCOSTS", "EXPENSE", False),
    "310": ("Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", False),
    "400": ("Advertising", "OVERHEADS", "EXPENSE", False),
    "429": ("General Expenses", "OVERHEADS", "EXPENSE", False),
    "630": ("Inventory", "INVENTORY", "ASSET", False),
    "800": ("Accounts Payable", "CURRLIAB", "LIABILITY", False),
    "805": ("Accruals", "CURRLIAB", "LIABILITY", True),
    "810": ("Income in Advance", "CURRLIAB", "LIABILITY", True),
    "814": ("Wages Payable - Payroll", "CURRLIAB", "LIABILITY", False),
    "820": ("VAT", "CURRLIAB", "LIABILITY", False),
}

# Organisations of other countries, as GET /Accounts and GET /TaxRates describe them: an Australian
# organisation's own chart (codes unlike the UK demo's) and its GST tax types; a UK one's VAT types.
# Tax rows: TaxType → (Name, rate %, ReportTaxType, applies to revenue, applies to expenses).
COUNTRY_CHARTS: dict[str, dict[str, tuple]] = {
    "AU": {
        "100": ("Cheque Account", "BANK", "ASSET", False),
        "140": ("Stock on Hand", "INVENTORY", "ASSET", False),
        "180": ("Accounts Receivable", "CURRENT", "ASSET", False),
        "210": ("Accounts Payable", "CURRLIAB", "LIABILITY", False),
        "215": ("GST", "CURRLIAB", "LIABILITY", False),
        "220": ("Tips Payable", "CURRLIAB", "LIABILITY", False),
        "225": ("Gift Vouchers Outstanding", "CURRLIAB", "LIABILITY", True),
        "410": ("Sales - Retail", "REVENUE", "REVENUE", False),
        "420": ("Other Income", "OTHERINCOME", "REVENUE", False),
        "510": ("Cost of Sales", "DIRECTCOSTS", "EXPENSE", False),
        "610": ("Advertising", "OVERHEADS", "EXPENSE", False),
    },
    "UK": DEMO_ACCOUNTS,
}
COUNTRY_TAX_RATES: dict[str, dict[str, tuple]] = {
    "AU": {
        "OUTPUT": ("GST on Income", Decimal(10), "OUTPUT", True, False),
        "INPUT": ("GST on Expenses", Decimal(10), "INPUT", False, True),
        "EXEMPTOUTPUT": ("GST Free Income", Decimal(0), "OUTPUT", True, False),
        "EXEMPTEXPENSES": ("GST Free Expenses", Decimal(0), "INPUT", False, True),
        "EXEMPTEXPORT": ("GST Free Exports", Decimal(0), "OUTPUT", True, False),
        "CAPEXINPUT": ("GST on Capital", Decimal(10), "INPUT", False, True),
        "INPUTTAXED": ("Input Taxed", Decimal(0), "INPUT", True, True),
        "BASEXCLUDED": ("BAS Excluded", Decimal(0), "NONE", True, True),
        "GSTONIMPORTS": ("GST on Imports", Decimal(0), "GSTONIMPORTS", False, False),
    },
    "UK": {
        "OUTPUT2": ("20% (VAT on Income)", Decimal(20), "OUTPUT", True, False),
        "INPUT2": ("20% (VAT on Expenses)", Decimal(20), "INPUT", False, True),
        "RROUTPUT": ("5% (VAT on Income)", Decimal(5), "OUTPUT", True, False),
        "RRINPUT": ("5% (VAT on Expenses)", Decimal(5), "INPUT", False, True),
        "ZERORATEDOUTPUT": ("Zero Rated Income", Decimal(0), "OUTPUT", True, False),
        "ZERORATEDINPUT": ("Zero Rated Expenses", Decimal(0), "INPUT", False, True),
        "EXEMPTOUTPUT": ("Exempt Income", Decimal(0), "OUTPUT", True, False),
        "EXEMPTINPUT": ("Exempt Expenses", Decimal(0), "INPUT", False, True),
        "NONE": ("No VAT", Decimal(0), "NONE", True, True),
    },
}

KINDS = {
    "Contacts": ("ContactID", "contacts"),
    "Items": ("ItemID", "items"),
    "Invoices": ("InvoiceID", "invoices"),
    "CreditNotes": ("CreditNoteID", "credit_notes"),
    "PurchaseOrders": ("PurchaseOrderID", "purchase_orders"),
    "Payments": ("PaymentID", "payments"),
}


class Refused(Exception):
    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def _now() -> str:
    # As Xero's JSON writes times: milliseconds since the epoch, UTC.
    return f"/Date({int(datetime.now(UTC).timestamp() * 1000)}+0000)/"


def _d(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass
class Books:
    name: str
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    account_codes: set[str] | None = None  # None: any code is accepted
    archived_account_codes: set[str] = field(default_factory=set)
    tax_rates: dict[str, Decimal] | None = None  # None: any tax type is accepted, at 0 %
    chart: dict[str, tuple] = field(default_factory=lambda: DEMO_ACCOUNTS)  # code → (name, Type, Class, payments)
    # TaxType → (Name, rate, ReportTaxType, revenue, expenses); None: described from the TaxType's name.
    tax_rows: dict[str, tuple] | None = None
    # Tracking categories: [{"TrackingCategoryID", "Name", "Status", "Options": [{"TrackingOptionID", "Name", "Status"}]}]
    tracking: list[dict] = field(default_factory=list)
    contacts: dict[str, dict] = field(default_factory=dict)
    items: dict[str, dict] = field(default_factory=dict)
    invoices: dict[str, dict] = field(default_factory=dict)
    credit_notes: dict[str, dict] = field(default_factory=dict)
    purchase_orders: dict[str, dict] = field(default_factory=dict)
    payments: dict[str, dict] = field(default_factory=dict)

    # --- batches --------------------------------------------------------------------------------

    def save(self, collection: str, elements: list[dict], *, all_or_nothing: bool) -> tuple[list[dict], bool]:
        """Apply a batch; returns Xero's answer elements and whether any was refused.

        all_or_nothing (summarizeErrors=true): one refusal keeps every element out.
        """
        # Only an all-or-nothing batch may have to be rolled back: copying the whole books for every
        # call would make each call slower as they grow, which Xero's are not.
        before = copy.deepcopy(self._stores()) if all_or_nothing else None
        answer, refused = [], False
        for element in elements:
            try:
                answer.append({**copy.deepcopy(self._save_one(collection, element)), "StatusAttributeString": "OK"})
            except Refused as exc:
                refused = True
                answer.append(_refusal(collection, element, exc.messages))
        if refused and before is not None:
            self._restore(before)
        return answer, refused

    def _stores(self) -> dict[str, dict]:
        return {store: getattr(self, store) for _, store in KINDS.values()}

    def _restore(self, snapshot: dict[str, dict]) -> None:
        for store, value in snapshot.items():
            setattr(self, store, value)

    def _save_one(self, collection: str, element: dict) -> dict:
        handler = {
            "Contacts": self._contact,
            "Items": self._item,
            "Invoices": self._invoice,
            "CreditNotes": self._credit_note,
            "PurchaseOrders": self._purchase_order,
            "Payments": self._payment,
        }[collection]
        return handler(element)

    # --- checks ---------------------------------------------------------------------------------

    def check_account(self, code: str | None, *, required: bool = False) -> None:
        if not code:
            if required:
                raise Refused("Account code must be specified.")
            return
        if code in self.archived_account_codes:
            raise Refused(f"Account code '{code}' has been archived, or has been deleted. Each line item must reference a valid account.")
        if self.account_codes is not None and code not in self.account_codes:
            raise Refused(f"Account code '{code}' is not a valid code for this document.")

    def account_list(self) -> list[dict]:
        """GET /Accounts: the chart as Xero describes it (empty when any code is accepted)."""
        codes = sorted((self.account_codes or set()) | self.archived_account_codes)
        accounts = []
        for code in codes:
            name, type_, class_, payments = self.chart.get(code, (f"Account {code}", "REVENUE", "REVENUE", False))
            accounts.append({"AccountID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.tenant_id}/{code}")),
                             "Code": code, "Name": name, "Type": type_, "Class": class_,
                             "Status": "ARCHIVED" if code in self.archived_account_codes else "ACTIVE",
                             "EnablePaymentsToAccount": payments})
        return accounts

    def tax_rate_list(self) -> list[dict]:
        """GET /TaxRates: output types apply to revenue, input types to expenses, NONE to both."""
        if self.tax_rows is not None:
            return [{"Name": name, "TaxType": tax_type, "EffectiveRate": float(rate), "DisplayTaxRate": float(rate),
                     "ReportTaxType": report, "Status": "ACTIVE", "CanApplyToRevenue": revenue,
                     "CanApplyToExpenses": expenses}
                    for tax_type, (name, rate, report, revenue, expenses) in self.tax_rows.items()]
        rates = []
        for tax_type, rate in (self.tax_rates or {}).items():
            upper = tax_type.upper()
            revenue = "INPUT" not in upper
            expenses = "OUTPUT" not in upper
            rates.append({"Name": tax_type.title(), "TaxType": tax_type, "EffectiveRate": float(rate),
                          "Status": "ACTIVE", "CanApplyToRevenue": revenue, "CanApplyToExpenses": expenses})
        return rates

    def add_tracking(self, name: str, options: dict[str, str], *, status: str = "ACTIVE") -> dict:
        """A tracking category with its options (option name → ACTIVE or ARCHIVED)."""
        category = {"TrackingCategoryID": str(uuid.uuid4()), "Name": name, "Status": status,
                    "Options": [{"TrackingOptionID": str(uuid.uuid4()), "Name": n, "Status": s}
                                for n, s in options.items()]}
        self.tracking.append(category)
        return category

    def tracking_list(self, *, include_archived: bool) -> list[dict]:
        """GET /TrackingCategories: archived categories and options only when asked for."""
        if include_archived:
            return copy.deepcopy(self.tracking)
        return [{**c, "Options": [o for o in c["Options"] if o["Status"] == "ACTIVE"]}
                for c in copy.deepcopy(self.tracking) if c["Status"] == "ACTIVE"]

    def check_tax(self, tax_type: str | None, *, sales: bool | None = None) -> None:
        refused = Refused(f"The TaxType code '{tax_type}' does not exist or cannot be used with this type of transaction.")
        if tax_type and self.tax_rates is not None and tax_type not in self.tax_rates:
            raise refused
        row = (self.tax_rows or {}).get(tax_type or "")
        if row is not None and sales is not None and not row[3 if sales else 4]:
            raise refused  # a tax type for expenses on a sales line, or the other way round

    def _active_contact_named(self, name: str) -> dict | None:
        wanted = name.strip().lower()
        return next(
            (c for c in self.contacts.values() if c["ContactStatus"] == "ACTIVE" and c["Name"].strip().lower() == wanted),
            None,
        )

    def _find(self, store: dict[str, dict], id_field: str, element: dict, natural: str | None) -> dict | None:
        if element.get(id_field):
            found = store.get(element[id_field])
            if found is None:
                raise Refused(f"{id_field} {element[id_field]} does not exist.")
            return found
        if natural and element.get(natural):
            return next((o for o in store.values() if o.get(natural) == element[natural]), None)
        return None

    # --- contacts -------------------------------------------------------------------------------

    def _contact(self, element: dict) -> dict:
        existing = self._find(self.contacts, "ContactID", element, "ContactNumber")
        if existing is None and not element.get("ContactNumber") and element.get("Name"):
            existing = self._active_contact_named(element["Name"])  # Xero matches on the name too
        name = element.get("Name") or (existing or {}).get("Name")
        if not name:
            raise Refused("The contact name must be specified.")
        problems = []
        if len(element.get("ContactNumber") or "") > 50:
            problems.append("The ContactNumber must not be more than 50 characters long.")
        if len(name) > 255:
            problems.append("The Name must not be more than 255 characters long.")
        other = self._active_contact_named(name)
        if other is not None and other is not existing:
            problems.append(
                f"The contact name {name} is already assigned to another contact. "
                "The contact name must be unique across all active contacts."
            )
        if problems:
            raise Refused(*problems)
        record = existing or {"ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE"}
        record.update({k: v for k, v in element.items() if k not in ("ContactID", "ValidationErrors")})
        record["Name"] = name
        record["UpdatedDateUTC"] = _now()
        self.contacts[record["ContactID"]] = record
        return record

    def contact_for_document(self, contact: dict | None) -> dict:
        contact = contact or {}
        if contact.get("ContactID"):
            found = self.contacts.get(contact["ContactID"])
            if found is None:
                raise Refused("The contact could not be found.")
        elif contact.get("Name"):
            found = self._active_contact_named(contact["Name"]) or self._contact({"Name": contact["Name"]})
        else:
            raise Refused("A Contact must be specified for this type of transaction.")
        if found["ContactStatus"] == "ARCHIVED":
            raise Refused(f"The contact {found['Name']} is archived and cannot be used on transactions.")
        return found

    # --- items ----------------------------------------------------------------------------------

    def _item(self, element: dict) -> dict:
        existing = self._find(self.items, "ItemID", element, "Code")
        code = element.get("Code") or (existing or {}).get("Code")
        problems = []
        if not code:
            problems.append("The item Code must be specified.")
        elif len(code) > 30:
            problems.append("The Code must be 30 characters or less.")
        if len(element.get("Name") or "") > 50:
            problems.append("The Name must be 50 characters or less.")
        clash = next((i for i in self.items.values() if i["Code"] == code), None)
        if clash is not None and clash is not existing:
            problems.append(f"Item code '{code}' already exists.")
        if problems:
            raise Refused(*problems)
        sales, purchases = element.get("SalesDetails") or {}, element.get("PurchaseDetails") or {}
        for code_ in (sales.get("AccountCode"), purchases.get("AccountCode"), purchases.get("COGSAccountCode"),
                      element.get("InventoryAssetAccountCode")):
            self.check_account(code_)
        self.check_tax(sales.get("TaxType"), sales=True)
        self.check_tax(purchases.get("TaxType"), sales=False)
        if element.get("IsTrackedAsInventory") and not (
            element.get("InventoryAssetAccountCode") and purchases.get("COGSAccountCode")
        ):
            raise Refused("Tracked items need an inventory asset account and a cost of goods sold account.")
        record = existing or {"ItemID": str(uuid.uuid4())}
        record.update({k: v for k, v in element.items() if k not in ("ItemID", "ValidationErrors")})
        record["UpdatedDateUTC"] = _now()
        self.items[record["ItemID"]] = record
        return record

    # --- documents ------------------------------------------------------------------------------

    def _lines(self, element: dict, *, sales: bool) -> tuple[list[dict], Decimal, Decimal]:
        lines = element.get("LineItems") or []
        if not lines:
            raise Refused("One or more line items must be specified.")
        kind = element.get("LineAmountTypes") or "Exclusive"
        out, net_total, tax_total = [], Decimal(0), Decimal(0)
        for line in lines:
            line = dict(line)
            item = None
            if line.get("ItemCode"):
                item = next((i for i in self.items.values() if i["Code"] == line["ItemCode"]), None)
                if item is None:
                    raise Refused(f"Item code '{line['ItemCode']}' is not valid.")
            details = (item or {}).get("SalesDetails" if sales else "PurchaseDetails") or {}
            account = line.get("AccountCode") or details.get("AccountCode") or (
                None if sales else (item or {}).get("InventoryAssetAccountCode")
            )
            self.check_account(account, required=element.get("Status") == "AUTHORISED" and sales)
            tax_type = line.get("TaxType") or details.get("TaxType")
            self.check_tax(tax_type, sales=sales)
            # As Xero does: each line's amount and each line's tax rounded to the cent, then summed.
            amount = _cents(_d(line.get("Quantity", 1)) * _d(line.get("UnitAmount")) - _d(line.get("DiscountAmount")))
            rate = (self.tax_rates or {}).get(tax_type or "", Decimal(0))
            if line.get("TaxAmount") is not None:
                tax = _cents(_d(line["TaxAmount"]))
            elif kind == "Inclusive":
                tax = _cents(amount * rate / (100 + rate))
            elif kind == "Exclusive":
                tax = _cents(amount * rate / 100)
            else:
                tax = Decimal(0)
            net = amount - tax if kind == "Inclusive" else amount
            line.update(LineItemID=str(uuid.uuid4()), LineAmount=_money(amount), TaxAmount=_money(tax))
            if account:
                line["AccountCode"] = account
            out.append(line)
            net_total += net
            tax_total += tax
        return out, net_total, tax_total

    def _document(self, element: dict, store: dict, id_field: str, number_field: str, types: set[str]) -> dict:
        existing = self._find(store, id_field, element, None)
        if existing is not None and existing.get("AmountPaid", 0) > 0 and element.get("LineItems"):
            raise Refused("This document cannot be edited as it has a payment or credit note allocated to it.")
        if element.get("Status") == "VOIDED":
            if existing is None:
                raise Refused("A document must exist before it can be voided.")
            if existing.get("AmountPaid", 0) > 0:
                raise Refused("This document cannot be voided as it has a payment or credit note allocated to it.")
            existing.update(Status="VOIDED", UpdatedDateUTC=_now())
            return existing
        if existing is not None and existing.get("Status") == "VOIDED":
            raise Refused("This document cannot be edited as it has been voided.")
        doc_type = element.get("Type") or (existing or {}).get("Type")
        if doc_type not in types:
            raise Refused(f"Type must be one of {', '.join(sorted(types))}.")
        contact = self.contact_for_document(element.get("Contact") or (existing or {}).get("Contact"))
        number = element.get(number_field)
        if number and any(d is not existing and d.get(number_field) == number and d["Type"] == doc_type
                          for d in store.values()):
            label = "Invoice" if number_field == "InvoiceNumber" else "CreditNote"
            raise Refused(f"{label} # must be unique.")
        lines, net, tax = self._lines({**(existing or {}), **element}, sales=doc_type.startswith("ACCREC"))
        record = existing or {id_field: str(uuid.uuid4()), "Payments": [], "AmountPaid": 0.0}
        record.update({k: v for k, v in element.items() if k not in (id_field, "ValidationErrors", "Contact")})
        total = net + tax
        record.update(
            Type=doc_type,
            Contact={"ContactID": contact["ContactID"], "Name": contact["Name"]},
            LineItems=lines,
            SubTotal=_money(net),
            TotalTax=_money(tax),
            Total=_money(total),
            Status=element.get("Status") or record.get("Status") or "DRAFT",
            UpdatedDateUTC=_now(),
        )
        if number_field and not record.get(number_field):
            record[number_field] = f"{'INV' if number_field == 'InvoiceNumber' else 'CN'}-{len(store) + 1:04d}"
        outstanding = _money(total - _d(record["AmountPaid"]))
        record["AmountDue" if number_field == "InvoiceNumber" else "RemainingCredit"] = outstanding
        store[record[id_field]] = record
        return record

    # --- undoing (DELETE /Items/{id}, POST /Payments/{id} {"Status": "DELETED"}, Status VOIDED) ---

    def delete_item(self, item_id: str) -> tuple[int, dict, int]:
        item = self.items.get(item_id)
        if item is None:
            return 404, {"Title": "Not Found", "Status": 404}, 0
        used = any(line.get("ItemCode") == item["Code"] for doc in [*self.invoices.values(), *self.purchase_orders.values()]
                   for line in doc.get("LineItems") or [])
        if item.get("IsTrackedAsInventory") and used:
            return 400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                         "Elements": [{"ValidationErrors": [{"Message": "Tracked inventory items that have been used in "
                                                                        "transactions cannot be deleted."}]}]}, 1
        del self.items[item_id]
        return 200, {"Items": []}, 1  # Xero answers 204; an empty body would do as well

    def delete_payment(self, payment_id: str, body: dict) -> tuple[int, dict, int]:
        payment = self.payments.get(payment_id)
        if payment is None:
            return 404, {"Title": "Not Found", "Status": 404}, 0
        if (body or {}).get("Status") != "DELETED":
            return 400, _validation("Only the Status DELETED can be set on a payment."), 1
        if payment.get("IsReconciled"):
            return 400, _validation("Payment cannot be deleted as it has been reconciled."), 1
        if payment["Status"] != "DELETED":
            doc, outstanding = (self.invoices.get((payment.get("Invoice") or {}).get("InvoiceID") or ""), "AmountDue")
            if doc is None:
                doc, outstanding = self.credit_notes[payment["CreditNote"]["CreditNoteID"]], "RemainingCredit"
            amount = _d(payment["Amount"])
            doc["Payments"] = [p for p in doc["Payments"] if p["PaymentID"] != payment_id]
            doc["AmountPaid"] = _money(_d(doc["AmountPaid"]) - amount)
            doc[outstanding] = _money(_d(doc[outstanding]) + amount)
            doc["Status"] = "AUTHORISED"
            payment["Status"] = "DELETED"
        return 200, {"Payments": [copy.deepcopy(payment)]}, 1

    def _invoice(self, element: dict) -> dict:
        return self._document(element, self.invoices, "InvoiceID", "InvoiceNumber", {"ACCREC", "ACCPAY"})

    def _credit_note(self, element: dict) -> dict:
        return self._document(element, self.credit_notes, "CreditNoteID", "CreditNoteNumber", {"ACCRECCREDIT", "ACCPAYCREDIT"})

    def _purchase_order(self, element: dict) -> dict:
        existing = self._find(self.purchase_orders, "PurchaseOrderID", element, None)
        contact = self.contact_for_document(element.get("Contact") or (existing or {}).get("Contact"))
        lines, net, tax = self._lines({**(existing or {}), **element}, sales=False)
        record = existing or {"PurchaseOrderID": str(uuid.uuid4())}
        record.update({k: v for k, v in element.items() if k not in ("PurchaseOrderID", "ValidationErrors", "Contact")})
        record.update(
            Contact={"ContactID": contact["ContactID"], "Name": contact["Name"]},
            LineItems=lines,
            SubTotal=_money(net),
            TotalTax=_money(tax),
            Total=_money(net + tax),
            Status=element.get("Status") or record.get("Status") or "DRAFT",
            UpdatedDateUTC=_now(),
        )
        self.purchase_orders[record["PurchaseOrderID"]] = record
        return record

    # --- payments -------------------------------------------------------------------------------

    def _payment(self, element: dict) -> dict:
        if element.get("Invoice"):
            doc = self.invoices.get(element["Invoice"].get("InvoiceID") or "")
            outstanding_field = "AmountDue"
        elif element.get("CreditNote"):
            doc = self.credit_notes.get(element["CreditNote"].get("CreditNoteID") or "")
            outstanding_field = "RemainingCredit"
        else:
            raise Refused("An Invoice or CreditNote must be specified.")
        if doc is None:
            raise Refused("The document to pay could not be found.")
        if doc["Status"] != "AUTHORISED":
            raise Refused("Payments can only be made against Authorised documents.")
        self.check_account((element.get("Account") or {}).get("Code"), required=True)
        amount = _d(element.get("Amount"))
        if amount <= 0:
            raise Refused("Payment amount must be greater than zero.")
        if amount > _d(doc[outstanding_field]) + Decimal("0.005"):
            raise Refused("Payment amount exceeds the amount outstanding on this document.")
        payment = {
            "PaymentID": str(uuid.uuid4()),
            "Date": element.get("Date"),
            "Amount": _money(amount),
            "Reference": element.get("Reference"),
            "Status": "AUTHORISED",
        }
        doc["Payments"].append(dict(payment))
        doc["UpdatedDateUTC"] = _now()  # Xero stamps the document a payment is applied to
        doc["AmountPaid"] = _money(_d(doc["AmountPaid"]) + amount)
        doc[outstanding_field] = _money(_d(doc[outstanding_field]) - amount)
        if doc[outstanding_field] == 0:
            doc["Status"] = "PAID"
        record = {**element, **payment}
        self.payments[payment["PaymentID"]] = record
        return record


def touched(record: dict) -> dict:
    """The record as the bookkeeper left it: Xero stamps every change."""
    record["UpdatedDateUTC"] = _now()
    return record


def _validation(message: str) -> dict:
    return {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": message}]}]}


def _refusal(collection: str, element: dict, messages: list[str]) -> dict:
    id_field = KINDS[collection][0]
    return {
        **copy.deepcopy(element),
        id_field: element.get(id_field) or ZERO_ID,
        "StatusAttributeString": "ERROR",
        "HasValidationErrors": True,
        "ValidationErrors": [{"Message": m} for m in messages],
    }
