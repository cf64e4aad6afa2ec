"""A sale's amounts as the POS counts them: the one place that adds lines, discounts and rounding.

Used by the schema (a sale whose parts do not add up to its total is a 422) and by connectors
(the program's document must come to the same total, to the cent).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def line_amount(line: dict[str, Any]) -> Decimal:
    """A product line's amount before rounding: quantity × unit price − discount."""
    return dec(line["quantity"]) * dec(line["unit_price"]) - dec(line.get("discount"))


def parts_total(payload: dict[str, Any]) -> Decimal | None:
    """What the sale's parts add up to, to the cent; None when it cannot be known (prices before
    tax and no tax total given)."""
    amount = sum((line_amount(line) for line in payload.get("lines") or []), Decimal(0))
    amount += sum((dec(c["amount"]) for c in payload.get("custom_lines") or []), Decimal(0))
    if not payload.get("prices_include_tax", True):
        if payload.get("tax_total") is None:
            return None
        amount += dec(payload["tax_total"])
    return cents(amount + dec(payload.get("cash_rounding")))


def sale_total(payload: dict[str, Any]) -> Decimal | None:
    """The POS's total: the one it sent, else what its parts add up to."""
    if payload.get("total") is not None:
        return cents(payload["total"])
    return parts_total(payload)


def paid(payload: dict[str, Any]) -> Decimal:
    """What the customer paid, net of change given back."""
    return sum((dec(p["amount"]) - dec(p.get("change_given")) for p in payload.get("payments") or []), Decimal(0))


def problems(payload: dict[str, Any]) -> list[str]:
    """Why the sale's amounts do not hold together (empty: they do)."""
    out = []
    parts = parts_total(payload)
    total = payload.get("total")
    if total is not None and parts is not None and parts != cents(total):
        out.append(f"lines, discounts, custom lines and cash rounding add up to {parts}, not the total {cents(total)} "
                   f"(difference {cents(total) - parts})")
    if total is not None and parts is None:
        out.append("a sale with prices before tax needs tax_total when it gives its total")
    lines_with_tax = [line for line in payload.get("lines") or [] if line.get("tax_amount") is not None]
    if payload.get("tax_total") is not None and lines_with_tax and len(lines_with_tax) == len(payload.get("lines") or []):
        line_tax = sum((dec(line["tax_amount"]) for line in lines_with_tax), Decimal(0))
        line_tax += sum((dec(c.get("tax_amount")) for c in payload.get("custom_lines") or []), Decimal(0))
        if cents(line_tax) != cents(payload["tax_total"]):
            out.append(f"the lines' tax amounts add up to {cents(line_tax)}, not the tax_total "
                       f"{cents(payload['tax_total'])} (difference {cents(payload['tax_total']) - cents(line_tax)})")
    known = sale_total(payload)
    if known is not None:
        over = cents(paid(payload)) - known
        if over > 0 and cents(paid(payload)) > 0:  # nothing paid is never too much (a negative total)
            out.append(f"payments come to {cents(paid(payload))}, {over} more than the total {known}; record the "
                       "change handed back in the cash payment's change_given")
    return out
