"""The fakes' sporadic faults (tests/fakes/chaos.py): each kind behaves as a real program's call
going wrong, a time-out or a reset may have done the work, and the draws are seeded."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.chaos import KINDS, Chaos
from tests.fakes.fake_quickbooks import FakeQuickBooks
from tests.fakes.fake_xero import FakeXero

CONTACTS = "/api.xro/2.0/Contacts"


def test_draws_are_seeded_and_near_the_rate():
    first, second = Chaos(rate=0.2, seed=5), Chaos(rate=0.2, seed=5)
    a = [first.draw() for _ in range(2000)]
    b = [second.draw() for _ in range(2000)]
    assert a == b
    share = sum(f is not None for f in a) / len(a)
    assert 0.17 < share < 0.23, share
    assert {f.kind for f in a if f} == set(KINDS)
    assert all(f.work_done for f in a if f and f.kind == "malformed")
    assert not any(f.work_done for f in a if f and f.kind in ("500", "502", "429"))
    assert Chaos(rate=0.2, seed=6).counts == {} and [Chaos(rate=0.2, seed=6).draw() for _ in range(50)] != a[:50]


def test_unknown_kinds_and_rates_are_refused():
    with pytest.raises(ValueError):
        Chaos(rate=0.2, kinds=("teapot",))
    with pytest.raises(ValueError):
        Chaos(rate=1.5)


async def _xero_posts(kind: str, n: int) -> tuple[FakeXero, str, list]:
    fake = FakeXero(chaos=Chaos(rate=1.0, seed=3, kinds=(kind,), hang_s=0.3), per_minute=1000, concurrent=50)
    tenant = fake.add_tenant()
    token = fake.issue_tokens()["access_token"]
    outcomes = []
    async with fake.client(timeout=httpx.Timeout(0.1)) as client:
        for i in range(n):
            try:
                outcomes.append(await client.post(
                    CONTACTS, json={"Contacts": [{"Name": f"C{i}", "ContactNumber": f"N{i}"}]},
                    headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant,
                             "Idempotency-Key": f"key-{i}"}))
            except httpx.HTTPError as exc:
                outcomes.append(exc)
    return fake, tenant, outcomes


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("502", 502), ("429", 429)])
async def test_xero_refusals_do_no_work(kind, status):
    fake, tenant, outcomes = await _xero_posts(kind, 5)
    assert [o.status_code for o in outcomes] == [status] * 5
    assert fake.books[tenant].contacts == {}
    assert all(c.fault == kind for c in fake.calls)
    if kind == "429":
        assert all(o.headers["Retry-After"] == "1" for o in outcomes)


@pytest.mark.parametrize(("kind", "error"), [("timeout", httpx.ReadTimeout), ("reset", httpx.RemoteProtocolError)])
async def test_xero_lost_answers_sometimes_did_the_work(kind, error):
    fake, tenant, outcomes = await _xero_posts(kind, 30)
    assert all(isinstance(o, error) for o in outcomes), outcomes
    done = fake.chaos.counts[f"{kind} (work done)"]
    assert 0 < done < 30  # some did the work, some did not
    assert len(fake.books[tenant].contacts) == done


async def test_xero_malformed_answers_come_after_the_work():
    fake, tenant, outcomes = await _xero_posts("malformed", 4)
    assert [o.status_code for o in outcomes] == [200] * 4
    for answer in outcomes:
        with pytest.raises(ValueError):
            answer.json()
    assert len(fake.books[tenant].contacts) == 4


async def test_xero_lost_answer_is_replayed_for_its_key():
    fake = FakeXero(chaos=Chaos(rate=1.0, seed=1, kinds=("malformed",)))
    tenant = fake.add_tenant()
    headers = {"Authorization": f"Bearer {fake.issue_tokens()['access_token']}", "xero-tenant-id": tenant,
               "Idempotency-Key": "k1"}
    body = {"Contacts": [{"Name": "Ana", "ContactNumber": "N1"}]}
    async with fake.client() as client:
        await client.post(CONTACTS, json=body, headers=headers)
        fake.chaos = None
        again = await client.post(CONTACTS, json=body, headers=headers)
    assert again.status_code == 200 and again.json()["Contacts"][0]["ContactNumber"] == "N1"
    assert fake.calls[-1].replayed and len(fake.books[tenant].contacts) == 1


async def _quickbooks_batches(kind: str, n: int) -> tuple[FakeQuickBooks, str, list]:
    fake = FakeQuickBooks(chaos=Chaos(rate=1.0, seed=4, kinds=(kind,), hang_s=0.3), per_minute=1000,
                          batches_per_minute=1000, concurrent=50)
    realm = fake.add_realm(us=True)
    outcomes = []
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://fake", timeout=httpx.Timeout(0.1),
                                 headers={"Authorization": "Bearer t"}) as client:
        for i in range(n):
            body = {"BatchItemRequest": [{"bId": "0", "operation": "create", "Customer": {"DisplayName": f"C{i}"}}]}
            try:
                outcomes.append(await client.post(f"/v3/company/{realm}/batch", json=body,
                                                  params={"requestid": f"r{i}", "minorversion": "75"}))
            except httpx.HTTPError as exc:
                outcomes.append(exc)
    return fake, realm, outcomes


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("502", 502), ("429", 429)])
async def test_quickbooks_refusals_do_no_work(kind, status):
    fake, realm, outcomes = await _quickbooks_batches(kind, 5)
    assert [o.status_code for o in outcomes] == [status] * 5
    assert fake.companies[realm].objects["Customer"] == {}
    if kind == "429":
        assert all(o.headers["Retry-After"] == "1" and "ThrottleExceeded" in o.text for o in outcomes)


@pytest.mark.parametrize(("kind", "error"), [("timeout", httpx.ReadTimeout), ("reset", httpx.RemoteProtocolError)])
async def test_quickbooks_lost_answers_sometimes_did_the_work(kind, error):
    fake, realm, outcomes = await _quickbooks_batches(kind, 30)
    assert all(isinstance(o, error) for o in outcomes), outcomes
    done = fake.chaos.counts[f"{kind} (work done)"]
    assert 0 < done < 30
    assert len(fake.companies[realm].objects["Customer"]) == done


async def test_quickbooks_malformed_answers_come_after_the_work():
    fake, realm, outcomes = await _quickbooks_batches("malformed", 3)
    assert [o.status_code for o in outcomes] == [200] * 3
    with pytest.raises(ValueError):
        outcomes[0].json()
    assert len(fake.companies[realm].objects["Customer"]) == 3
