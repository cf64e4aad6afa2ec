"""Sync settings of one Xero connection (Integrated Apps → Manage → Sync settings).

The defaults fit Xero's UK demo company ("Demo Company (UK)") so a fresh connection to it works
before the shop has looked at the settings: 200 Sales, 300 Purchases, 310 Cost of Goods Sold,
630 Inventory, 090/091 the two demo bank accounts, and the UK VAT tax types. Any other
organisation will refuse codes it does not have, and the refusal comes back as advice naming
the setting to change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from app.connectors import rules

AccountCode = str


def _demo_sales_tax() -> dict[str, str]:
    return {
        "VAT 20%": "OUTPUT2",
        "VAT 5%": "RROUTPUT",
        "Zero rated": "ZERORATEDOUTPUT",
        "Exempt": "EXEMPTOUTPUT",
        "No VAT": "NONE",
    }


def _demo_purchase_tax() -> dict[str, str]:
    return {
        "VAT 20%": "INPUT2",
        "VAT 5%": "RRINPUT",
        "Zero rated": "ZERORATEDINPUT",
        "Exempt": "EXEMPTINPUT",
        "No VAT": "NONE",
    }


class XeroSettings(rules.CommonSettings):
    sales_inventory_account: AccountCode = Field(
        default="200", description="Revenue account for sales of tracked (inventory) products."
    )
    sales_non_inventory_account: AccountCode = Field(
        default="200", description="Revenue account for sales of untracked products and services."
    )
    purchases_non_inventory_account: AccountCode = Field(
        default="300", description="Expense account for purchases of untracked products and services."
    )
    inventory_asset_account: AccountCode = Field(
        default="630",
        description="Inventory asset account of tracked items; Xero books purchases of tracked items there.",
    )
    cogs_account: AccountCode = Field(default="310", description="Cost of goods sold account of tracked items.")
    shift_sales_account: AccountCode = Field(
        default="200", description="Revenue account of the summary invoice in shift-totals mode."
    )
    payment_accounts: dict[str, AccountCode] = Field(
        default_factory=lambda: {"Cash": "090", "Card": "091", "Gift card": "810", "Store credit": "805"},
        description="POS payment type → Xero account code the payment goes to. Every payment type used must be "
        "mapped. Gift card and store credit redemptions reduce what the shop owes (810 Income in Advance and "
        "805 Accruals, current liabilities of Xero's UK default chart): enable payments to those accounts in Xero.",
    )
    custom_line_accounts: dict[str, AccountCode] = Field(
        default_factory=lambda: {
            "service_charge": "200", "surcharge": "200", "delivery": "200", "other": "260",
            "tip": "814", "gift_card_sold": "810",
        },
        description="Kind of custom line (service_charge, surcharge, delivery, tip, gift_card_sold, other) → Xero "
        "account code. A tip is owed to staff and a gift card sold is owed to its holder, not earned: their "
        "defaults are current liabilities of Xero's UK default chart (814 Wages Payable - Payroll, 810 Income in Advance).",
    )
    rounding_account: AccountCode = Field(
        default="260",
        description="Account of the rounding line: a cash rounding from the POS, and the cent or two by which "
        "Xero's per-line tax rounding would make an invoice differ from the POS total. 260 Other Revenue of "
        "Xero's UK default chart by default; 860 Rounding there is a system account Xero keeps for its own "
        "rounding.",
    )
    sales_tax_types: dict[str, str] = Field(
        default_factory=_demo_sales_tax,
        description="POS tax rate name → Xero TaxType on sales. Every tax rate used must be mapped.",
    )
    purchase_tax_types: dict[str, str] = Field(
        default_factory=_demo_purchase_tax,
        description="POS tax rate name → Xero TaxType on purchases. Every tax rate used must be mapped.",
    )
    walk_in_contact_name: str = Field(
        default="Walk-in customer",
        min_length=1,
        max_length=255,
        description="Xero contact of sales without a customer and of shift summaries.",
    )
    invoice_number_prefix: str = Field(
        default="POS-", max_length=20, description="Put before the POS sale number to form the Xero invoice number."
    )
    duplicate_contact_names: Literal["advise", "add_pos_id"] = Field(
        default="advise",
        description="When Xero already has an active contact of the same name: 'advise' fails the record "
        "with advice; 'add_pos_id' sends the name again with the POS id appended, e.g. 'Ana Lopez (C-1001)'.",
    )

    @field_validator("payment_accounts", "custom_line_accounts", "sales_tax_types", "purchase_tax_types")
    @classmethod
    def _no_blank_values(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [k for k, v in value.items() if not str(v).strip()]
        if blank:
            raise ValueError(f"no Xero code given for: {', '.join(blank)}")
        return value


def coerce(settings: object) -> XeroSettings:
    """The engine hands settings as a BaseModel; accept any that carries Xero's fields."""
    if isinstance(settings, XeroSettings):
        return settings
    dump = getattr(settings, "model_dump", None)
    return XeroSettings.model_validate(dump() if dump else settings)
