from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.books.programs import PROGRAMS

PRODUCT = {"sku": "COFFEE", "name": "Coffee", "price": "10.00", "tax_rate": "VAT 20%"}


@pytest.fixture(params=sorted(PROGRAMS))
async def program(request, api):
    prog = PROGRAMS[request.param](api)
    yield prog


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ago(**kwargs) -> str:
    return iso(datetime.now(UTC) - timedelta(**kwargs))


def sale(pos_id: str, *, shift: str | None, date: str, amount: str = "10.00", payment_type: str = "Cash",
         **extra) -> dict:
    body = {
        "number": pos_id,
        "date": date,
        "lines": [{"product_id": "P-1", "quantity": "1", "unit_price": amount, "tax_rate": "VAT 20%"}],
        "payments": [{"payment_type": payment_type, "amount": amount}],
    }
    if shift:
        body["shift_id"] = shift
    body.update(extra)
    return body


def shift(*, opened: str, closed: str | None, cash: str = "20.00") -> dict:
    body = {
        "register_id": "REG-1",
        "opened_at": opened,
        "sales_total": cash,
        "totals_by_payment_type": [{"payment_type": "Cash", "amount": cash}],
    }
    if closed:
        body["closed_at"] = closed
    return body
