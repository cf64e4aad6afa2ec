"""Pure mapping: POS payloads + settings → Xero elements, and the advice when they cannot be mapped."""

from __future__ import annotations

import copy

import pytest

from app.connectors.errors import PermanentError
from app.connectors.xero import mapping
from app.connectors.xero.connector import XeroConnector
from app.connectors.xero.settings import XeroSettings
from app.entities.schemas import (
    CUSTOMER_EXAMPLE,
    PRODUCT_EXAMPLE,
    PURCHASE_ORDER_EXAMPLE,
    SALE_EXAMPLE,
    SHIFT_REPORT_EXAMPLE,
    SUPPLIER_EXAMPLE,
)

from .conftest import push_item

ITEM_ID = "11111111-1111-4111-8111-111111111111"
CUSTOMER_ID = "22222222-2222-4222-8222-222222222222"
SUPPLIER_ID = "33333333-3333-4333-8333-333333333333"
CODES = {ITEM_ID: "BEANS-HOUSE-1KG"}


def sale_item(payload=None, **kw):
    payload = copy.deepcopy(payload or SALE_EXAMPLE)
    refs = {("customer", "C-1001"): CUSTOMER_ID, ("product", "P-3001"): ITEM_ID}
    return push_item("sale", payload, references=refs, **kw)


def shift_item(payload=None, **kw):
    return push_item("shift_report", copy.deepcopy(payload or SHIFT_REPORT_EXAMPLE), **kw)


# --- contacts -------------------------------------------------------------------------------------


def test_customer_becomes_contact_with_prefixed_number():
    doc = mapping.build(push_item("customer", CUSTOMER_EXAMPLE), XeroSettings())
    assert doc.collection == "Contacts"
    el = doc.element
    assert el["ContactNumber"] == "CUS-C-1001"
    assert el["Name"] == "Ana Lopez"
    assert el["FirstName"] == "Ana" and el["LastName"] == "Lopez"
    assert el["EmailAddress"] == "ana.lopez@example.com"
    assert el["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "+44 20 7946 0001"}]
    assert el["Addresses"][0]["AddressType"] == "POBOX"
    assert el["Addresses"][0]["City"] == "London"
    assert "ContactID" not in el


def test_supplier_becomes_contact_and_known_id_is_sent():
    doc = mapping.build(push_item("supplier", SUPPLIER_EXAMPLE, external_id=SUPPLIER_ID), XeroSettings())
    assert doc.element["Name"] == "Harbour Coffee Roasters"
    assert doc.element["ContactNumber"] == "SUP-S-2001"
    assert doc.element["ContactID"] == SUPPLIER_ID
    assert doc.element["FirstName"] == "Tom"


def test_customer_and_supplier_with_same_pos_id_get_distinct_numbers():
    customer = mapping.build(push_item("customer", {"id": "1001", "company_name": "A"}), XeroSettings())
    supplier = mapping.build(push_item("supplier", {"id": "1001", "name": "A"}), XeroSettings())
    assert customer.element["ContactNumber"] != supplier.element["ContactNumber"]


def test_long_pos_id_gives_stable_contact_number_within_50_chars():
    long_id = "X" * 100
    a = mapping.contact_number("customer", long_id)
    b = mapping.contact_number("customer", long_id)
    other = mapping.contact_number("customer", "X" * 99 + "Y")
    assert len(a) <= 50 and a == b and a != other
    assert a != mapping.contact_number("supplier", long_id)


def test_customer_without_name_gets_advice():
    with pytest.raises(PermanentError) as err:
        mapping.build(push_item("customer", {"id": "C-9", "email": "x@example.com"}), XeroSettings())
    assert err.value.code == "missing_name"
    assert "name" in err.value.advice


def test_name_with_pos_id_for_duplicates():
    assert mapping.name_with_pos_id("Ana Lopez", "C-1001") == "Ana Lopez (C-1001)"
    assert len(mapping.name_with_pos_id("N" * 255, "C-1")) == 255


# --- items ----------------------------------------------------------------------------------------


def test_tracked_product_becomes_inventory_item():
    el = mapping.build(push_item("product", PRODUCT_EXAMPLE), XeroSettings()).element
    assert el["Code"] == "BEANS-HOUSE-1KG"
    assert el["IsTrackedAsInventory"] is True
    assert el["InventoryAssetAccountCode"] == "630"
    assert el["PurchaseDetails"] == {"UnitPrice": 11.5, "TaxType": "INPUT2", "COGSAccountCode": "310"}
    assert el["SalesDetails"] == {"AccountCode": "200", "UnitPrice": 24.0, "TaxType": "OUTPUT2"}


def test_untracked_product_uses_non_inventory_accounts():
    settings = XeroSettings(sales_non_inventory_account="260", purchases_non_inventory_account="429")
    payload = {**PRODUCT_EXAMPLE, "tracked": False, "tax_rate": None}
    el = mapping.build(push_item("product", payload, external_id=CUSTOMER_ID), settings).element
    assert "IsTrackedAsInventory" not in el and "InventoryAssetAccountCode" not in el
    assert el["SalesDetails"]["AccountCode"] == "260"
    assert el["PurchaseDetails"]["AccountCode"] == "429"
    assert "TaxType" not in el["SalesDetails"]
    assert el["ItemID"] == CUSTOMER_ID


def test_item_name_is_cut_to_xero_limit_but_kept_in_description():
    payload = {**PRODUCT_EXAMPLE, "name": "N" * 80}
    el = mapping.build(push_item("product", payload), XeroSettings()).element
    assert len(el["Name"]) == 50 and el["Description"] == "N" * 80


def test_item_code_longer_than_30_gets_advice():
    payload = {**PRODUCT_EXAMPLE, "sku": "S" * 31}
    with pytest.raises(PermanentError) as err:
        mapping.build(push_item("product", payload), XeroSettings())
    assert err.value.code == "item_code_too_long"
    assert "30" in err.value.advice


def test_missing_tax_mapping_on_product_gets_advice():
    payload = {**PRODUCT_EXAMPLE, "tax_rate": "GST 15%"}
    with pytest.raises(PermanentError) as err:
        mapping.build(push_item("product", payload), XeroSettings())
    assert err.value.code == "tax_rate_unmapped"
    assert "GST 15%" in err.value.advice and "sync settings" in err.value.advice


# --- purchase orders ------------------------------------------------------------------------------


def test_received_purchase_order_becomes_authorised_po():
    refs = {("supplier", "S-2001"): SUPPLIER_ID, ("product", "P-3001"): ITEM_ID}
    item = push_item("purchase_order", PURCHASE_ORDER_EXAMPLE, references=refs)
    doc = mapping.build(item, XeroSettings(), CODES)
    el = doc.element
    assert doc.collection == "PurchaseOrders"
    assert el["Contact"] == {"ContactID": SUPPLIER_ID}
    assert el["PurchaseOrderNumber"] == "PO-4001"
    assert el["Status"] == "AUTHORISED"
    assert el["Date"] == "2026-11-20" and el["DeliveryDate"] == "2026-11-25"
    assert el["LineAmountTypes"] == "Exclusive"
    assert el["LineItems"] == [{"ItemCode": "BEANS-HOUSE-1KG", "Quantity": 20.0, "UnitAmount": 11.5, "TaxType": "INPUT2"}]


def test_purchase_order_whose_supplier_is_not_synced_says_which_setting_to_change():
    item = push_item("purchase_order", PURCHASE_ORDER_EXAMPLE, references={("product", "P-3001"): ITEM_ID})
    with pytest.raises(PermanentError) as err:
        mapping.build(item, XeroSettings(), CODES)
    assert err.value.code == "reference_not_synced" and "suppliers" in err.value.advice


def test_unreceived_purchase_order_is_skipped():
    connector = XeroConnector.__new__(XeroConnector)
    reason = connector.skip_reason("purchase_order", {**PURCHASE_ORDER_EXAMPLE, "status": "ordered"}, XeroSettings())
    assert reason and "received" in reason


# --- sales, individual mode -----------------------------------------------------------------------


def test_sale_becomes_authorised_invoice_with_payment_plan():
    doc = mapping.build(sale_item(), XeroSettings(), CODES)
    el = doc.element
    assert doc.collection == "Invoices"
    assert el["Type"] == "ACCREC" and el["Status"] == "AUTHORISED"
    assert el["Contact"] == {"ContactID": CUSTOMER_ID}
    assert el["InvoiceNumber"] == "POS-5001"
    assert el["Date"] == el["DueDate"] == "2026-11-27"
    assert el["LineAmountTypes"] == "Inclusive"
    assert el["LineItems"] == [
        {"ItemCode": "BEANS-HOUSE-1KG", "Quantity": 2.0, "UnitAmount": 24.0, "DiscountAmount": 4.0, "TaxType": "OUTPUT2"}
    ]
    assert [(p.account_code, p.amount, p.reference) for p in doc.payments] == [("091", 44.0, "POS-5001 Card")]
    assert doc.payments[0].date == "2026-11-27"


def test_sale_exclusive_prices_and_walk_in_contact():
    payload = {**SALE_EXAMPLE, "prices_include_tax": False, "customer_id": None}
    el = mapping.build(sale_item(payload), XeroSettings(walk_in_contact_name="Counter sales"), CODES).element
    assert el["LineAmountTypes"] == "Exclusive"
    assert el["Contact"] == {"Name": "Counter sales"}


def test_sale_payments_are_summed_per_payment_type():
    payload = {
        **SALE_EXAMPLE,
        "payments": [
            {"payment_type": "Card", "amount": "20.00"},
            {"payment_type": "Cash", "amount": "10.00"},
            {"payment_type": "Card", "amount": "14.00"},
        ],
    }
    doc = mapping.build(sale_item(payload), XeroSettings(), CODES)
    assert {(p.account_code, p.amount) for p in doc.payments} == {("091", 34.0), ("090", 10.0)}


def test_sale_with_unmapped_payment_type_gets_advice():
    payload = {**SALE_EXAMPLE, "payments": [{"payment_type": "Voucher", "amount": "44.00"}]}
    with pytest.raises(PermanentError) as err:
        mapping.build(sale_item(payload), XeroSettings(), CODES)
    assert err.value.code == "payment_type_unmapped"
    assert err.value.advice == "Map payment type Voucher to an account in the Xero sync settings (payment_accounts)."


def test_sale_with_unmapped_tax_rate_gets_advice():
    payload = copy.deepcopy(SALE_EXAMPLE)
    payload["lines"][0]["tax_rate"] = "Luxury 25%"
    with pytest.raises(PermanentError) as err:
        mapping.build(sale_item(payload), XeroSettings(), CODES)
    assert err.value.code == "tax_rate_unmapped"


def test_sale_whose_product_is_unknown_in_xero_gets_advice():
    with pytest.raises(PermanentError) as err:
        mapping.build(sale_item(), XeroSettings(), {})
    assert err.value.code == "item_not_in_xero"


def test_refund_becomes_credit_note_with_refund_payment():
    payload = {**SALE_EXAMPLE, "status": "refund", "payments": [{"payment_type": "Cash", "amount": "-44.00"}]}
    doc = mapping.build(sale_item(payload, external_id=ITEM_ID), XeroSettings(), CODES)
    assert doc.collection == "CreditNotes"
    assert doc.element["Type"] == "ACCRECCREDIT"
    assert doc.element["CreditNoteNumber"] == "POS-5001"
    assert doc.element["CreditNoteID"] == ITEM_ID
    assert "InvoiceNumber" not in doc.element and "DueDate" not in doc.element
    assert [(p.account_code, p.amount) for p in doc.payments] == [("090", 44.0)]
    payment = mapping.payment_element(doc.payments[0], doc.collection, "cn-1")
    assert payment["CreditNote"] == {"CreditNoteID": "cn-1"} and payment["Amount"] == 44.0


def test_voided_sale_is_skipped_and_the_mode_is_left_to_the_engine():
    connector = XeroConnector.__new__(XeroConnector)
    assert "Voided" in connector.skip_reason("sale", {**SALE_EXAMPLE, "status": "voided"}, XeroSettings())
    shift_mode = XeroSettings(sales_mode="shift_totals")
    # Which document carries a sale's revenue depends on the mode at the shift's close and on what
    # already reached Xero: the engine judges it (app.sync.coverage, tests/books), not the connector.
    assert connector.skip_reason("sale", SALE_EXAMPLE, shift_mode) is None
    assert connector.skip_reason("shift_report", SHIFT_REPORT_EXAMPLE, XeroSettings()) is None


# --- shift reports, shift-totals mode -------------------------------------------------------------


def test_shift_report_becomes_summary_invoice_by_tax_rate():
    settings = XeroSettings(sales_mode="shift_totals", shift_sales_account="201")
    doc = mapping.build(shift_item(), settings)
    el = doc.element
    assert doc.collection == "Invoices"
    assert el["InvoiceNumber"] == "POS-SHIFT-6001"
    assert el["Contact"] == {"Name": "Walk-in customer"}
    assert el["LineAmountTypes"] == "Exclusive"
    assert el["Date"] == "2026-11-27"
    assert el["LineItems"] == [
        {
            "Description": "POS sales, VAT 20%, shift 6001",
            "Quantity": 1.0,
            "UnitAmount": 36.67,
            "TaxAmount": 7.33,
            "TaxType": "OUTPUT2",
            "AccountCode": "201",
        }
    ]
    assert [(p.account_code, p.amount) for p in doc.payments] == [("091", 44.0)]


def test_shift_report_without_tax_breakdown_is_one_untaxed_line():
    payload = {**SHIFT_REPORT_EXAMPLE, "totals_by_tax_rate": []}
    el = mapping.build(shift_item(payload), XeroSettings()).element
    assert el["LineAmountTypes"] == "NoTax"
    assert el["LineItems"][0]["UnitAmount"] == 44.0


def test_negative_shift_total_for_a_payment_type_gets_advice():
    payload = {
        **SHIFT_REPORT_EXAMPLE,
        "totals_by_payment_type": [{"payment_type": "Card", "amount": "50.00"}, {"payment_type": "Cash", "amount": "-6.00"}],
    }
    with pytest.raises(PermanentError) as err:
        mapping.build(shift_item(payload), XeroSettings())
    assert err.value.code == "negative_payment_total"
    assert "Cash" in err.value.message and "cannot" in err.value.advice


def test_shift_report_with_unmapped_payment_type_gets_advice():
    payload = {**SHIFT_REPORT_EXAMPLE, "totals_by_payment_type": [{"payment_type": "Voucher", "amount": "44.00"}]}
    with pytest.raises(PermanentError) as err:
        mapping.build(shift_item(payload), XeroSettings())
    assert err.value.advice == "Map payment type Voucher to an account in the Xero sync settings (payment_accounts)."


def test_amounts_are_json_numbers_not_strings():
    doc = mapping.build(sale_item(), XeroSettings(), CODES)
    line = doc.element["LineItems"][0]
    assert all(isinstance(line[k], float) for k in ("Quantity", "UnitAmount", "DiscountAmount"))
    assert isinstance(doc.payments[0].amount, float)
