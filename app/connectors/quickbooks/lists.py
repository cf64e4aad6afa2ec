"""The company's accounts, tax codes and payment methods, and which QuickBooks settings name them.

QuickBooks answers a query with active objects only unless asked for both (`Active in (true,
false)`); settings refer to objects by Id. AccountType says what an account is for.
"""

from __future__ import annotations

from typing import Any

from app.connectors.base import ProgramEntry, SettingRef
from app.connectors.picks import Pick

ENTITY = {"accounts": "Account", "tax_rates": "TaxCode", "payment_methods": "PaymentMethod"}
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
    SettingRef("payment_types.*.payment_method", "payment_methods", "payment", "an active payment method"),
    SettingRef("tax_codes.*", "tax_rates", "tax", "an active tax code"),
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


def entry(kind: str, obj: dict[str, Any]) -> ProgramEntry | None:
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
    else:
        type_, uses = ("Taxable" if obj.get("Taxable") else "Non-taxable"), ("tax",)
    return ProgramEntry(id=str(obj["Id"]), name=str(obj.get("Name") or obj["Id"]), type=type_,
                        active=obj.get("Active", True) is not False, uses=uses)


# Plain account settings chosen by AccountType (and name words), never by Id. Mappings (payment types,
# tax codes) are not chosen: QuickBooks' tax codes carry no rate in the list possync reads, and a
# payment type needs a deposit account and a payment method together; they wait for the shop.
_SCALAR_PICKS = {
    "sales_inventory_account": Pick(types=("Income",), words=("sales", "product")),
    "sales_non_inventory_account": Pick(types=("Income",), words=("sales", "product")),
    "sales_service_account": Pick(types=("Income",), words=("service", "services")),
    "purchases_non_inventory_account": Pick(types=("Cost of Goods Sold", "Expense"), words=("purchases", "supplies")),
    "inventory_asset_account": Pick(types=("Other Current Asset",), words=("inventory", "stock"), need_words=True),
    "cogs_account": Pick(types=("Cost of Goods Sold",), words=("cost",)),
    "mixed_payments_account": Pick(types=("Other Current Asset", "Bank"), words=("undeposited",)),
}


def default_pick(field: str, key: str | None) -> Pick | None:
    """How to choose a QuickBooks setting from the company's lists (plain account settings only)."""
    return _SCALAR_PICKS.get(field) if key is None else None
