"""The kinds of company the fake QuickBooks can play: their charts, payment methods and tax codes.

Shaped like what a new company of each edition starts with, so settings chosen "from the company's
own lists" are chosen against something that looks like the real thing:

- US: Intuit's US sandbox company. Automated sales tax (Preferences.TaxPrefs.PartnerTaxEnabled), so
  lines say TAX or NON and the TaxCode list holds nothing a setting names.
- GB: the sandbox's chart and payment methods with four UK VAT codes, each with one sales rate.
- AU: an Australian company with a chart and payment methods of its own (other Ids, other names:
  "Cost of sales", "Cash on hand", "EFTPOS") and GST codes. Some of its codes carry only a
  purchase rate (GST on capital purchases): they may not be used on sales lines.

A tax code is (Name, sales rate in percent or None, purchase rate or None, active). Its rates
become TaxRate objects, as QuickBooks keeps them: a code refers to them by Id.

Each kind also starts with the few Items a new company has ("Services", "Sales", "Hours"; the
sandbox's "Services" is Item 1), so a line's ItemRef must name one of them or one possync created.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

Account = tuple[str, str, str]  # (Id, Name, AccountType)
TaxCodeRow = tuple[str, Decimal | None, Decimal | None, bool]
ItemRow = tuple[str, str, str, str, bool]  # (Id, Name, Type, income account Id, active)


@dataclass(frozen=True)
class CompanyKind:
    country: str
    us: bool
    accounts: tuple[Account, ...]
    inactive_accounts: tuple[Account, ...]
    payment_methods: tuple[tuple[str, str, str, bool], ...]  # (Id, Name, Type, active)
    tax_codes: dict[str, TaxCodeRow]
    items: tuple[ItemRow, ...] = ()


_SANDBOX_ACCOUNTS: tuple[Account, ...] = (
    ("1", "Services", "Income"), ("4", "Undeposited Funds", "Other Current Asset"),
    ("33", "Accounts Payable (A/P)", "Accounts Payable"), ("35", "Checking", "Bank"), ("36", "Savings", "Bank"),
    ("79", "Sales of Product Income", "Income"), ("80", "Cost of Goods Sold", "Cost of Goods Sold"),
    ("81", "Inventory Asset", "Other Current Asset"),
)
_SANDBOX_METHODS = tuple(
    (str(i), name, "CREDIT_CARD" if i >= 3 else "NON_CREDIT_CARD", True)
    for i, name in enumerate(["Cash", "Check", "Visa", "MasterCard", "Discover", "American Express", "Diners Club"],
                             start=1)
) + (("8", "Old voucher", "NON_CREDIT_CARD", False),)

_SANDBOX_ITEMS: tuple[ItemRow, ...] = (
    ("1", "Services", "Service", "1", True), ("2", "Hours", "Service", "1", True),
    ("3", "Sales", "NonInventory", "79", True), ("4", "Old gift wrap", "Service", "1", False),
)

US = CompanyKind("US", True, _SANDBOX_ACCOUNTS, (("90", "Old Checking", "Bank"),), _SANDBOX_METHODS, {},
                 _SANDBOX_ITEMS)

GB = CompanyKind("GB", False, _SANDBOX_ACCOUNTS, (("90", "Old Checking", "Bank"),), _SANDBOX_METHODS, {
    "2": ("Standard", Decimal(20), Decimal(20), True),
    "3": ("Reduced", Decimal(5), Decimal(5), True),
    "4": ("Zero-rated", Decimal(0), Decimal(0), True),
    "5": ("Exempt", Decimal(0), Decimal(0), True),
    "9": ("Old rate", Decimal("17.5"), Decimal("17.5"), False),
}, _SANDBOX_ITEMS)

AU = CompanyKind(
    "AU", False,
    accounts=(
        ("7", "Sales", "Income"), ("8", "Other income", "Other Income"),
        ("12", "Cost of sales", "Cost of Goods Sold"), ("13", "Purchases", "Cost of Goods Sold"),
        ("20", "Inventory Asset", "Other Current Asset"), ("21", "Undeposited Funds", "Other Current Asset"),
        ("22", "Business Cheque Account", "Bank"), ("23", "Cash on hand", "Bank"),
        ("30", "Accounts Payable (A/P)", "Accounts Payable"), ("31", "GST Payable", "Other Current Liability"),
        ("32", "Gift cards outstanding", "Other Current Liability"), ("40", "Advertising", "Expense"),
    ),
    inactive_accounts=(("45", "Old Cheque Account", "Bank"),),
    payment_methods=(("21", "Cash", "NON_CREDIT_CARD", True), ("22", "Cheque", "NON_CREDIT_CARD", True),
                     ("23", "EFTPOS", "NON_CREDIT_CARD", True), ("24", "Visa", "CREDIT_CARD", True),
                     ("25", "MasterCard", "CREDIT_CARD", True), ("26", "American Express", "CREDIT_CARD", True),
                     ("27", "Old voucher", "NON_CREDIT_CARD", False)),
    tax_codes={
        "31": ("GST", Decimal(10), Decimal(10), True),
        "32": ("GST free", Decimal(0), Decimal(0), True),
        "33": ("Input taxed", Decimal(0), Decimal(0), True),
        "34": ("Out of scope", Decimal(0), Decimal(0), True),
        "35": ("GST on capital", None, Decimal(10), True),
        "36": ("GST on non-capital", None, Decimal(10), True),
        "39": ("Old GST", Decimal(10), Decimal(10), False),
    },
    items=(("11", "Hours", "Service", "7", True), ("12", "Sales", "NonInventory", "7", True),
           ("13", "Services", "Service", "7", True), ("14", "Old delivery", "Service", "7", False)),
)

KINDS = {kind.country: kind for kind in (US, GB, AU)}
