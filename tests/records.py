"""Realistic record sets for the flow and end-to-end tests."""

from __future__ import annotations


def mixed_records(n: int) -> dict[str, list[dict]]:
    """n records over all six types, in the order a POS sends them."""
    per = n // 6
    customers = [{"id": f"C-{i}", "first_name": f"Customer {i}", "email": f"c{i}@example.com"} for i in range(per)]
    suppliers = [{"id": f"S-{i}", "name": f"Supplier {i}"} for i in range(per)]
    products = [{"id": f"P-{i}", "sku": f"SKU-{i}", "name": f"Product {i}", "price": "2.50"} for i in range(per)]
    purchases = [
        {"id": f"PO-{i}", "number": f"PO-{i}", "supplier_id": f"S-{i}", "status": "received",
         "lines": [{"product_id": f"P-{i}", "quantity": "3", "unit_cost": "1.10"}]}
        for i in range(per)
    ]
    sales = [
        {"id": f"SALE-{i}", "number": str(i), "date": "2026-11-27T10:00:00Z", "customer_id": f"C-{i}",
         "lines": [{"product_id": f"P-{i}", "quantity": "1", "unit_price": "2.50", "tax_rate": "VAT 20%"}],
         "payments": [{"payment_type": "Card", "amount": "2.50"}]}
        for i in range(per)
    ]
    shifts = [
        {"id": f"SH-{i}", "register_id": "REG-1", "opened_at": "2026-11-27T08:00:00Z", "sales_total": "2.50",
         "totals_by_payment_type": [{"payment_type": "Card", "amount": "2.50"}]}
        for i in range(n - 5 * per)
    ]
    return {"customers": customers, "suppliers": suppliers, "products": products, "purchases": purchases,
            "sales": sales, "shift-reports": shifts}
