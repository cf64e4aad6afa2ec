"""Reading back from the fake QuickBooks: one query per entity, inactive names included."""

from __future__ import annotations

from dataclasses import replace

from .conftest import push_item


async def test_customers_and_receipts_come_back_with_their_state(fake, realm, ctx, connector):
    people = [push_item("customer", {"id": f"C-{i}", "company_name": f"Customer {i}"}, key=i) for i in range(3)]
    results = await connector.push(ctx, "customer", people)
    people = [replace(item, external_id=r.external_id) for item, r in zip(people, results)]
    company = fake.companies[realm]
    company.objects["Customer"][people[1].external_id]["Active"] = False
    fake.edit_in_quickbooks(realm, "Customer", people[2].external_id)
    queries = fake.count("query")

    found = await connector.fetch_remote(ctx, "customer", people)

    assert fake.count("query") - queries == 1
    assert [found[p.key].status for p in people] == ["active", "archived", "active"]
    assert found[people[0].key].remote_version == results[0].remote_version
    assert found[people[2].key].remote_version != results[2].remote_version  # changed in QuickBooks


async def test_a_deleted_transaction_is_missing_and_says_deleted(fake, realm, ctx, connector):
    gone = push_item("sale", {"id": "S-1"}, key=1, external_id="999")

    found = await connector.fetch_remote(ctx, "sale", [gone])

    assert found[1].status == "deleted"
    # A sale may be a SalesReceipt, an Invoice or a RefundReceipt: each is asked once.
    assert fake.count("query") == 3
