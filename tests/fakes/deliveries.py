"""Signed webhook deliveries from a fake program to possync, as the real programs send them.

Both programs sign the raw body: base64 of HMAC-SHA256 with the app's webhook key (Xero,
`x-xero-signature`) or verifier token (Intuit, `intuit-signature`). A fake is pointed at a URL
with `point_at`; each change the bookkeeper makes is then POSTed there, and the answers are kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx


@dataclass
class Deliveries:
    header: str  # the signature header the program uses
    url: str | None = None
    secret: str | None = None
    client: httpx.AsyncClient | None = None  # e.g. an in-process client of the possync app
    answers: list[int] = field(default_factory=list)

    def point_at(self, url: str, secret: str, client: httpx.AsyncClient | None = None) -> None:
        self.url, self.secret, self.client = url, secret, client

    async def send(self, payload: Any) -> int | None:
        """POST one delivery, signed; the status possync answered (None when not pointed anywhere)."""
        if self.url is None or self.secret is None:
            return None
        body = json.dumps(payload).encode()
        signature = base64.b64encode(hmac.new(self.secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {"Content-Type": "application/json", self.header: signature}
        if self.client is not None:
            response = await self.client.post(self.url, content=body, headers=headers)
        else:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(self.url, content=body, headers=headers)
        self.answers.append(response.status_code)
        return response.status_code


def xero_delivery(tenant_id: str, category: str, resource_id: str, event_type: str = "UPDATE") -> dict:
    """Xero's shape: one event here; Xero batches several (and several tenants) into one delivery."""
    collection = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}[category]
    return {
        "events": [{
            "resourceUrl": f"https://api.xero.com/api.xro/2.0/{collection}/{resource_id}",
            "resourceId": resource_id,
            "eventDateUtc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "eventType": event_type,
            "eventCategory": category,
            "tenantId": tenant_id,
            "tenantType": "ORGANISATION",
        }],
        "firstEventSequence": 1,
        "lastEventSequence": 1,
        "entropy": uuid.uuid4().hex[:20].upper(),
    }


def intuit_cloud_events(realm: str, entity: str, entity_id: str, operation: str) -> list[dict]:
    """Intuit's CloudEvents array (the required format since 2026): type qbo.<entity>.<operation>.v1."""
    return [{
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "intuit.fake-quickbooks",
        "type": f"qbo.{entity.lower()}.{operation}.v1",
        "datacontenttype": "application/json",
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "intuitentityid": entity_id,
        "intuitaccountid": realm,
        "data": {},
    }]
