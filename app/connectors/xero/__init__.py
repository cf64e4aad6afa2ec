"""Xero: contacts, items, purchase orders, invoices, credit notes and payments."""

from app.connectors.xero.connector import XeroConnector
from app.connectors.xero.settings import XeroSettings

__all__ = ["XeroConnector", "XeroSettings"]
