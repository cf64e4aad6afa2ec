"""Changed in the program is judged by content: the fields possync maps, as the program held them
after possync's push, against the object read back. Versions and clocks also move for what leaves
the books alone (an invoice marked sent, a receipt e-mailed, a payment applied, possync's own
changes echoed back by the program's webhooks); only a real difference turns a record red."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.connectors.digest import content_digest
from app.connectors.quickbooks.retract import CANDIDATES
from app.models import Run, RunTrigger
from tests.books.conftest import sale
from tests.webhooks.test_bookkeeper import (
    TODAY,
    panel,
    put,
    quickbooks_with_a_sale,
    xero_with_a_sale,
)


def xero_time_later(minutes: int) -> str:
    """A moment the bookkeeper works in Xero, well after possync's push (beyond any clock slack)."""
    return f"/Date({int((datetime.now(UTC) + timedelta(minutes=minutes)).timestamp() * 1000)}+0000)/"


async def webhook_runs(api) -> int:
    async with api.deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Run).where(Run.trigger == RunTrigger.WEBHOOK))


async def echoes_processed(api, program) -> None:
    """Deliver what the fake queued of possync's own changes, and let one processing pass run."""
    assert await program.fake.deliveries.flush() == 200
    await api.settle()


def test_the_digest_ignores_spelling_and_unmapped_fields_but_not_a_mapped_value():
    fields = {"Name": None, "Lines": {"Qty": None, "Price": None}, "Contact": {"ContactID": None}}
    pushed = {"Name": "Ada", "Lines": [{"Qty": 1, "Price": 10.5}], "Contact": {"ContactID": "c1", "Name": "Ada"},
              "Status": "AUTHORISED", "UpdatedDateUTC": "/Date(1700000000000+0000)/"}
    later = {"Name": " Ada ", "Lines": [{"Qty": 1.0, "Price": 10.50, "LineAmount": 10.5}],
             "Contact": {"ContactID": "c1", "Name": "Ada Lovelace"}, "Status": "PAID", "AmountPaid": 10.5,
             "UpdatedDateUTC": "/Date(1800000000000+0000)/"}
    assert content_digest(pushed, fields) == content_digest(later, fields)
    assert content_digest(pushed, fields) != content_digest({**later, "Lines": [{"Qty": 2, "Price": 10.5}]}, fields)
    assert content_digest(pushed, fields) != content_digest({**later, "Contact": {"ContactID": "c2"}}, fields)


async def test_a_xero_invoice_marked_sent_stays_green_and_an_edited_reference_turns_red(api):
    program = await xero_with_a_sale(api)
    invoice_id = (await panel(api, "sales", "S-1"))["external_id"]
    await echoes_processed(api, program)

    # Xero stamps UpdatedDateUTC for a change that is no difference to the books.
    await program.fake.edit(program.tenant, "Invoices", invoice_id, SentToContact=True,
                            UpdatedDateUTC=xero_time_later(5))
    await api.settle()
    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["state"], line["program_change"], line["error"]) == ("green", "synced", None, None)

    await program.fake.edit(program.tenant, "Invoices", invoice_id, Reference="Table 4",
                            UpdatedDateUTC=xero_time_later(6))
    await api.settle()
    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["program_change"]) == ("red", "updated")
    assert line["error"].startswith("Changed in Xero on ")


async def test_a_xero_contact_edited_outside_the_mapped_fields_is_not_marked(api):
    program = await xero_with_a_sale(api)
    await put(api, "customers", "C-1", {"first_name": "Ada", "last_name": "Lovelace"})
    await api.settle()
    contact_id = (await panel(api, "customers", "C-1"))["external_id"]
    await echoes_processed(api, program)

    await program.fake.edit(program.tenant, "Contacts", contact_id, Website="https://ada.example",
                            UpdatedDateUTC=xero_time_later(5))
    await api.settle()
    assert (await panel(api, "customers", "C-1"))["program_change"] is None

    await program.fake.edit(program.tenant, "Contacts", contact_id, EmailAddress="ada@example.com",
                            UpdatedDateUTC=xero_time_later(6))
    await api.settle()
    line = await panel(api, "customers", "C-1")
    # Contacts default to pos_wins: marked, not red; the next push goes over it.
    assert (line["symbol"], line["program_change"]) == ("green", "updated")


async def test_a_quickbooks_receipt_emailed_from_quickbooks_is_not_a_change(api):
    program = await quickbooks_with_a_sale(api)
    receipt_id = (await panel(api, "sales", "S-1"))["external_id"]
    await echoes_processed(api, program)

    await program.fake.bookkeeper_edits(program.realm, "SalesReceipt", receipt_id, EmailStatus="EmailSent",
                                        BillEmail={"Address": "ada@example.com"})
    await api.settle()
    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["state"], line["program_change"]) == ("green", "synced", None)
    assert program.company.objects["SalesReceipt"][receipt_id]["SyncToken"] != "0"


async def test_possyncs_own_invoice_and_payments_echoed_by_quickbooks_turn_nothing_red_and_send_nothing(api):
    program = await quickbooks_with_a_sale(api)
    await echoes_processed(api, program)  # the receipt's echo, with the first catch-up pass (CDC)
    # Two payment types: an Invoice with a Payment each; QuickBooks saves the Invoice again for each.
    await put(api, "sales", "S-2", sale("S-2", shift=None, date=TODAY, payments=[
        {"payment_type": "Cash", "amount": "4.00"}, {"payment_type": "Card", "amount": "6.00"}]))
    await api.settle()
    invoice_id = (await panel(api, "sales", "S-2"))["external_id"]
    assert program.company.objects["Invoice"][invoice_id]["SyncToken"] == "2"
    kinds = {e["type"] for e in program.fake.deliveries.echoed}
    assert {"qbo.invoice.created.v1", "qbo.invoice.updated.v1", "qbo.payment.created.v1"} <= kinds
    batches, queries, runs = program.fake.count("batch"), program.fake.count("query"), await webhook_runs(api)

    await echoes_processed(api, program)

    line = await panel(api, "sales", "S-2")
    assert (line["symbol"], line["state"], line["program_change"], line["error"]) == ("green", "synced", None, None)
    assert program.fake.count("batch") == batches  # nothing pushed again
    # The cost: one read-back, a query per entity a sale can be, however many events came.
    assert program.fake.count("query") - queries <= len(CANDIDATES["sale"])
    assert await webhook_runs(api) == runs + 1
    assert program.fake.deliveries.echoed == []  # no push, so no new echo: no loop


async def test_possyncs_own_update_echoed_by_xero_is_not_a_change_there(api):
    program = await xero_with_a_sale(api)
    await put(api, "customers", "C-1", {"first_name": "Ada", "last_name": "Lovelace"})
    await api.settle()
    await echoes_processed(api, program)
    await put(api, "customers", "C-1", {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"})
    await api.settle()
    contact_id = (await panel(api, "customers", "C-1"))["external_id"]
    # The echo arrives after Xero stamped the update well past possync's push.
    program.books.contacts[contact_id]["UpdatedDateUTC"] = xero_time_later(5)
    writes = program.fake.count("POST") + program.fake.count("PUT")

    await echoes_processed(api, program)

    line = await panel(api, "customers", "C-1")
    assert (line["symbol"], line["program_change"]) == ("green", None)
    assert program.fake.count("POST") + program.fake.count("PUT") == writes
    assert program.fake.deliveries.echoed == []
