"""The organisation's accounts and tax rates, and which Xero settings name them.

Xero's account Class says what an account is for (REVENUE, EXPENSE, ASSET…); its Type narrows it
(BANK, INVENTORY, DIRECTCOSTS…). A payment may go to a bank account or to any account with
"Enable payments to this account" set; Xero refuses line items on bank accounts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.connectors.base import ProgramEntry, SettingRef
from app.connectors.picks import Pick, tax_pick, words_of

SETTING_REFS: tuple[SettingRef, ...] = (
    SettingRef("sales_inventory_account", "accounts", "revenue", "an active revenue account"),
    SettingRef("sales_non_inventory_account", "accounts", "revenue", "an active revenue account"),
    SettingRef("shift_sales_account", "accounts", "revenue", "an active revenue account"),
    SettingRef("purchases_non_inventory_account", "accounts", "expense", "an active expense or direct costs account"),
    SettingRef("inventory_asset_account", "accounts", "inventory", "an active account of type Inventory"),
    SettingRef("cogs_account", "accounts", "expense", "an active expense or direct costs account"),
    SettingRef("payment_accounts.*", "accounts", "payments",
               "an active bank account, or one with payments to it enabled"),
    SettingRef("custom_line_accounts.*", "accounts", "line", "an active account that is not a bank account"),
    SettingRef("rounding_account", "accounts", "line", "an active account that is not a bank account"),
    SettingRef("sales_tax_types.*", "tax_rates", "sales_tax", "an active tax rate that applies to revenue"),
    SettingRef("purchase_tax_types.*", "tax_rates", "purchase_tax", "an active tax rate that applies to expenses"),
    SettingRef("untaxed_tax_type", "tax_rates", "untaxed", "an active tax rate of 0 % that applies to revenue"),
)

# Settings that map values the POS brings over time (settings field → what the POS value is).
POS_MAPPINGS = {"payment_accounts": "payment_type", "sales_tax_types": "tax_rate", "purchase_tax_types": "tax_rate",
                "custom_line_accounts": "custom_line_kind"}


def account_entry(account: dict[str, Any]) -> ProgramEntry | None:
    code = account.get("Code")
    if not code:
        return None  # settings name accounts by code; an account without one cannot be chosen
    type_, class_ = str(account.get("Type") or ""), str(account.get("Class") or "")
    uses = []
    if class_ == "REVENUE":
        uses.append("revenue")
    if class_ == "EXPENSE":
        uses.append("expense")
    if type_ == "INVENTORY":
        uses.append("inventory")
    if type_ == "BANK" or account.get("EnablePaymentsToAccount"):
        uses.append("payments")
    if type_ != "BANK":
        uses.append("line")
    return ProgramEntry(id=str(code), name=str(account.get("Name") or code), type=type_,
                        active=account.get("Status") == "ACTIVE", uses=tuple(uses))


def tax_rate_entry(rate: dict[str, Any]) -> ProgramEntry | None:
    tax_type = rate.get("TaxType")
    if not tax_type:
        return None
    uses = []
    # Older answers leave the CanApplyTo flags out: then the rate is not refused for either side.
    if rate.get("CanApplyToRevenue", True):
        uses.append("sales_tax")
    if rate.get("CanApplyToExpenses", True):
        uses.append("purchase_tax")
    effective = rate.get("EffectiveRate")
    if "sales_tax" in uses and (effective is None or float(effective) == 0):
        uses.append("untaxed")
    return ProgramEntry(id=str(tax_type), name=str(rate.get("Name") or tax_type),
                        type=str(rate.get("ReportTaxType") or "TAX"), active=rate.get("Status") == "ACTIVE",
                        uses=tuple(uses), rate=None if effective is None else str(effective))


def tracking_entries(category: dict[str, Any]) -> list[ProgramEntry]:
    """A tracking category and its options; an option of an archived category cannot be chosen either."""
    category_id = category.get("TrackingCategoryID")
    if not category_id:
        return []
    name = str(category.get("Name") or category_id)
    active = category.get("Status", "ACTIVE") == "ACTIVE"
    entries = [ProgramEntry(id=str(category_id), name=name, type="category", active=active,
                            uses=("tracking_category",))]
    for option in category.get("Options") or []:
        if option.get("TrackingOptionID"):
            entries.append(ProgramEntry(id=str(option["TrackingOptionID"]), name=str(option.get("Name") or ""),
                                        type="option", active=active and option.get("Status", "ACTIVE") == "ACTIVE",
                                        uses=("tracking_option",), parent=str(category_id)))
    return entries


_LIABILITIES = ("CURRLIAB", "LIABILITY", "TERMLIAB")
_GIFT_WORDS = ("gift", "voucher", "advance", "deferred", "unearned")
_SCALAR_PICKS = {
    "sales_inventory_account": Pick(types=("REVENUE", "SALES"), words=("sales",)),
    "sales_non_inventory_account": Pick(types=("REVENUE", "SALES"), words=("sales",)),
    "shift_sales_account": Pick(types=("REVENUE", "SALES"), words=("sales",)),
    "purchases_non_inventory_account": Pick(types=("DIRECTCOSTS", "EXPENSE", "OVERHEADS"), words=("purchases",)),
    "cogs_account": Pick(types=("DIRECTCOSTS",), words=("cost",)),
    "inventory_asset_account": Pick(types=("INVENTORY",), words=("inventory", "stock")),
    "rounding_account": Pick(types=("OTHERINCOME", "REVENUE", "EXPENSE", "OVERHEADS"), words=("rounding", "other")),
    "untaxed_tax_type": Pick(types=("NONE", "OUTPUT"), words=("no", "excluded"), rate=Decimal(0)),
}


def default_pick(field: str, key: str | None) -> Pick | None:
    """How to choose a Xero setting (or one key of a mapping) from the organisation's lists."""
    if key is None:
        return _SCALAR_PICKS.get(field)
    said = set(words_of(key))
    if field == "payment_accounts":
        if said & {"gift", "voucher"}:
            return Pick(types=_LIABILITIES, words=_GIFT_WORDS, need_words=True)
        if said & {"credit", "account", "layby", "deposit"} and not said & {"card"}:
            return Pick(types=_LIABILITIES, words=("credit", "accrued", "deposit", "customer"), need_words=True)
        return Pick(types=("BANK",), words=tuple(said))
    if field == "custom_line_accounts":
        if key == "tip":
            return Pick(types=_LIABILITIES, words=("tip", "gratuit", "wage"), need_words=True)
        if key == "gift_card_sold":
            return Pick(types=_LIABILITIES, words=_GIFT_WORDS, need_words=True)
        if key == "other":
            return Pick(types=("OTHERINCOME", "REVENUE"), words=("other",))
        return Pick(types=("REVENUE", "OTHERINCOME", "SALES"), words=(*said, "sales"))
    if field == "sales_tax_types":
        return tax_pick(key, ("OUTPUT", "NONE"), ("income", "sales"))
    if field == "purchase_tax_types":
        return tax_pick(key, ("INPUT", "NONE"), ("expenses", "purchases"))
    return None
