"""The fake QuickBooks keeps the rules the end-to-end tests rely on (else they would prove nothing)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fakes.fake_quickbooks import FakeQuickBooks


@pytest.fixture
def fake():
    return FakeQuickBooks(per_minute=5, concurrent=2, batches_per_minute=3)


@pytest.fixture
def realm(fake):
    return fake.add_realm(us=True)


@pytest.fixture
async def client(fake):
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://fake",
                                 headers={"Authorization": "Bearer t"}) as client:
        yield client


async def batch(client, realm, *ops, rid=None):
    params = {"minorversion": "75", **({"requestid": rid} if rid else {})}
    body = {"BatchItemRequest": [{"bId": str(i), **op} for i, op in enumerate(ops)]}
    return await client.post(f"/v3/company/{realm}/batch", params=params, json=body)


def create(entity, **body):
    return {"operation": "create", entity: body}


def fault_code(response, i=0):
    return response.json()["BatchItemResponse"][i]["Fault"]["Error"][0]["code"]


async def test_display_names_are_unique_across_customers_vendors_and_employees(client, realm, fake):
    fake.add_employee(realm, "Ana Lopez")
    answer = await batch(client, realm, create("Customer", DisplayName="ana lopez"), create("Vendor", DisplayName="Bo"),
                         create("Customer", DisplayName="Bo"))
    assert fault_code(answer, 0) == "6240" and "Vendor" in answer.json()["BatchItemResponse"][1]
    assert fault_code(answer, 2) == "6240"


async def test_item_names_doc_numbers_and_references_are_checked(client, realm):
    answer = await batch(client, realm, create("Item", Name="Mug", Type="Service", IncomeAccountRef={"value": "1"}),
                         create("Item", Name="Mug", Type="Service", IncomeAccountRef={"value": "1"}),
                         create("SalesReceipt", DocNumber="x" * 22, Line=[]),
                         create("SalesReceipt", DocNumber="7", CustomerRef={"value": "999"}, Line=[]))
    codes = [fault_code(answer, i) if "Fault" in e else None for i, e in enumerate(answer.json()["BatchItemResponse"])]
    assert codes == [None, "6240", "6000", "2500"]


async def test_sync_tokens_move_on_and_a_stale_one_is_refused(client, realm):
    created = (await batch(client, realm, create("Customer", DisplayName="Ana"))).json()["BatchItemResponse"][0]
    obj = created["Customer"]
    update = {"operation": "update", "Customer": {"Id": obj["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"}}
    first = (await batch(client, realm, update)).json()["BatchItemResponse"][0]
    assert first["Customer"]["SyncToken"] == "1" and first["Customer"]["DisplayName"] == "Ana"
    assert fault_code(await batch(client, realm, update)) == "5010"


async def test_a_requestid_answers_its_first_answer_and_refuses_another_body(client, realm, fake):
    one = await batch(client, realm, create("Customer", DisplayName="Ana"), rid="r-1")
    again = await batch(client, realm, create("Customer", DisplayName="Ana"), rid="r-1")
    assert again.json()["BatchItemResponse"] == one.json()["BatchItemResponse"] and fake.calls[-1].replayed
    other = await batch(client, realm, create("Customer", DisplayName="Bo"), rid="r-1")
    assert other.status_code == 400 and len(fake.companies[realm].all("Customer")) == 1


async def test_the_batch_minute_limit_answers_429_with_the_xml_throttle_body(client, realm):
    answers = [await batch(client, realm, create("Customer", DisplayName=f"N{i}")) for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].text.startswith("<?xml") and "ThrottleExceeded" in answers[3].text


async def test_the_request_minute_limit_counts_every_call(client, realm):
    statuses = [(await client.get(f"/v3/company/{realm}/preferences")).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_more_than_the_in_flight_limit_is_refused(client, realm, fake):
    fake.delay_next(2, seconds=0.3)
    answers = await asyncio.gather(*(batch(client, realm, create("Customer", DisplayName=f"P{i}")) for i in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 200, 429]


async def test_a_fault_can_come_with_http_200(client, realm, fake):
    fake.fault_next(1)
    answer = await batch(client, realm, create("Customer", DisplayName="Ana"))
    assert answer.status_code == 200 and answer.json()["Fault"]["Error"][0]["code"] == "6000"
    assert not fake.companies[realm].all("Customer")


async def test_refresh_tokens_rotate_and_a_spent_one_is_refused(fake, client):
    tokens = fake.issue_tokens()
    url = "/oauth2/v1/tokens/bearer"
    fresh = await client.post(url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert fresh.status_code == 200 and fresh.json()["refresh_token"] != tokens["refresh_token"]
    spent = await client.post(url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert spent.json() == {"error": "invalid_grant"} and fake.refresh_count == 1


async def test_a_line_item_must_be_one_of_the_companys_own_active_items(client, fake):
    """As QuickBooks does: an ItemRef the company does not have is an Invalid Reference (2500), an
    inactive one is Object Not Found (610). The sandbox's Item 1 is not in every company."""
    au = fake.add_realm("Shop (AU)", country="AU")

    def receipt(item_id):
        return create("SalesReceipt", Line=[{"DetailType": "SalesItemLineDetail", "Amount": 5.0,
                                             "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1,
                                                                     "UnitPrice": 5.0}}])

    answer = await batch(client, au, receipt("1"), receipt("13"), receipt("14"))
    codes = [fault_code(answer, i) if "Fault" in e else None for i, e in enumerate(answer.json()["BatchItemResponse"])]
    assert codes == ["2500", None, "610"]
    error = answer.json()["BatchItemResponse"][0]["Fault"]["Error"][0]
    assert error["Message"] == "Invalid Reference Id" and "Item element id 1 not found" in error["Detail"]
    us = fake.add_realm(us=True)
    assert "Fault" not in (await batch(client, us, receipt("1"))).json()["BatchItemResponse"][0]
