"""The fake Xero itself: its limits, idempotency and injected failures behave as documented."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fakes.fake_xero import FakeXero

CONTACTS = "/api.xro/2.0/Contacts"


def headers(fake: FakeXero, tenant: str, key: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {fake.issue_tokens()['access_token']}", "xero-tenant-id": tenant}
    if key:
        h["Idempotency-Key"] = key
    return h


def contacts(*names: str) -> dict:
    return {"Contacts": [{"Name": n, "ContactNumber": f"N-{n}"} for n in names]}


async def post(client, fake, tenant, body, *, key=None, summarize=False):
    params = {"summarizeErrors": "false"} if not summarize else {}
    return await client.post(CONTACTS, json=body, params=params, headers=headers(fake, tenant, key))


async def test_minute_limit_gives_429_with_retry_after_and_headers():
    fake = FakeXero(per_minute=3, window_s=0.5)
    tenant = fake.add_tenant()
    async with fake.client() as client:
        answers = [await post(client, fake, tenant, contacts(f"A{i}")) for i in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["X-MinLimit-Remaining"] == "2"
        assert answers[2].headers["X-MinLimit-Remaining"] == "0"
        assert answers[0].headers["X-DayLimit-Remaining"] == "4999"
        assert answers[3].headers["X-Rate-Limit-Problem"] == "minute"
        assert int(answers[3].headers["Retry-After"]) >= 1
        await asyncio.sleep(0.6)  # the window moves on
        assert (await post(client, fake, tenant, contacts("late"))).status_code == 200
    assert len(fake.books[tenant].contacts) == 4


async def test_limits_are_per_tenant():
    fake = FakeXero(per_minute=1)
    a, b = fake.add_tenant("A"), fake.add_tenant("B")
    async with fake.client() as client:
        assert (await post(client, fake, a, contacts("x"))).status_code == 200
        assert (await post(client, fake, b, contacts("x"))).status_code == 200
        assert (await post(client, fake, a, contacts("y"))).status_code == 429


async def test_concurrent_limit():
    fake = FakeXero(concurrent=2)
    tenant = fake.add_tenant()
    fake.delay_next(2, seconds=0.3)
    async with fake.client() as client:
        slow = [asyncio.create_task(post(client, fake, tenant, contacts(f"S{i}"))) for i in range(2)]
        await asyncio.sleep(0.1)
        assert fake.in_flight(tenant) == 2
        third = await post(client, fake, tenant, contacts("third"))
        assert third.status_code == 429 and third.headers["X-Rate-Limit-Problem"] == "concurrent"
        assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
    assert fake.in_flight(tenant) == 0


async def test_day_limit():
    fake = FakeXero(per_day=2, day_retry_after_s=120)
    tenant = fake.add_tenant()
    async with fake.client() as client:
        await post(client, fake, tenant, contacts("a"))
        last = await post(client, fake, tenant, contacts("b"))
        assert last.headers["X-DayLimit-Remaining"] == "0"
        over = await post(client, fake, tenant, contacts("c"))
    assert over.status_code == 429
    assert over.headers["X-Rate-Limit-Problem"] == "day" and over.headers["Retry-After"] == "120"


async def test_same_idempotency_key_replays_the_first_answer():
    fake = FakeXero(idempotency_ttl_s=0.3)
    tenant = fake.add_tenant()
    async with fake.client() as client:
        first = await post(client, fake, tenant, contacts("Ana"), key="k-1")
        again = await post(client, fake, tenant, contacts("Ana"), key="k-1")
        assert again.json() == first.json()
        assert fake.calls[-1].replayed
        assert len(fake.books[tenant].contacts) == 1
        other_key = await post(client, fake, tenant, contacts("Ana"), key="k-2")
        assert other_key.json()["Contacts"][0]["ContactID"] == first.json()["Contacts"][0]["ContactID"]  # by number
        await asyncio.sleep(0.35)
        await post(client, fake, tenant, contacts("Bob"), key="k-1")  # key forgotten: new work
        assert not fake.calls[-1].replayed
    assert len(fake.books[tenant].contacts) == 2


async def test_idempotency_key_is_per_tenant():
    fake = FakeXero()
    a, b = fake.add_tenant("A"), fake.add_tenant("B")
    async with fake.client() as client:
        await post(client, fake, a, contacts("Ana"), key="same")
        await post(client, fake, b, contacts("Ana"), key="same")
    assert len(fake.books[a].contacts) == len(fake.books[b].contacts) == 1


async def test_injected_5xx_does_nothing_and_can_say_retry_after():
    fake = FakeXero()
    tenant = fake.add_tenant()
    fake.fail_next(2, status=503, retry_after_s=7)
    async with fake.client() as client:
        first = await post(client, fake, tenant, contacts("a"), key="k")
        second = await post(client, fake, tenant, contacts("a"), key="k")
        third = await post(client, fake, tenant, contacts("a"), key="k")
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.headers["Retry-After"] == "7"
    assert len(fake.books[tenant].contacts) == 1
    assert not fake.calls[-1].replayed  # a 5xx is not remembered for the key


async def test_injected_delay_times_the_client_out_and_stores_nothing():
    fake = FakeXero()
    tenant = fake.add_tenant()
    fake.delay_next(1, seconds=2)
    async with fake.client(timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await post(client, fake, tenant, contacts("slow"))
        await asyncio.sleep(0.05)
        assert fake.books[tenant].contacts == {}
        assert fake.in_flight(tenant) == 0
        assert (await post(client, fake, tenant, contacts("next"))).status_code == 200


async def test_killed_request_stores_the_object_but_loses_the_answer():
    fake = FakeXero()
    tenant = fake.add_tenant()
    fake.kill_next(1)
    async with fake.client() as client:
        with pytest.raises(httpx.TransportError):
            await post(client, fake, tenant, contacts("Ana"), key="k")
        assert len(fake.books[tenant].contacts) == 1
        replay = await post(client, fake, tenant, contacts("Ana"), key="k")
    assert replay.status_code == 200 and fake.calls[-1].replayed
    assert len(fake.books[tenant].contacts) == 1


async def test_validation_errors_per_element_or_summarized():
    fake = FakeXero()
    tenant = fake.add_tenant()
    async with fake.client() as client:
        await post(client, fake, tenant, contacts("Ana"))
        mixed = {"Contacts": [{"Name": "Ana", "ContactNumber": "other"}, {"Name": "Bob", "ContactNumber": "N-Bob"}]}
        answer = await post(client, fake, tenant, mixed)
        assert answer.status_code == 200
        first, second = answer.json()["Contacts"]
        assert "already assigned to another contact" in first["ValidationErrors"][0]["Message"]
        assert second["StatusAttributeString"] == "OK"
        summarized = {"Contacts": [{"Name": "Ana", "ContactNumber": "x"}, {"Name": "Cy", "ContactNumber": "N-Cy"}]}
        refused = await post(client, fake, tenant, summarized, summarize=True)
        assert refused.status_code == 400 and refused.json()["Type"] == "ValidationException"
    assert {c["Name"] for c in fake.books[tenant].contacts.values()} == {"Ana", "Bob"}  # Cy not kept


async def test_item_rules():
    fake = FakeXero()
    tenant = fake.add_tenant(demo_chart=True)
    async with fake.client() as client:
        answer = await client.post(
            "/api.xro/2.0/Items",
            params={"summarizeErrors": "false"},
            headers=headers(fake, tenant),
            json={"Items": [
                {"Code": "C" * 31, "Name": "long"},
                {"Code": "OK", "Name": "bad account", "SalesDetails": {"AccountCode": "999"}},
                {"Code": "TAX", "Name": "bad tax", "SalesDetails": {"TaxType": "NOPE"}},
                {"Code": "GOOD", "Name": "good", "SalesDetails": {"AccountCode": "200", "TaxType": "OUTPUT2"}},
            ]},
        )
    messages = [e.get("ValidationErrors", [{}])[0].get("Message", "") for e in answer.json()["Items"]]
    assert "30 characters" in messages[0]
    assert "'999' is not a valid code" in messages[1]
    assert "TaxType code 'NOPE'" in messages[2]
    assert messages[3] == ""
    assert [i["Code"] for i in fake.books[tenant].items.values()] == ["GOOD"]


async def test_auth_and_tenant_checks():
    fake = FakeXero(check_tokens=True)
    tenant = fake.add_tenant()
    async with fake.client() as client:
        no_token = await client.post(CONTACTS, json=contacts("a"), headers={"xero-tenant-id": tenant})
        bad_token = await client.post(CONTACTS, json=contacts("a"), headers={"Authorization": "Bearer x", "xero-tenant-id": tenant})
        bad_tenant = await client.post(CONTACTS, json=contacts("a"), headers=headers(fake, "nope"))
    assert (no_token.status_code, bad_token.status_code, bad_tenant.status_code) == (401, 401, 403)


async def test_token_endpoint_rotates_refresh_tokens_and_counts():
    fake = FakeXero(client_id="id", client_secret="secret")
    async with fake.client() as client:
        first = (await client.post("/connect/token", auth=("id", "secret"),
                                   data={"grant_type": "authorization_code", "code": "c", "redirect_uri": "x"})).json()
        second = (await client.post("/connect/token", auth=("id", "secret"),
                                    data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})).json()
        reused = await client.post("/connect/token", auth=("id", "secret"),
                                   data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        wrong_client = await client.post("/connect/token", auth=("id", "nope"), data={"grant_type": "refresh_token"})
    assert second["refresh_token"] != first["refresh_token"]
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert wrong_client.status_code == 401
    assert fake.refresh_count == 1


async def test_connections_lists_tenants():
    fake = FakeXero()
    tenant = fake.add_tenant("Shop Ltd")
    async with fake.client() as client:
        answer = await client.get("/connections", headers={"Authorization": "Bearer t"})
    assert [(c["tenantId"], c["tenantName"], c["tenantType"]) for c in answer.json()] == [(tenant, "Shop Ltd", "ORGANISATION")]


def test_served_over_tcp_with_uvicorn():
    fake = FakeXero()
    tenant = fake.add_tenant()
    with fake.serve() as base_url:
        with httpx.Client(base_url=base_url, timeout=5) as client:
            ok = client.post(CONTACTS, json=contacts("Ana"), params={"summarizeErrors": "false"}, headers=headers(fake, tenant))
            assert ok.status_code == 200 and ok.headers["X-MinLimit-Remaining"] == "59"
            fake.kill_next(1)
            with pytest.raises(httpx.TransportError):
                client.post(CONTACTS, json=contacts("Bob"), headers=headers(fake, tenant))
    assert {c["Name"] for c in fake.books[tenant].contacts.values()} == {"Ana", "Bob"}
