"""The programs' delivery shapes read into one form: who (tenant), what (object), which change.

Raises MalformedDelivery for anything that is not a delivery of the expected shape.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

XERO = "xero"
QUICKBOOKS = "quickbooks"


class MalformedDelivery(ValueError):
    pass


@dataclass(frozen=True)
class ProgramEvent:
    event_key: str
    tenant_id: str
    object_kind: str
    object_id: str
    operation: str
    occurred_at: str | None
    payload: dict[str, Any]


def _digest(*parts: str) -> str:
    # Xero and legacy QuickBooks events carry no id of their own: the fields that make the event do.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _load(raw_body: bytes) -> Any:
    try:
        return json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedDelivery(f"The body is not JSON: {exc}") from exc


def _text(item: dict, name: str, where: str, *, required: bool = True, max_len: int = 100) -> str | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise MalformedDelivery(f"{where}.{name} must be a non-empty string of at most {max_len} characters")
    return value


# Column widths of webhook_events: a longer value is not a delivery of the shape described.
KIND_LEN, OPERATION_LEN, TIME_LEN = 64, 16, 40


def read_xero(raw_body: bytes) -> list[ProgramEvent]:
    """Xero's delivery: {"events": [...], "firstEventSequence", "lastEventSequence", "entropy"}.

    The intent-to-receive check sends no events: an empty list.
    """
    body = _load(raw_body)
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise MalformedDelivery("A Xero delivery is an object with an 'events' list")
    events = []
    for n, item in enumerate(body["events"]):
        where = f"events[{n}]"
        if not isinstance(item, dict):
            raise MalformedDelivery(f"{where} must be an object")
        tenant, resource = _text(item, "tenantId", where), _text(item, "resourceId", where)
        category = _text(item, "eventCategory", where, max_len=KIND_LEN)
        kind = _text(item, "eventType", where, max_len=OPERATION_LEN)
        when = _text(item, "eventDateUtc", where, max_len=TIME_LEN)
        events.append(ProgramEvent(
            event_key=_digest(tenant, category, kind, resource, when), tenant_id=tenant,
            object_kind=category, object_id=resource, operation=kind, occurred_at=when, payload=item))
    return events


def read_quickbooks(raw_body: bytes) -> list[ProgramEvent]:
    """Either Intuit's CloudEvents array or the legacy {"eventNotifications": [...]} object."""
    body = _load(raw_body)
    if isinstance(body, list):
        return [_cloud_event(item, f"[{n}]") for n, item in enumerate(body)]
    if isinstance(body, dict) and isinstance(body.get("eventNotifications"), list):
        return _legacy(body["eventNotifications"])
    raise MalformedDelivery("A QuickBooks delivery is a CloudEvents array or an object with 'eventNotifications'")


def _cloud_event(item: Any, where: str) -> ProgramEvent:
    if not isinstance(item, dict):
        raise MalformedDelivery(f"{where} must be an object")
    _text(item, "specversion", where)
    event_id, kind = _text(item, "id", where), _text(item, "type", where)
    realm, entity_id = _text(item, "intuitaccountid", where), _text(item, "intuitentityid", where)
    # type reads "qbo.<entity>.<operation>.v<n>", e.g. qbo.customer.updated.v1
    parts = kind.split(".")
    if (len(parts) != 4 or parts[0] != "qbo" or not parts[1] or not parts[2] or len(parts[1]) > KIND_LEN
            or len(parts[2]) > OPERATION_LEN):
        raise MalformedDelivery(f"{where}.type must read like 'qbo.customer.updated.v1' (got {kind!r})")
    return ProgramEvent(
        event_key=f"ce:{event_id}", tenant_id=realm, object_kind=parts[1], object_id=entity_id,
        operation=parts[2], occurred_at=_text(item, "time", where, required=False, max_len=TIME_LEN), payload=item)


def _legacy(notifications: list) -> list[ProgramEvent]:
    events = []
    for n, note in enumerate(notifications):
        where = f"eventNotifications[{n}]"
        if not isinstance(note, dict):
            raise MalformedDelivery(f"{where} must be an object")
        realm = _text(note, "realmId", where)
        change = note.get("dataChangeEvent")
        if not isinstance(change, dict) or not isinstance(change.get("entities"), list):
            raise MalformedDelivery(f"{where}.dataChangeEvent must be an object with an 'entities' list")
        for m, entity in enumerate(change["entities"]):
            at = f"{where}.dataChangeEvent.entities[{m}]"
            if not isinstance(entity, dict):
                raise MalformedDelivery(f"{at} must be an object")
            name, entity_id = _text(entity, "name", at, max_len=KIND_LEN), _text(entity, "id", at)
            operation = _text(entity, "operation", at, max_len=OPERATION_LEN)
            when = _text(entity, "lastUpdated", at, required=False, max_len=TIME_LEN)
            events.append(ProgramEvent(
                event_key=_digest(realm, name, entity_id, operation, when or ""), tenant_id=realm,
                object_kind=name, object_id=entity_id, operation=operation, occurred_at=when,
                payload={"realmId": realm, **entity}))
    return events
