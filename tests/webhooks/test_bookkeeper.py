"""End to end: the bookkeeper changes something in the fake Xero or the fake QuickBooks, the fake
delivers its signed webhook to possync, one worker pass reads the object back, and the panel says
what happened; the next push follows `when_changed_in_program`."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.models import Attempt
from tests.books.conftest import PRODUCT, sale
from tests.books.programs import QuickBooks, Xero
from tests.webhooks.conftest import INTUIT_TOKEN, XERO_KEYS

TODAY = "2026-11-20T10:00:00Z"


async def panel(api, collection: str, pos_id: str) -> dict:
    body = (await api.get(f"/v1/{collection}/{pos_id}/sync")).json()
    (line,) = body["connections"]
    return {**line, "symbol": body["symbol"]}


async def put(api, collection: str, pos_id: str, body: dict) -> None:
    response = await api.put(f"/v1/{collection}/{pos_id}", body)
    assert response.status_code in (200, 201), response.text


async def sync_now(api, collection: str, pos_id: str) -> None:
    assert (await api.post(f"/v1/{collection}/{pos_id}/sync")).status_code == 202
    await api.settle()


async def last_attempt(api, link_pos_id: str) -> Attempt:
    async with api.deps.sessions() as session:
        return (await session.scalars(select(Attempt).where(Attempt.pos_id == link_pos_id)
                                      .order_by(Attempt.id.desc()).limit(1))).one()


async def with_a_sale(api, program_class, url: str, secret: str, **sale_fields):
    """A program connected, pointed at possync's webhook URL, holding one synced sale S-1."""
    program = program_class(api)
    await program.connect()
    program.fake.deliveries.point_at(url, secret, api.client)
    await put(api, "products", "P-1", PRODUCT)
    await put(api, "sales", "S-1", sale("S-1", shift=None, date=TODAY, **sale_fields))
    await api.settle()
    assert (await panel(api, "sales", "S-1"))["symbol"] == "green"
    return program


async def xero_with_a_sale(api, **sale_fields) -> Xero:
    return await with_a_sale(api, Xero, "/v1/webhooks/xero", XERO_KEYS[0], **sale_fields)


async def test_an_invoice_voided_in_xero_turns_red_then_sync_now_sends_it_again(api):
    program = await xero_with_a_sale(api)
    invoice_id = (await panel(api, "sales", "S-1"))["external_id"]

    await program.fake.void_invoice(program.tenant, invoice_id)
    # The echo of possync's own create and payment goes first, then the bookkeeper's void.
    assert program.fake.deliveries.answers == [200, 200]
    await api.settle()  # one processing pass

    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["state"], line["program_change"]) == ("red", "failed", "voided")
    assert line["error"].startswith("Voided in Xero on ")
    assert "void the sale in the POS" in line["advice"] and "SYNC NOW" in line["advice"]

    # A change in the POS is not pushed over the voided invoice: documents default to `ask`.
    await put(api, "sales", "S-1", sale("S-1", shift=None, date=TODAY, note="corrected"))
    await api.settle()
    line = await panel(api, "sales", "S-1")
    assert (line["state"], line["external_id"]) == ("failed", invoice_id)
    assert len(program.books.invoices) == 1

    # SYNC NOW is the shop's answer: the sale is created again, under a number of its own.
    await sync_now(api, "sales", "S-1")
    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["program_change"]) == ("green", None)
    assert line["external_id"] != invoice_id
    again = program.books.invoices[line["external_id"]]
    assert again["Status"] == "PAID" and again["InvoiceNumber"] == program.books.invoices[invoice_id]["InvoiceNumber"] + f"-R{invoice_id[:6]}"
    assert program.books.invoices[invoice_id]["Status"] == "VOIDED"
    assert "Sent again" in (await last_attempt(api, "S-1")).advice


async def test_a_customer_merged_in_xero_is_relinked_and_its_next_change_goes_to_the_survivor(api):
    program = Xero(api)
    await program.connect()
    program.fake.deliveries.point_at("/v1/webhooks/xero", XERO_KEYS[1], api.client)
    await put(api, "customers", "C-1", {"first_name": "Ada", "last_name": "Lovelace"})
    await api.settle()
    merged_id = (await panel(api, "customers", "C-1"))["external_id"]
    survivor = program.books._contact({"Name": "Ada Lovelace (Byron)"})["ContactID"]  # made by the bookkeeper

    await program.fake.merge_contacts(program.tenant, merged_id, survivor)
    await api.settle()

    line = await panel(api, "customers", "C-1")
    assert (line["symbol"], line["external_id"], line["program_change"]) == ("green", survivor, "merged")
    assert survivor in line["advice"]
    # Contacts default to pos_wins: the next change goes to the contact that absorbed the merged one.
    await put(api, "customers", "C-1", {"first_name": "Ada", "last_name": "King", "email": "ada@example.com"})
    await api.settle()
    line = await panel(api, "customers", "C-1")
    assert (line["symbol"], line["external_id"]) == ("green", survivor)
    assert program.books.contacts[survivor]["EmailAddress"] == "ada@example.com"
    assert program.books.contacts[merged_id]["ContactStatus"] == "ARCHIVED"


async def test_two_merged_customers_of_the_pos_turn_red_instead_of_a_silent_choice(api):
    program = Xero(api)
    await program.connect()
    program.fake.deliveries.point_at("/v1/webhooks/xero", XERO_KEYS[0], api.client)
    await put(api, "customers", "C-1", {"first_name": "Ada", "last_name": "Lovelace"})
    await put(api, "customers", "C-2", {"first_name": "Ada", "last_name": "Byron"})
    await api.settle()
    one, two = (await panel(api, "customers", "C-1"))["external_id"], (await panel(api, "customers", "C-2"))["external_id"]

    await program.fake.merge_contacts(program.tenant, one, two)
    await api.settle()

    line = await panel(api, "customers", "C-1")
    assert (line["state"], line["external_id"], line["program_change"]) == ("failed", one, "merged")
    assert "Merge them in the POS" in line["advice"]
    assert (await panel(api, "customers", "C-2"))["symbol"] == "green"


async def test_a_payment_taken_in_xero_is_shown_not_an_error(api):
    program = await xero_with_a_sale(api, payments=[])  # sold on account
    invoice_id = (await panel(api, "sales", "S-1"))["external_id"]

    await program.fake.receive_payment(program.tenant, invoice_id, Decimal("10.00"))
    await api.settle()

    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["state"], line["program_change"]) == ("green", "synced", "paid")
    assert line["advice"].startswith("A payment of 10.00 was added in Xero on ")


async def test_our_own_pushes_echoed_back_change_nothing(api):
    program = await xero_with_a_sale(api)
    invoice_id = (await panel(api, "sales", "S-1"))["external_id"]
    # Xero also reports the changes possync made itself.
    from tests.fakes.deliveries import xero_delivery

    await program.fake.deliveries.send(xero_delivery(program.tenant, "INVOICE", invoice_id, "CREATE"))
    await api.settle()
    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["program_change"], line["error"]) == ("green", None, None)


async def quickbooks_with_a_sale(api) -> QuickBooks:
    return await with_a_sale(api, QuickBooks, "/v1/webhooks/quickbooks", INTUIT_TOKEN)


async def test_a_sales_receipt_deleted_in_quickbooks_turns_red_and_pos_wins_creates_it_again(api):
    program = await quickbooks_with_a_sale(api)
    receipt_id = (await panel(api, "sales", "S-1"))["external_id"]

    await program.fake.bookkeeper_deletes(program.realm, "SalesReceipt", receipt_id)
    await api.settle()

    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["program_change"]) == ("red", "deleted")
    assert line["error"].startswith("Deleted in QuickBooks Online on ")

    settings = await program.settings({"when_changed_in_program": {"documents": "pos_wins"}})
    assert settings.status_code == 200, settings.text
    await put(api, "sales", "S-1", sale("S-1", shift=None, date=TODAY, note="corrected"))
    await api.settle()
    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["program_change"]) == ("green", None)
    assert line["external_id"] != receipt_id
    assert len(program.company.all("SalesReceipt")) == 1


async def test_a_sales_receipt_edited_in_quickbooks_follows_ask_then_program_wins(api):
    program = await quickbooks_with_a_sale(api)
    receipt_id = (await panel(api, "sales", "S-1"))["external_id"]

    await program.fake.bookkeeper_edits(program.realm, "SalesReceipt", receipt_id, CustomerMemo={"value": "hello"})
    await api.settle()
    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["program_change"]) == ("red", "updated")
    assert line["error"].startswith("Changed in QuickBooks Online on ")
    assert "SYNC NOW" in line["advice"]

    await program.settings({"when_changed_in_program": {"documents": "program_wins"}})
    await put(api, "sales", "S-1", sale("S-1", shift=None, date=TODAY, note="corrected"))
    await api.settle()
    line = await panel(api, "sales", "S-1")
    assert line["state"] == "skipped" and "program_wins" in line["advice"]
    assert program.company.objects["SalesReceipt"][receipt_id]["CustomerMemo"] == {"value": "hello"}

    # SYNC NOW sends the POS version over it, and the attempt says what it replaced.
    await sync_now(api, "sales", "S-1")
    line = await panel(api, "sales", "S-1")
    assert (line["symbol"], line["external_id"], line["program_change"]) == ("green", receipt_id, None)
    assert "Replaced the changes made in QuickBooks Online" in (await last_attempt(api, "S-1")).advice
