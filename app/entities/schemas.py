"""What a POS sends for each entity type. Examples refer to each other so they form a tour."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from app.entities import totals

from app.entities.common import (
    Address,
    Flag,
    Moment,
    Part,
    CurrencyCode,
    EntitySchema,
    LongText,
    Money,
    NonNegativeMoney,
    PositiveQuantity,
    PosId,
    Quantity,
    ShortText,
)

Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Phone = Annotated[str, StringConstraints(max_length=50)]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class Customer(EntitySchema):
    first_name: ShortText | None = Field(default=None, description="Given name.")
    last_name: ShortText | None = Field(default=None, description="Family name.")
    company_name: ShortText | None = Field(default=None, description="The customer's company, if any.")
    email: Email | None = Field(default=None, description="Email address.")
    phone: Phone | None = Field(default=None, description="Phone number.")
    mobile: Phone | None = Field(default=None, description="Mobile number.")
    tax_number: ShortText | None = Field(default=None, description="VAT or tax number.")
    addresses: list[Address] = Field(description="Postal, billing or delivery addresses (up to 10).", default_factory=list, max_length=10)
    note: LongText | None = Field(default=None, description="Free text kept with the customer.")


class Supplier(EntitySchema):
    name: ShortText | None = Field(default=None, description="The supplier's business name.")
    contact_first_name: ShortText | None = Field(default=None, description="Given name of the contact person.")
    contact_last_name: ShortText | None = Field(default=None, description="Family name of the contact person.")
    email: Email | None = Field(default=None, description="Email address.")
    phone: Phone | None = Field(default=None, description="Phone number.")
    tax_number: ShortText | None = Field(default=None, description="VAT or tax number.")
    account_number: ShortText | None = Field(default=None, description="The shop's account number with this supplier.")
    addresses: list[Address] = Field(description="Addresses (up to 10).", default_factory=list, max_length=10)
    note: LongText | None = Field(default=None, description="Free text kept with the supplier.")


class Product(EntitySchema):
    sku: Sku = Field(description="Stock keeping unit: the product's code in the POS.")
    name: ShortText = Field(description="The product's name.")
    description: LongText | None = Field(default=None, description="Longer description.")
    price: Money | None = Field(default=None, description="Retail price per unit.")
    cost: Money | None = Field(default=None, description="Supply price per unit.")
    tax_rate: ShortText | None = Field(default=None, description="The POS tax rate name, mapped per connection.")
    prices_include_tax: Flag = Field(default=True, description="Whether price includes tax.")
    tracked: Flag = Field(default=False, description="Stock is counted for this product (inventory).")
    service: Flag = Field(default=False, description="A service, not a good (no stock).")
    quantity: Quantity | None = Field(default=None, description="Stock on hand when tracked.")
    active: Flag = Field(default=True, description="False once the product is no longer sold.")


class PurchaseOrderLine(Part):
    id: PosId | None = Field(default=None, description="The line's id in the POS.")
    product_id: PosId = Field(description="POS id of the product ordered.")
    description: LongText | None = Field(default=None, description="Text of the line (default: the product's name).")
    quantity: PositiveQuantity = Field(description="Units ordered (more than 0).")
    unit_cost: Money = Field(description="Cost per unit.")
    tax_rate: ShortText | None = Field(default=None, description="The POS tax rate name, mapped per connection.")


class PurchaseOrder(EntitySchema):
    number: ShortText = Field(description="The purchase order's number as the POS shows it.")
    supplier_id: PosId = Field(description="POS id of the supplier.")
    status: Literal["draft", "ordered", "received"] = Field(default="draft", description="draft, ordered or received; only received orders are synced.")
    ordered_at: Moment | None = Field(default=None, description="When it was ordered.")
    expected_at: Moment | None = Field(default=None, description="When delivery is expected.")
    received_at: Moment | None = Field(default=None, description="When the goods arrived.")
    currency: CurrencyCode | None = Field(default=None, description="ISO 4217 code; default: the organisation's currency.")
    prices_include_tax: Flag = Field(default=False, description="Whether unit costs include tax.")
    lines: list[PurchaseOrderLine] = Field(description="The products ordered (1 to 500 lines).", min_length=1, max_length=500)
    note: LongText | None = Field(default=None, description="Free text kept with the order.")


class SaleLine(Part):
    id: PosId | None = Field(default=None, description="The line's id in the POS.")
    product_id: PosId = Field(description="POS id of the product sold.")
    description: LongText | None = Field(default=None, description="Text of the line (default: the product's name).")
    quantity: PositiveQuantity = Field(description="Units sold (more than 0); a refund has positive quantities too.")
    unit_price: Money = Field(description="Price per unit.")
    discount: NonNegativeMoney = Field(default=Decimal("0"), description="Discount amount for the whole line.")
    tax_rate: ShortText | None = Field(default=None, description="The POS tax rate name, mapped per connection.")
    tax_amount: Money | None = Field(
        default=None, description="Optional: the tax the POS computed on this line (used by programs that take it)."
    )


CustomLineKind = Literal["service_charge", "surcharge", "delivery", "tip", "gift_card_sold", "other"]


class CustomLine(Part):
    """A line with no product: each kind goes to the account the connection's settings name for it."""

    id: PosId | None = Field(default=None, description="The line's id in the POS.")
    kind: CustomLineKind = Field(description="service_charge, surcharge, delivery, tip, gift_card_sold or other.")
    description: LongText | None = Field(default=None, description="Text of the line (default: its kind).")
    amount: Money = Field(description="The line's amount, tax included when the sale's prices include tax.")
    tax_rate: ShortText | None = Field(default=None, description="The POS tax rate name; none: untaxed.")
    tax_amount: Money | None = Field(default=None, description="Optional: the tax the POS computed on this line.")


class SalePayment(Part):
    id: PosId | None = Field(default=None, description="The payment's id in the POS.")
    payment_type: ShortText = Field(
        description="The POS payment type (Cash, Card, Gift card, Store credit…), mapped to an account per connection."
    )
    amount: Money = Field(description="Amount tendered; for a refund, the amount paid back.")
    change_given: NonNegativeMoney | None = Field(
        default=None, description="Change handed back from this payment (cash): the rest is what was paid."
    )
    paid_at: Moment | None = Field(default=None, description="When it was paid (default: the sale's date).")


class Sale(EntitySchema):
    number: ShortText = Field(description="The sale's number (receipt number) as the POS shows it.")
    date: Moment = Field(description="When the sale happened, with its time zone.")
    status: Literal["completed", "parked", "voided", "refund"] = Field(
        default="completed",
        description="A refund is its own sale with status `refund`, positive quantities and amounts, and the "
        "payments paid back (positive); it becomes a credit note. Voided and parked sales are not synced; "
        "`voided` after a sync voids the document.",
    )
    customer_id: PosId | None = Field(default=None, description="Absent for a walk-in sale.")
    register_id: PosId | None = Field(default=None, description="POS id of the register (till).")
    shift_id: PosId | None = Field(default=None, description="The register shift (shift report) it belongs to.")
    currency: CurrencyCode | None = Field(default=None, description="ISO 4217 code; default: the organisation's currency.")
    prices_include_tax: Flag = Field(default=True, description="Whether unit prices include tax.")
    lines: list[SaleLine] = Field(
        default_factory=list, max_length=500,
        description="What was sold (up to 500 lines); a sale needs at least one line or custom line.",
    )
    custom_lines: list[CustomLine] | None = Field(
        default=None, max_length=100,
        description="Lines with no product: service charge, surcharge, delivery, tip, gift card sold, other.",
    )
    cash_rounding: Money | None = Field(
        default=None, description="Rounding of a cash total (e.g. -0.02), part of the total."
    )
    total: Money | None = Field(
        default=None,
        description="The sale's total as the POS shows it (tax included). Given: the lines, discounts, custom lines "
        "and cash rounding must add up to it (else 422), and every program's document comes to it to the cent.",
    )
    tax_total: Money | None = Field(default=None, description="Optional: the sale's tax as the POS computed it.")
    payments: list[SalePayment] = Field(
        default_factory=list, max_length=50,
        description="How it was paid (up to 50 payments). May come to less than the total (the rest is owed: on "
        "account, a layby deposit); never more, except for change handed back (change_given).",
    )
    note: LongText | None = Field(default=None, description="Free text kept with the sale.")

    @model_validator(mode="after")
    def _amounts_hold_together(self) -> Sale:
        if not self.lines and not self.custom_lines:
            raise ValueError("a sale needs at least one line or custom line")
        found = totals.problems(self.model_dump(mode="json"))
        if found:
            raise ValueError("; ".join(found))
        return self


class PaymentTotal(Part):
    payment_type: ShortText = Field(description="The POS payment type.")
    amount: Money = Field(description="Total taken with it during the shift.")


class TaxTotal(Part):
    tax_rate: ShortText = Field(description="The POS tax rate name.")
    net: Money = Field(description="Net sales at this rate.")
    tax: Money = Field(description="Tax at this rate.")


class ShiftReport(EntitySchema):
    register_id: PosId = Field(description="POS id of the register (till).")
    register_name: ShortText | None = Field(default=None, description="The register's name.")
    number: ShortText | None = Field(default=None, description="The shift's number as the POS shows it.")
    opened_at: Moment = Field(description="When the shift opened.")
    closed_at: Moment | None = Field(default=None, description="When the shift closed.")
    currency: CurrencyCode | None = Field(default=None, description="ISO 4217 code; default: the organisation's currency.")
    sales_total: Money = Field(description="Total of the shift's sales.")
    refunds_total: Money = Field(default=Decimal("0"), description="Total refunded during the shift.")
    discounts_total: Money = Field(default=Decimal("0"), description="Total of the discounts given.")
    totals_by_payment_type: list[PaymentTotal] = Field(description="Takings per payment type.", default_factory=list, max_length=50)
    totals_by_tax_rate: list[TaxTotal] = Field(description="Net and tax per tax rate.", default_factory=list, max_length=50)
    note: LongText | None = Field(default=None, description="Free text kept with the shift.")


CUSTOMER_EXAMPLE = {
    "id": "C-1001",
    "first_name": "Ana",
    "last_name": "Lopez",
    "company_name": None,
    "email": "ana.lopez@example.com",
    "phone": "+44 20 7946 0001",
    "addresses": [{"kind": "billing", "line1": "12 High Street", "city": "London", "postcode": "N1 9GU", "country": "GB"}],
}
SUPPLIER_EXAMPLE = {
    "id": "S-2001",
    "name": "Harbour Coffee Roasters",
    "contact_first_name": "Tom",
    "contact_last_name": "Reid",
    "email": "orders@harbourcoffee.example.com",
    "phone": "+44 20 7946 0100",
    "account_number": "HCR-77",
}
PRODUCT_EXAMPLE = {
    "id": "P-3001",
    "sku": "BEANS-HOUSE-1KG",
    "name": "House blend beans 1 kg",
    "price": "24.00",
    "cost": "11.50",
    "tax_rate": "VAT 20%",
    "tracked": True,
    "quantity": "40",
}
PURCHASE_ORDER_EXAMPLE = {
    "id": "PO-4001",
    "number": "PO-4001",
    "supplier_id": "S-2001",
    "status": "received",
    "ordered_at": "2026-11-20T09:00:00Z",
    "received_at": "2026-11-25T14:30:00Z",
    "lines": [{"product_id": "P-3001", "quantity": "20", "unit_cost": "11.50", "tax_rate": "VAT 20%"}],
}
SALE_EXAMPLE = {
    "id": "SALE-5001",
    "number": "5001",
    "date": "2026-11-27T10:15:00Z",
    "status": "completed",
    "customer_id": "C-1001",
    "register_id": "REG-1",
    "shift_id": "SHIFT-6001",
    "lines": [{"product_id": "P-3001", "quantity": "2", "unit_price": "24.00", "discount": "4.00", "tax_rate": "VAT 20%"}],
    "payments": [{"payment_type": "Card", "amount": "44.00", "paid_at": "2026-11-27T10:15:30Z"}],
}
MORE_SALE_EXAMPLES = {
    "refund": {
        "summary": "a refund (credit note): its own sale, status refund, positive amounts",
        "value": {
            "id": "SALE-5002",
            "number": "5002",
            "date": "2026-11-28T11:00:00Z",
            "status": "refund",
            "customer_id": "C-1001",
            "register_id": "REG-1",
            "lines": [{"product_id": "P-3001", "quantity": "1", "unit_price": "22.00", "tax_rate": "VAT 20%"}],
            "total": "22.00",
            "payments": [{"payment_type": "Card", "amount": "22.00"}],
            "note": "Refund of one bag from sale 5001",
        },
    },
    "custom_lines_and_deposit": {
        "summary": "custom lines (service charge, tip, gift card sold), a gift card payment, the rest owed",
        "value": {
            "id": "SALE-5003",
            "number": "5003",
            "date": "2026-11-28T12:00:00Z",
            "customer_id": "C-1001",
            "lines": [{"product_id": "P-3001", "quantity": "1", "unit_price": "24.00", "tax_rate": "VAT 20%"}],
            "custom_lines": [
                {"kind": "service_charge", "description": "Service 10%", "amount": "2.40", "tax_rate": "VAT 20%"},
                {"kind": "tip", "amount": "3.00"},
                {"kind": "gift_card_sold", "description": "Gift card GC-77", "amount": "25.00"},
            ],
            "total": "54.40",
            "payments": [
                {"payment_type": "Gift card", "amount": "10.00"},
                {"payment_type": "Cash", "amount": "40.00", "change_given": "0.60"},
            ],
            "note": "5.00 left on account",
        },
    },
}
SHIFT_REPORT_EXAMPLE = {
    "id": "SHIFT-6001",
    "register_id": "REG-1",
    "register_name": "Front counter",
    "number": "6001",
    "opened_at": "2026-11-27T08:00:00Z",
    "closed_at": "2026-11-27T18:00:00Z",
    "sales_total": "44.00",
    "refunds_total": "0",
    "discounts_total": "4.00",
    "totals_by_payment_type": [{"payment_type": "Card", "amount": "44.00"}],
    "totals_by_tax_rate": [{"tax_rate": "VAT 20%", "net": "36.67", "tax": "7.33"}],
}
