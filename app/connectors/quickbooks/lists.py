"""The company's accounts, tax codes, payment methods and items, which QuickBooks settings name them,
and how each is chosen from them when a company is connected.

QuickBooks answers a query with active objects only unless asked for both (`Active in (true,
false)`); settings refer to objects by Id. AccountType says what an account is for. Outside the
US a TaxCode holds no percentage itself: it refers to TaxRates (its SalesTaxRateList, its
PurchaseTaxRateList), whose RateValues add up to what the code charges; a code with no sales
rates is for purchases only and may not stand on a sales line. A US company with automated sales
tax sends TAX or NON on its lines (us_non_taxable_rates) and maps no tax codes. A sales line
carries an Item, never an account: custom lines, rounding and shift summaries name a Service or
Non-inventory item, whose income account takes the amount (a new company has "Services", "Sales").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.connectors.base import ProgramEntry, SettingRef
from app.connectors.picks import Pick, pos_rate, tax_pick, words_of

ENTITY = {"accounts": "Account", "tax_rates": "TaxCode", "payment_methods": "PaymentMethod", "items": "Item"}
# Item types a line of a custom kind, a rounding or a shift summary may carry (no stock to count).
LINE_ITEM_TYPES = ("Service", "NonInventory")
_ITEM_MEANING = "an active Service or Non-inventory item"
# The tracking list is two of QuickBooks' lists: classes, and locations (the API's Department).
TRACKING = {"Class": "Class", "Department": "Location"}

SETTING_REFS: tuple[SettingRef, ...] = (
    SettingRef("sales_inventory_account", "accounts", "income", "an active Income account"),
    SettingRef("sales_non_inventory_account", "accounts", "income", "an active Income account"),
    SettingRef("sales_service_account", "accounts", "income", "an active Income account"),
    SettingRef("purchases_non_inventory_account", "accounts", "expense",
               "an active Expense, Other Expense or Cost of Goods Sold account"),
    SettingRef("inventory_asset_account", "accounts", "inventory", "an active Other Current Asset account"),
    SettingRef("cogs_account", "accounts", "cogs", "an active Cost of Goods Sold account"),
    SettingRef("payment_types.*.deposit_account", "accounts", "deposit",
               "an active Bank or Other Current Asset account (such as Undeposited Funds)"),
    SettingRef("mixed_payments_account", "accounts", "deposit",
               "an active Bank or Other Current Asset account (such as Undeposited Funds)"),
    SettingRef("payment_types.*.payment_method", "payment_methods", "payment", "an active payment method",
               optional=True),
    SettingRef("tax_codes.*", "tax_rates", "tax", "an active tax code with a sales rate"),
    SettingRef("custom_line_items.*", "items", "line_item", _ITEM_MEANING),
    SettingRef("rounding_item", "items", "line_item", _ITEM_MEANING),
    SettingRef("shift_summary_item", "items", "line_item", _ITEM_MEANING),
)
# Settings that map values the POS brings over time (settings field → what the POS value is).
POS_MAPPINGS = {"payment_types": "payment_type", "tax_codes": "tax_rate", "custom_line_items": "custom_line_kind"}

_USES = {
    "Income": ("income",),
    "Other Income": ("income",),
    "Expense": ("expense",),
    "Other Expense": ("expense",),
    "Cost of Goods Sold": ("expense", "cogs"),
    "Other Current Asset": ("inventory", "deposit"),
    "Bank": ("deposit",),
}


def sales_rates(codes: list[dict[str, Any]], rates: list[dict[str, Any]]) -> dict[str, Decimal]:
    """TaxCode Id → the percent it charges on a sales line (the sum of its sales TaxRates), for the
    codes that have sales rates."""
    percent = {str(r["Id"]): Decimal(str(r.get("RateValue") or 0)) for r in rates}
    return {str(code["Id"]): sum((percent.get(str(d["TaxRateRef"]["value"]), Decimal(0)) for d in details), Decimal(0))
            for code in codes
            if (details := (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or [])}


def entry(kind: str, obj: dict[str, Any], *, rate: Decimal | None = None) -> ProgramEntry | None:
    """One list entry; for a tax code, `rate` is its sales percent (None: a purchase-only code)."""
    if not obj.get("Id"):
        return None
    if kind == "tracking":
        type_ = TRACKING.get(str(obj.get("_entity")), "Class")
        parent = (obj.get("ParentRef") or {}).get("value")
        return ProgramEntry(id=str(obj["Id"]), name=str(obj.get("FullyQualifiedName") or obj.get("Name") or obj["Id"]),
                            type=type_, active=obj.get("Active", True) is not False, uses=(type_.lower(),),
                            parent=str(parent) if parent else None)
    if kind == "accounts":
        type_ = str(obj.get("AccountType") or "")
        uses = _USES.get(type_, ())
    elif kind == "payment_methods":
        type_, uses = str(obj.get("Type") or "NON_CREDIT_CARD"), ("payment",)
    elif kind == "items":
        type_ = str(obj.get("Type") or "")
        uses = ("line_item",) if type_ in LINE_ITEM_TYPES else ()
    else:
        type_ = "Taxable" if obj.get("Taxable") else "Non-taxable"
        uses = ("tax",) if rate is not None or "PurchaseTaxRateList" not in obj else ("purchase_tax",)
    return ProgramEntry(id=str(obj["Id"]), name=str(obj.get("Name") or obj["Id"]), type=type_,
                        active=obj.get("Active", True) is not False, uses=uses,
                        rate=str(rate) if rate is not None else None)


# Account settings are chosen by AccountType (and name words), tax codes by the percent the POS rate's
# name states, never by Id.
_SCALAR_PICKS = {
    "sales_inventory_account": Pick(types=("Income",), words=("sales", "product")),
    "sales_non_inventory_account": Pick(types=("Income",), words=("sales", "product")),
    "sales_service_account": Pick(types=("Income",), words=("service", "services")),
    "purchases_non_inventory_account": Pick(types=("Cost of Goods Sold", "Expense"), words=("purchases", "supplies")),
    "inventory_asset_account": Pick(types=("Other Current Asset",), words=("inventory", "stock"), need_words=True),
    "cogs_account": Pick(types=("Cost of Goods Sold",), words=("cost",)),
    "mixed_payments_account": Pick(types=("Other Current Asset", "Bank"), words=("undeposited",)),
    # A rounding item if the company has one, else what it sells under (a new company's "Sales").
    "rounding_item": Pick(types=("NonInventory", "Service"), words=("rounding", "sales", "services")),
    "shift_summary_item": Pick(types=("NonInventory", "Service"), words=("sales", "services")),
}
# Custom-line kinds that are owed, not earned (a tip to staff, a gift card to its holder): only an item
# named for them fits (its income account is a liability the shop chose); otherwise the shop chooses.
_OWED_LINE_KINDS = {"tip", "gift_card_sold"}


# Payment types that are money owed (a gift card, store credit, an account sale) belong in a liability,
# which QuickBooks does not take as a deposit account: the shop chooses how to book them.
_OWED_WORDS = {"gift", "voucher", "credit", "account", "layby", "lay", "deposit", "loyalty", "points"}
_CARD_WORDS = {"card", "credit", "debit", "visa", "mastercard", "amex", "eftpos"}


def default_pick(field: str, key: str | None) -> Pick | None:
    """How to choose a QuickBooks setting (or, with `key`, one POS value's mapping) from the company's lists.

    A payment type is deposited to a bank account named like it ("Cash" → "Cash on hand"), else to
    Undeposited Funds, where QuickBooks expects received money until the shop records the bank
    deposit; its payment method is the one named like it, any card method for a card.
    """
    if key is None:
        return _SCALAR_PICKS.get(field)
    said = set(words_of(key))
    if field == "payment_types.deposit_account":
        if said & _OWED_WORDS and not said & {"card"} or said & {"gift"}:
            return None
        return Pick(types=("Bank", "Other Current Asset"), words=(*sorted(said), "undeposited"), need_words=True)
    if field == "payment_types.payment_method":
        if said & _CARD_WORDS:
            return Pick(types=("CREDIT_CARD", "NON_CREDIT_CARD"), words=tuple(sorted(said)))
        return Pick(words=tuple(sorted(said)), need_words=True)
    if field == "tax_codes":
        return tax_pick(key, (), ())
    if field == "custom_line_items":
        if key in _OWED_LINE_KINDS:
            return Pick(types=LINE_ITEM_TYPES, words=tuple(sorted(said - {"sold", "card"})), need_words=True)
        return Pick(types=("Service", "NonInventory"), words=(*sorted(said), "services", "sales"))
    return None


def settings_from_seen(settings: dict[str, Any], lists: dict[str, list[dict[str, Any]]],
                       seen: dict[str, set[str]]) -> dict[str, Any]:
    """A company whose tax codes name no sales rate (US, automated sales tax) sends lines TAX or NON: the
    POS rates seen in records whose name says 0 % ("Tax free", "GST Free") join us_non_taxable_rates,
    so they are not sent taxable for QuickBooks to tax."""
    codes = lists.get("tax_rates")
    if codes is None or settings.get("tax_codes") or any(e.get("rate") is not None for e in codes):
        return settings
    listed = list(settings.get("us_non_taxable_rates") or [])
    untaxed = sorted(name for name in seen.get("tax_codes", set()) if name not in listed and pos_rate(name) == 0)
    return {**settings, "us_non_taxable_rates": listed + untaxed} if untaxed else settings
