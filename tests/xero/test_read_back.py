"""Reading back from the fake Xero: what records became, in batches, through the limiter."""

from __future__ import annotations

from dataclasses import replace

from app.connectors.xero.read_back import xero_time

from .conftest import context_for, push_item
from .test_adapter import CountingLimiter, customers


async def test_contacts_come_back_in_one_call_with_archive_merge_and_deletion(fake, tenant, connector):
    limiter = CountingLimiter()
    ctx = context_for(fake, tenant, limiter=limiter)
    items = customers(45)
    results = await connector.push(ctx, "customer", items)
    pushed = [replace(item, external_id=r.external_id) for item, r in zip(items, results)]
    books = fake.books[tenant]
    books.contacts[pushed[1].external_id]["ContactStatus"] = "ARCHIVED"
    books.contacts[pushed[2].external_id].update(ContactStatus="ARCHIVED", MergedToContactID=pushed[3].external_id)
    del books.contacts[pushed[4].external_id]
    before = limiter.slots

    found = await connector.fetch_remote(ctx, "customer", pushed)

    assert limiter.slots - before == 2  # 45 ids: 40 per call (URL length)
    assert {found[i.key].status for i in pushed[5:]} == {"active"}
    assert found[pushed[0].key].updated_at is not None
    assert found[pushed[1].key].status == "archived"
    assert (found[pushed[2].key].status, found[pushed[2].key].merged_into) == ("merged", pushed[3].external_id)
    assert found[pushed[4].key].status == "deleted"


async def test_credit_notes_are_read_by_id_and_a_voided_one_says_so(fake, tenant, ctx, connector):
    books = fake.books[tenant]
    contact = books._contact({"Name": "Walk-in"})
    answer, _ = books.save("CreditNotes", [{"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact["ContactID"]},
                                            "Status": "AUTHORISED", "LineItems": [{"Description": "Refund", "Quantity": 1, "UnitAmount": 5,
                                                                          "AccountCode": "200", "TaxType": "OUTPUT2"}]}],
                               all_or_nothing=True)
    note_id = answer[0]["CreditNoteID"]
    books.credit_notes[note_id]["Status"] = "VOIDED"
    item = push_item("sale", {"id": "S-9", "status": "refund"}, key=9, external_id=note_id)
    other = push_item("sale", {"id": "S-8", "status": "refund"}, key=8, external_id="00000000-0000-4000-8000-000000000000")

    found = await connector.fetch_remote(ctx, "sale", [item, other])

    assert found[9].status == "voided" and found[8].status == "deleted"
    (read,) = [c for c in fake.calls if c.method == "GET" and c.path.endswith("/CreditNotes")]
    assert read.status == 200


def test_xero_times_read_both_ways():
    assert xero_time("/Date(1573755038314+0000)/").isoformat() == "2019-11-14T18:10:38.314000+00:00"
    assert xero_time("2026-11-27T10:00:00").isoformat() == "2026-11-27T10:00:00+00:00"
    assert xero_time(None) is None and xero_time("not a time") is None
