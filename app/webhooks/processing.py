"""A processing pass over one connection's stored webhook events: each pass is a run with trigger
`webhook` in the Sync process log.

A pass finds the links the events name, reads their objects back from the program in batches
(the connector's `fetch_remote`) and hands both to the engine (app.sync.remote_changes), which
compares them with what possync last pushed and writes the links. Without a read-back (a connector
without one, tokens that cannot be refreshed) the events are taken at their word. Events about
objects possync never made are marked processed and ignored.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import structlog
from sqlalchemy import select

from app.connectors.errors import ConnectionBroken, PermanentError
from app.db import transaction
from app.models import Connection, Link, Record, Run, RunStatus, RunTrigger, WebhookEvent
from app.models.base import utcnow
from app.sync import remote_changes
from app.connections.settings import typed_settings
from app.sync.deps import SyncDeps
from app.sync.catch_up import catch_up, connections_due
from app.sync.resync import resyncs_to_ring
from app.webhooks.events import QUICKBOOKS, XERO

log = structlog.get_logger(__name__)
BATCH = 500  # events per pass; a job goes round again while more are waiting

# Which POS entity types a program's object kind can be the counterpart of (lower-case kinds).
COUNTERPARTS: dict[str, dict[str, tuple[str, ...]]] = {
    XERO: {"contact": ("customer", "supplier"), "invoice": ("sale", "shift_report"), "creditnote": ("sale",)},
    QUICKBOOKS: {"customer": ("customer",), "vendor": ("supplier",), "item": ("product",),
                 "purchaseorder": ("purchase_order",), "invoice": ("sale",),
                 "salesreceipt": ("sale", "shift_report"), "refundreceipt": ("sale",)},
}
_OPERATIONS = {"create": "created", "update": "updated", "delete": "deleted", "void": "voided",
               "merge": "merged", "emailed": "emailed"}
PROGRAM_NAMES = {XERO: "Xero", QUICKBOOKS: "QuickBooks"}


def operation_of(raw: str) -> str:
    """One spelling for every program's word: UPDATE, Update, updated → updated."""
    word = raw.strip().lower()
    return _OPERATIONS.get(word, word)


async def process_webhook_events(deps: SyncDeps, connection_id: uuid.UUID) -> int:
    """Process the connection's waiting events, BATCH at a time; the number processed."""
    await catch_up(deps, connection_id)  # when due: what lost webhooks would have said, stored as events
    total = 0
    while True:
        done = await _one_batch(deps, connection_id)
        total += done
        if done < BATCH:
            break
    return total


async def ring_for_waiting_events(deps: SyncDeps) -> int:
    """Ring processing for every connection with unprocessed events (a ring lost to a Redis
    outage or a dead worker) or a catch-up due, and the job of every resync waiting for its next
    slice (or whose slice's worker died); the number of rings. Called by the sweeper's jobs."""
    async with deps.sessions() as session:
        waiting = list((await session.scalars(
            select(WebhookEvent.connection_id).distinct()
            .where(WebhookEvent.connection_id.is_not(None), WebhookEvent.processed_at.is_(None)))).all())
    waiting += [c for c in await connections_due(deps) if c not in waiting]
    resyncs = await resyncs_to_ring(deps)
    if deps.bell is not None:
        for connection_id in waiting:
            await deps.bell.ring_webhooks(connection_id)
        for connection_id, run_id in resyncs:
            await deps.bell.ring_resync(connection_id, run_id)
    return len(waiting) + len(resyncs)


async def _one_batch(deps: SyncDeps, connection_id: uuid.UUID) -> int:
    async with transaction(deps.sessions) as session:
        events = list((await session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.connection_id == connection_id, WebhookEvent.processed_at.is_(None))
            .order_by(WebhookEvent.received_at, WebhookEvent.id).limit(BATCH)
            .with_for_update(skip_locked=True))).all())  # two jobs never take the same events
        if not events:
            return 0
        connection = await session.get(Connection, connection_id)
        now = utcnow()
        run = Run(connection_id=connection_id, trigger=RunTrigger.WEBHOOK, status=RunStatus.RUNNING,
                  started_at=now)
        session.add(run)
        rows, said = await _links_named(session, connection_id, events)
        remote, error = await _read_back(deps, connection, rows)
        seen = [remote_changes.Seen(link, record.payload, remote.get(link.id), said.get(link.id))
                for link, record in rows]
        program = deps.connectors[connection.connector].title if connection.connector in deps.connectors else (
            PROGRAM_NAMES.get(connection.connector, connection.connector))
        found = await remote_changes.apply(session, seen=seen, settings=_settings(deps, connection), program=program,
                                           now=now)
        for event in events:
            event.processed_at = now
        run.status, run.finished_at, run.error = RunStatus.FINISHED, utcnow(), error
        run.updated = sum(found.values())
        log.info("webhook_events_processed", connection_id=str(connection_id), events=len(events),
                 links=len(rows), found=found, run_id=str(run.id))
        return len(events)


async def _links_named(session, connection_id: uuid.UUID, events: list[WebhookEvent]):
    """The links (with their records) the events are about, and what each event said of its link."""
    wanted: dict[str, dict[str, str]] = defaultdict(dict)  # entity type → external id → operation
    for event in events:
        for entity_type in COUNTERPARTS.get(event.provider, {}).get(event.object_kind.lower(), ()):
            wanted[entity_type][event.object_id] = operation_of(event.operation)
    rows: list[tuple[Link, Record]] = []
    said: dict[int, str] = {}
    for entity_type, operations in wanted.items():
        found = await session.execute(
            select(Link, Record).join(Record, Record.id == Link.record_id)
            .where(Link.connection_id == connection_id, Link.entity_type == entity_type,
                   Link.external_id.in_(list(operations))))
        for link, record in found.all():
            rows.append((link, record))
            said[link.id] = operations[link.external_id]
    return rows, said


async def _read_back(deps: SyncDeps, connection: Connection, rows) -> tuple[dict, str | None]:
    """The program's objects for these links; ({}, why) when they cannot be read (the events are then
    taken at their word). A transient failure raises: the events stay waiting for the next ring."""
    if not rows:
        return {}, None
    try:
        reading = await remote_changes.program_context(deps, connection)
        if reading is None:
            return {}, None
        connector, ctx = reading
        return await remote_changes.read_back(connector, ctx, rows), None
    except (ConnectionBroken, PermanentError) as exc:
        log.warning("webhook_read_back_failed", connection_id=str(connection.id), error=exc.message)
        return {}, f"Could not read the objects back: {exc.message}"


def _settings(deps: SyncDeps, connection: Connection):
    if connection.connector in deps.connectors:
        return typed_settings(deps.connectors, connection)
    return None
