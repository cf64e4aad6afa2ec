"""QuickBooks Online: customers, vendors, items, purchase orders, sales receipts, invoices, refund receipts."""

from app.connectors.quickbooks.connector import QuickBooksConnector
from app.connectors.quickbooks.settings import QuickBooksSettings

__all__ = ["QuickBooksConnector", "QuickBooksSettings"]
