"""Signed webhook deliveries from a fake program to possync, as the real programs send them.

Both programs sign the raw body: base64 of HMAC-SHA256 with the app's webhook key (Xero,
`x-xero-signature`) or verifier token (Intuit, `intuit-signature`). A fake is pointed at a URL
with `point_at`; each change the bookkeeper makes is then POSTed there, and the answers are kept.

Like the real programs, the fakes also report the changes possync itself makes through their API
(creates, updates, payments, voids): those events are queued as the fake answers the call (`echo`)
and delivered by `flush()`, batched into one delivery as Xero and Intuit batch theirs; a change by
the bookkeeper (`send`) first flushes what was queued before it, so deliveries keep their order.
The fake may answer from another thread (served over TCP); the queue is only read by `flush`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
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
    # Builds one delivery from queued events: Xero wraps them in {"events": …}; Intuit sends the array.
    batch: Callable[[list[dict]], Any] = list
    echoed: list[dict] = field(default_factory=list)  # events of possync's own changes, not yet delivered
    echoes_sent: int = 0  # how many echoed events were delivered

    def point_at(self, url: str, secret: str, client: httpx.AsyncClient | None = None) -> None:
        self.url, self.secret, self.client = url, secret, client

    def echo(self, events: list[dict]) -> None:
        """Queue the events of a change made through the API (only while pointed somewhere)."""
        if self.url is not None:
            self.echoed.extend(events)

    async def flush(self) -> int | None:
        """Deliver the queued echoes as one delivery; the status possync answered (None: nothing queued)."""
        events, self.echoed = self.echoed, []
        if not events:
            return None
        self.echoes_sent += len(events)
        return await self._post(self.batch(events))

    async def send(self, payload: Any) -> int | None:
        """POST one delivery of the bookkeeper's change, signed, after the echoes queued before it;
        the status possync answered (None when not pointed anywhere)."""
        await self.flush()
        return await self._post(payload)

    async def _post(self, payload: Any) -> int | None:
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
    return xero_batch([xero_event(tenant_id, category, resource_id, event_type)])


def xero_event(tenant_id: str, category: str, resource_id: str, event_type: str = "UPDATE") -> dict:
    collection = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}[category]
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{collection}/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "eventType": event_type,
        "eventCategory": category,
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
    }


def xero_batch(events: list[dict]) -> dict:
    return {"events": events, "firstEventSequence": 1, "lastEventSequence": len(events),
            "entropy": uuid.uuid4().hex[:20].upper()}


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
