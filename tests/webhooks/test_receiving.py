"""Receiving: signatures, intent to receive, malformed and huge bodies, replays, tenants."""

from __future__ import annotations

from tests.webhooks.conftest import (
    INTUIT_TOKEN, WEBHOOK_LIMIT, XERO_KEYS, add_connection, cloud_event, encode, event_count, events,
    legacy_delivery, post_intuit, post_xero, sign, xero_delivery, xero_event,
)


async def test_intent_to_receive_is_200_with_an_empty_body_when_signed_and_401_when_not(client, deps):
    body = encode(xero_delivery())
    good = await post_xero(client, body, sign(XERO_KEYS[0], body))
    assert good.status_code == 200 and good.content == b""
    bad = await post_xero(client, body, sign("not-the-key", body))
    assert bad.status_code == 401
    assert await event_count(deps) == 0


async def test_a_signed_xero_delivery_is_stored_before_the_200(client, deps):
    connection_id = await add_connection(deps, "xero", "tenant-a")
    body = encode(xero_delivery(xero_event("tenant-a", "inv-1"), xero_event("tenant-a", "c-1", "CONTACT", "CREATE")))
    response = await post_xero(client, body, sign(XERO_KEYS[1], body))  # the second key is valid too
    assert response.status_code == 200 and response.content == b""
    stored = await events(deps)
    assert [(e.object_kind, e.object_id, e.operation, e.connection_id) for e in stored] == [
        ("CONTACT", "c-1", "CREATE", connection_id), ("INVOICE", "inv-1", "UPDATE", connection_id)]


async def test_missing_forged_or_tampered_signatures_are_401_and_store_nothing(client, deps):
    await add_connection(deps, "xero", "tenant-a")
    body = encode(xero_delivery(xero_event("tenant-a", "inv-1")))
    tampered = body.replace(b"inv-1", b"inv-2")
    for given, sent in ((None, body), ("", body), (sign("forged", body), body), (sign(XERO_KEYS[0], body), tampered),
                        ("not base64 at all", body)):
        response = await post_xero(client, sent, given)
        assert response.status_code == 401, given
        assert response.headers["content-type"] == "application/problem+json"
    # A QuickBooks token does not sign Xero deliveries, nor a Xero key QuickBooks ones.
    assert (await post_xero(client, body, sign(INTUIT_TOKEN, body))).status_code == 401
    assert (await post_intuit(client, body, sign(XERO_KEYS[0], body))).status_code == 401
    assert await event_count(deps) == 0


async def test_a_replayed_delivery_is_200_and_kept_once(client, deps):
    await add_connection(deps, "xero", "tenant-a")
    body = encode(xero_delivery(xero_event("tenant-a", "inv-1")))
    for _ in range(3):
        assert (await post_xero(client, body, sign(XERO_KEYS[0], body))).status_code == 200
    # The same event in a new delivery (other sequence numbers, other entropy) is the same event.
    again = encode({**xero_delivery(xero_event("tenant-a", "inv-1")), "entropy": "ZXCVBN", "firstEventSequence": 9})
    assert (await post_xero(client, again, sign(XERO_KEYS[0], again))).status_code == 200
    assert await event_count(deps) == 1
    # A later change of the same object is a new event.
    later = encode(xero_delivery(xero_event("tenant-a", "inv-1", when="2026-11-27T11:00:00.000")))
    assert (await post_xero(client, later, sign(XERO_KEYS[0], later))).status_code == 200
    assert await event_count(deps) == 2


async def test_malformed_json_with_a_valid_signature_is_400(client, deps):
    for body in (b"{not json", b"[]", b'{"events": "many"}', encode({"events": [{"tenantId": "t"}]}),
                 b"\xff\xfe", encode(xero_delivery({**xero_event("t", "x"), "resourceId": 5})),
                 encode(xero_delivery(xero_event("t", "x", when="2026-11-27T10:00:00" + "0" * 40)))):
        response = await post_xero(client, body, sign(XERO_KEYS[0], body))
        assert response.status_code == 400, body
        assert response.json()["status"] == 400 and response.json()["detail"]
    assert await event_count(deps) == 0


async def test_a_body_over_the_webhook_limit_is_413_and_not_stored(client, deps):
    await add_connection(deps, "xero", "tenant-a")
    events_list = [xero_event("tenant-a", f"inv-{n}") for n in range(40)]
    body = encode(xero_delivery(*events_list))
    assert len(body) > WEBHOOK_LIMIT
    response = await post_xero(client, body, sign(XERO_KEYS[0], body))
    assert response.status_code == 413
    assert await event_count(deps) == 0


async def test_several_tenants_in_one_delivery_and_an_unknown_one_is_acknowledged(client, deps):
    a = await add_connection(deps, "xero", "tenant-a")
    b = await add_connection(deps, "xero", "tenant-b")
    body = encode(xero_delivery(xero_event("tenant-a", "inv-a"), xero_event("tenant-b", "inv-b"),
                                xero_event("tenant-nobody", "inv-z")))
    response = await post_xero(client, body, sign(XERO_KEYS[0], body))
    assert response.status_code == 200
    owners = {e.object_id: e.connection_id for e in await events(deps)}
    assert owners == {"inv-a": a, "inv-b": b, "inv-z": None}


async def test_a_tenant_id_of_the_other_program_does_not_match(client, deps):
    await add_connection(deps, "quickbooks", "shared-id")
    body = encode(xero_delivery(xero_event("shared-id", "inv-1")))
    assert (await post_xero(client, body, sign(XERO_KEYS[0], body))).status_code == 200
    assert [e.connection_id for e in await events(deps)] == [None]


async def test_quickbooks_cloudevents_are_stored_once_by_their_id(client, deps):
    connection_id = await add_connection(deps, "quickbooks", "9130350")
    first = cloud_event("9130350", "58", "qbo.customer.updated.v1", event_id="evt-1")
    body = encode([first, cloud_event("9130350", "145", "qbo.salesreceipt.deleted.v1", event_id="evt-2")])
    for _ in range(2):
        response = await post_intuit(client, body, sign(INTUIT_TOKEN, body))
        assert response.status_code == 200
    stored = await events(deps)
    assert [(e.event_key, e.object_kind, e.object_id, e.operation, e.connection_id) for e in stored] == [
        ("ce:evt-2", "salesreceipt", "145", "deleted", connection_id),
        ("ce:evt-1", "customer", "58", "updated", connection_id)]


async def test_quickbooks_legacy_notifications_are_read(client, deps):
    connection_id = await add_connection(deps, "quickbooks", "9130350")
    body = encode(legacy_delivery("9130350", ("Customer", "58", "Update"), ("Invoice", "130", "Void")))
    response = await post_intuit(client, body, sign(INTUIT_TOKEN, body))
    assert response.status_code == 200 and response.content == b""
    stored = await events(deps)
    assert [(e.object_kind, e.object_id, e.operation, e.connection_id) for e in stored] == [
        ("Invoice", "130", "Void", connection_id), ("Customer", "58", "Update", connection_id)]
    assert (await post_intuit(client, body, sign(INTUIT_TOKEN, body))).status_code == 200
    assert await event_count(deps) == 2


async def test_quickbooks_refuses_bad_signatures_and_malformed_deliveries(client, deps):
    body = encode([cloud_event("1", "2")])
    assert (await post_intuit(client, body, None)).status_code == 401
    assert (await post_intuit(client, body, sign("forged", body))).status_code == 401
    for bad in (encode([{**cloud_event("1", "2"), "type": "customer-changed"}]),
                encode([{"specversion": "1.0", "id": "x"}]), encode({"eventNotifications": [{"realmId": "1"}]}),
                encode({"something": "else"}), b"nope",
                # Longer than anything Intuit sends: refused, not a database error.
                encode([{**cloud_event("1", "2"), "type": f"qbo.customer.{'x' * 60}.v1"}]),
                encode([{**cloud_event("1", "2"), "time": "2026-11-27T10:00:00" + "0" * 40}]),
                encode(legacy_delivery("1", ("Customer", "2", "U" * 40)))):
        assert (await post_intuit(client, bad, sign(INTUIT_TOKEN, bad))).status_code == 400, bad
    assert await event_count(deps) == 0


async def test_without_configured_secrets_every_delivery_is_refused(client, deps, monkeypatch):
    monkeypatch.setattr(deps.settings, "xero_webhook_keys", None)
    body = encode(xero_delivery())
    assert (await post_xero(client, body, sign("", body))).status_code == 401
