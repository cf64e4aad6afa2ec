"""Webhook tests: the app with webhook secrets set, and deliveries signed the way the programs sign."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import pytest
from sqlalchemy import func, select

from app.db import transaction
from app.models import Connection, ConnectionStatus, Link, LinkState, Record, WebhookEvent
from app.stores.service import create_store
from tests.conftest import make_settings

XERO_KEYS = ("xero-key-old", "xero-key-new")
INTUIT_TOKEN = "intuit-verifier-token"
WEBHOOK_LIMIT = 4096


@pytest.fixture
def settings(migrated: str):
    return make_settings(migrated, XERO_WEBHOOK_KEYS=",".join(XERO_KEYS), QUICKBOOKS_WEBHOOK_TOKENS=INTUIT_TOKEN,
                         POSSYNC_WEBHOOK_MAX_BODY_BYTES=WEBHOOK_LIMIT)


def sign(secret: str, body: bytes) -> str:
    # Computed here from the programs' description, not with the code under test.
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def encode(payload) -> bytes:
    return json.dumps(payload).encode()


async def post_xero(client, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["x-xero-signature"] = signature
    return await client.post("/v1/webhooks/xero", content=body, headers=headers)


async def post_intuit(client, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["intuit-signature"] = signature
    return await client.post("/v1/webhooks/quickbooks", content=body, headers=headers)


def xero_event(tenant: str, resource: str, category: str = "INVOICE", kind: str = "UPDATE",
               when: str = "2026-11-27T10:00:00.000") -> dict:
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/{category.title()}s/{resource}",
            "resourceId": resource, "eventDateUtc": when, "eventType": kind, "eventCategory": category,
            "tenantId": tenant, "tenantType": "ORGANISATION"}


def xero_delivery(*events: dict) -> dict:
    return {"events": list(events), "firstEventSequence": 1, "lastEventSequence": len(events),
            "entropy": "QWERTYASDFGH"}


def cloud_event(realm: str, entity_id: str, kind: str = "qbo.customer.updated.v1", event_id: str | None = None) -> dict:
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "intuit.dsnBgbseACLLRZNxo2dfc",
            "type": kind, "datacontenttype": "application/json", "time": "2026-11-27T10:00:00.000Z",
            "intuitentityid": entity_id, "intuitaccountid": realm, "data": {}}


def legacy_delivery(realm: str, *entities: tuple[str, str, str]) -> dict:
    return {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [
        {"name": name, "id": entity_id, "operation": operation, "lastUpdated": "2026-11-27T10:00:00.000Z"}
        for name, entity_id, operation in entities]}}]}


async def event_count(deps) -> int:
    async with deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(WebhookEvent))


async def events(deps) -> list[WebhookEvent]:
    async with deps.sessions() as session:
        return list((await session.scalars(select(WebhookEvent).order_by(WebhookEvent.object_id))).all())


async def add_connection(deps, connector: str, tenant: str) -> uuid.UUID:
    async with transaction(deps.sessions) as session:
        store, _key = await create_store(session=session, name=f"Shop {tenant}")
        connection = Connection(store_id=store.id, connector=connector, status=ConnectionStatus.ACTIVE,
                                tenant_id=tenant, settings={})
        session.add(connection)
        await session.flush()
        return connection.id


async def add_synced_link(deps, connection_id: uuid.UUID, entity_type: str, external_id: str) -> int:
    async with transaction(deps.sessions) as session:
        store_id = await session.scalar(select(Connection.store_id).where(Connection.id == connection_id))
        record = Record(store_id=store_id, entity_type=entity_type, pos_id=f"pos-{external_id}",
                        payload={"id": f"pos-{external_id}"}, content_hash="0" * 64)
        session.add(record)
        await session.flush()
        link = Link(connection_id=connection_id, record_id=record.id, entity_type=entity_type,
                    state=LinkState.SYNCED, action="created", external_id=external_id, attempted_hash="0" * 64)
        session.add(link)
        await session.flush()
        return link.id


async def link(deps, link_id: int) -> Link:
    async with deps.sessions() as session:
        return await session.get(Link, link_id)
