"""Deterministic, valid POS payloads for the six entity types.

Every generated record passes the API's validation and goes through the sandbox without tripping
its documented failure triggers (no `[flaky]` names, no `@invalid.example` emails).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

# Dependency order: what a record refers to comes before it.
ORDER = ["customer", "supplier", "product", "purchase_order", "sale", "shift_report"]
COLLECTION = {
    "customer": "customers",
    "supplier": "suppliers",
    "product": "products",
    "purchase_order": "purchases",
    "sale": "sales",
    "shift_report": "shift-reports",
}
# Share of each type in the mixed end-to-end set (a shop sees far more sales than anything else).
MIX = {"customer": 10, "supplier": 2, "product": 15, "purchase_order": 5, "sale": 63, "shift_report": 5}

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Isla", "Jonas", "Kemi", "Liam"]
LAST = ["Lopez", "Reid", "Okafor", "Nguyen", "Smith", "Kowalski", "Haddad", "Brown", "Sato", "Moreau"]
GOODS = ["House blend beans", "Oat milk", "Espresso cup", "Filter papers", "Chai syrup", "Croissant", "Tote bag"]
PAY_TYPES = ["Card", "Cash", "Gift card"]
BASE_TIME = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass
class Generator:
    """Makes payloads; ids are prefixed so several bench runs can share one database."""

    prefix: str
    seed: int = 7
    rng: random.Random = field(init=False)
    made: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in ORDER})

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _id(self, entity_type: str) -> str:
        n = len(self.made[entity_type]) + 1
        pos_id = f"{self.prefix}-{entity_type[:2].upper()}-{n:06d}"
        self.made[entity_type].append(pos_id)
        return pos_id

    def _pick(self, entity_type: str, fallback: str) -> str:
        pool = self.made[entity_type]
        return self.rng.choice(pool) if pool else fallback

    def make(self, entity_type: str) -> dict[str, Any]:
        return getattr(self, f"_{entity_type}")(self._id(entity_type))

    def _customer(self, pos_id: str) -> dict[str, Any]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        return {
            "id": pos_id,
            "first_name": first,
            "last_name": f"{last} {pos_id[-6:]}",  # unique display names, as Xero/QuickBooks want
            "email": f"{first.lower()}.{pos_id.lower()}@example.com",
            "phone": f"+44 20 7946 {self.rng.randint(0, 9999):04d}",
            "addresses": [{"kind": "billing", "line1": f"{self.rng.randint(1, 200)} High Street",
                           "city": "London", "postcode": "N1 9GU", "country": "GB"}],
        }

    def _supplier(self, pos_id: str) -> dict[str, Any]:
        return {
            "id": pos_id,
            "name": f"Harbour Supplies {pos_id[-6:]}",
            "contact_first_name": self.rng.choice(FIRST),
            "contact_last_name": self.rng.choice(LAST),
            "email": f"orders.{pos_id.lower()}@example.com",
            "account_number": f"ACC-{pos_id[-6:]}",
        }

    def _product(self, pos_id: str) -> dict[str, Any]:
        cost = Decimal(self.rng.randint(100, 3000)) / 100
        return {
            "id": pos_id,
            "sku": f"SKU-{pos_id[-6:]}-{self.rng.randint(0, 99):02d}",
            "name": f"{self.rng.choice(GOODS)} {pos_id[-6:]}",
            "price": _money(cost * 2),
            "cost": _money(cost),
            "tax_rate": "VAT 20%",
            "tracked": True,
            "quantity": str(self.rng.randint(0, 200)),
        }

    def _lines(self, price_key: str) -> list[dict[str, Any]]:
        lines = []
        for _ in range(self.rng.randint(1, 4)):
            product = self._pick("product", "P-3001")
            price = Decimal(self.rng.randint(100, 5000)) / 100
            lines.append({"product_id": product, "quantity": str(self.rng.randint(1, 5)),
                          price_key: _money(price), "tax_rate": "VAT 20%"})
        return lines

    def _purchase_order(self, pos_id: str) -> dict[str, Any]:
        ordered = BASE_TIME - timedelta(days=self.rng.randint(3, 30))
        return {
            "id": pos_id,
            "number": pos_id,
            "supplier_id": self._pick("supplier", "S-2001"),
            "status": "received",
            "ordered_at": _iso(ordered),
            "received_at": _iso(ordered + timedelta(days=2)),
            "lines": self._lines("unit_cost"),
        }

    def _sale(self, pos_id: str) -> dict[str, Any]:
        lines = self._lines("unit_price")
        total = sum(Decimal(l["unit_price"]) * int(l["quantity"]) for l in lines)
        at = BASE_TIME + timedelta(minutes=self.rng.randint(0, 600))
        sale = {
            "id": pos_id,
            "number": pos_id,
            "date": _iso(at),
            "status": "completed",
            "register_id": "REG-1",
            "shift_id": f"{self.prefix}-SHIFT",
            "lines": lines,
            "payments": [{"payment_type": self.rng.choice(PAY_TYPES), "amount": _money(total), "paid_at": _iso(at)}],
        }
        if self.rng.random() < 0.7:  # the rest are walk-in sales
            sale["customer_id"] = self._pick("customer", "C-1001")
        return sale

    def _shift_report(self, pos_id: str) -> dict[str, Any]:
        card, cash = Decimal(self.rng.randint(10000, 90000)) / 100, Decimal(self.rng.randint(1000, 20000)) / 100
        total = card + cash
        net = (total / Decimal("1.2")).quantize(Decimal("0.01"))
        opened = BASE_TIME + timedelta(days=len(self.made["shift_report"]))
        return {
            "id": pos_id,
            "register_id": "REG-1",
            "register_name": "Front counter",
            "number": pos_id,
            "opened_at": _iso(opened),
            "closed_at": _iso(opened + timedelta(hours=10)),
            "sales_total": _money(total),
            "totals_by_payment_type": [{"payment_type": "Card", "amount": _money(card)},
                                       {"payment_type": "Cash", "amount": _money(cash)}],
            "totals_by_tax_rate": [{"tax_rate": "VAT 20%", "net": _money(net), "tax": _money(total - net)}],
        }


def mixed_counts(total: int) -> dict[str, int]:
    """Split `total` records across the six types by MIX, at least one of each."""
    if total < len(ORDER):
        raise ValueError(f"need at least {len(ORDER)} records (one per type)")
    weight = sum(MIX.values())
    counts = {t: max(1, total * MIX[t] // weight) for t in ORDER}
    counts["sale"] += total - sum(counts.values())  # rounding goes to sales
    return counts
