"""Sync settings of one QuickBooks Online connection (Integrated Apps → Manage → Sync settings).

The defaults fit Intuit's US sandbox company ("Sandbox Company_US"), so a fresh connection to it
works before the shop has looked at the settings: account 79 Sales of Product Income, 1 Services,
80 Cost of Goods Sold, 81 Inventory Asset, 4 Undeposited Funds, 35 Checking; payment methods
1 Cash and 3 Visa; item 1 "Services". QuickBooks refers to accounts, payment methods, items and
tax codes by Id: a company without these Ids refuses them (fault 2500), and the refusal comes back
as advice naming the setting to change. Ids are shown in QuickBooks' own URLs (…?accountId=79).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.connectors import rules

Id = str


class PaymentMapping(BaseModel):
    """Where one POS payment type lands in QuickBooks."""

    model_config = ConfigDict(extra="forbid")

    deposit_account: Id = Field(description="Account Id the money is deposited to (DepositToAccountRef).")
    payment_method: Id | None = Field(default=None, description="PaymentMethod Id shown on the receipt, if any.")


def _demo_payments() -> dict[str, PaymentMapping]:
    return {
        "Cash": PaymentMapping(deposit_account="35", payment_method="1"),
        "Card": PaymentMapping(deposit_account="4", payment_method="3"),
    }


class QuickBooksSettings(rules.CommonSettings):
    sales_inventory_account: Id = Field(
        default="79", description="Income account Id of tracked (inventory) products."
    )
    sales_non_inventory_account: Id = Field(
        default="79", description="Income account Id of untracked products."
    )
    sales_service_account: Id = Field(default="1", description="Income account Id of services.")
    purchases_non_inventory_account: Id = Field(
        default="80", description="Expense account Id of purchases of untracked products and services."
    )
    inventory_asset_account: Id = Field(default="81", description="Inventory asset account Id of tracked items.")
    cogs_account: Id = Field(default="80", description="Cost of goods sold account Id of tracked items.")
    payment_types: dict[str, PaymentMapping] = Field(
        default_factory=_demo_payments,
        description="POS payment type → deposit account Id and payment method Id. Every payment type used "
        "must be mapped.",
    )
    mixed_payments_account: Id = Field(
        default="4",
        description="Account Id of a shift summary (or a refund) paid with several payment types (one receipt "
        "has one deposit account): Undeposited Funds by default, where the shop splits it when recording the "
        "deposit. A sale paid with several payment types is an Invoice with one Payment per payment instead, "
        "each deposited to its own payment type's account.",
    )
    walk_in_customer: Id | None = Field(
        default=None,
        description="Customer Id of sales with no customer that become an Invoice (paid in part, on account, or "
        "with several payment types): QuickBooks invoices need a customer. Unset, such sales fail with advice.",
    )
    tax_codes: dict[str, Id] = Field(
        default_factory=dict,
        description="Companies outside the US: POS tax rate name → QuickBooks TaxCode Id. Every tax rate used "
        "must be mapped. US companies use automated sales tax and need no mapping.",
    )
    us_non_taxable_rates: list[str] = Field(
        default_factory=lambda: ["Exempt", "No tax", "No VAT", "Zero rated"],
        description="US companies: POS tax rates whose lines are sent non-taxable (NON); every other rate "
        "is sent taxable (TAX) and QuickBooks works out the tax.",
    )
    custom_line_items: dict[str, Id] = Field(
        default_factory=lambda: {"service_charge": "1", "surcharge": "1", "delivery": "1", "other": "1"},
        description="Kind of custom line (service_charge, surcharge, delivery, tip, gift_card_sold, other) → Item "
        "Id. QuickBooks sales lines carry an item, never an account, so each kind goes to the account of its "
        "item. A tip is owed to staff and a gift card sold is owed to its holder, not earned: create a Service "
        "item for each whose income account is a liability account (e.g. 'Tips payable', 'Gift card "
        "liability') and map tip and gift_card_sold to them; until then such lines fail with this advice.",
    )
    rounding_item: Id = Field(
        default="1",
        description="Item Id of the rounding line: a cash rounding from the POS goes to this item's account "
        "(an item whose income account is a rounding or other-income account).",
    )
    shift_summary_item: Id = Field(
        default="1", description="Item Id used on the lines of a shift summary receipt (the sandbox's 'Services')."
    )
    doc_number_prefix: str = Field(
        default="", max_length=10,
        description="Put before the POS number to form DocNumber (QuickBooks allows 21 characters in all).",
    )
    duplicate_names: Literal["advise", "add_pos_id"] = Field(
        default="advise",
        description="When QuickBooks already has a customer, vendor or employee of the same display name (or an "
        "item of the same name): 'advise' fails the record with advice; 'add_pos_id' sends the name again with "
        "the POS id appended, e.g. 'Ana Lopez (C-1001)'. Never merged silently.",
    )

    @field_validator("tax_codes", "custom_line_items")
    @classmethod
    def _no_blank_values(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [k for k, v in value.items() if not str(v).strip()]
        if blank:
            raise ValueError(f"no QuickBooks tax code given for: {', '.join(blank)}")
        return value


def coerce(settings: object) -> QuickBooksSettings:
    """The engine hands settings as a BaseModel; accept any that carries QuickBooks' fields."""
    if isinstance(settings, QuickBooksSettings):
        return settings
    dump = getattr(settings, "model_dump", None)
    return QuickBooksSettings.model_validate(dump() if dump else settings)
