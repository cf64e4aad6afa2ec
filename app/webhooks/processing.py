"""A processing pass over one connection's stored webhook events: each pass is a run with trigger
`webhook` in the Sync process log.

What a pass does today: it marks the links whose objects the program reported changed (the change
and when it was received), and turns a link red with advice when the program says it deleted or
voided the object (QuickBooks tells so in the event; Xero only says UPDATE, which needs a fetch this
pass does not make yet). Events about objects possync never made are marked processed and ignored.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import structlog
from sqlalchemy import distinct, select

from app.db import transaction
from app.models import Link, LinkState, Run, RunStatus, RunTrigger, WebhookEvent
from app.models.base import utcnow
from app.sync.deps import SyncDeps
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
GONE = {"deleted": "deleted", "voided": "voided"}
PROGRAM_NAMES = {XERO: "Xero", QUICKBOOKS: "QuickBooks"}


def operation_of(raw: str) -> str:
    """One spelling for every program's word: UPDATE, Update, updated → updated."""
    word = raw.strip().lower()
    return _OPERATIONS.get(word, word)


async def process_webhook_events(deps: SyncDeps, connection_id: uuid.UUID) -> int:
    """Process the connection's waiting events, BATCH at a time; the number processed."""
    total = 0
    while True:
        done = await _one_batch(deps, connection_id)
        total += done
        if done < BATCH:
            return total


async def ring_for_waiting_events(deps: SyncDeps) -> int:
    """Ring processing for every connection with unprocessed events (a ring lost to a Redis
    outage or a dead worker); the number of connections rung. Called by the sweeper's jobs."""
    async with deps.sessions() as session:
        waiting = list((await session.scalars(
            select(distinct(WebhookEvent.connection_id))
            .where(WebhookEvent.connection_id.is_not(None), WebhookEvent.processed_at.is_(None)))).all())
    if deps.bell is not None:
        for connection_id in waiting:
            await deps.bell.ring_webhooks(connection_id)
    return len(waiting)


async def _one_batch(deps: SyncDeps, connection_id: uuid.UUID) -> int:
    async with transaction(deps.sessions) as session:
        events = list((await session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.connection_id == connection_id, WebhookEvent.processed_at.is_(None))
            .order_by(WebhookEvent.received_at, WebhookEvent.id).limit(BATCH)
            .with_for_update(skip_locked=True))).all())  # two jobs never take the same events
        if not events:
            return 0
        now = utcnow()
        run = Run(connection_id=connection_id, trigger=RunTrigger.WEBHOOK, status=RunStatus.RUNNING,
                  started_at=now)
        session.add(run)
        wanted: dict[str, set[str]] = defaultdict(set)  # entity type → external ids
        for event in events:
            for entity_type in COUNTERPARTS.get(event.provider, {}).get(event.object_kind.lower(), ()):
                wanted[entity_type].add(event.object_id)
        links: dict[tuple[str, str], Link] = {}
        for entity_type, ids in wanted.items():
            for link in await session.scalars(select(Link).where(
                    Link.connection_id == connection_id, Link.entity_type == entity_type,
                    Link.external_id.in_(ids))):
                links[(entity_type, link.external_id)] = link
        marked = 0
        for event in events:
            event.processed_at = now
            kinds = COUNTERPARTS.get(event.provider, {}).get(event.object_kind.lower(), ())
            for entity_type in kinds:
                link = links.get((entity_type, event.object_id))
                if link is not None:
                    _mark(link, event, now)
                    marked += 1
        run.status, run.finished_at = RunStatus.FINISHED, utcnow()
        log.info("webhook_events_processed", connection_id=str(connection_id), events=len(events),
                 links_marked=marked, run_id=str(run.id))
        return len(events)


def _mark(link: Link, event: WebhookEvent, now) -> None:
    change = operation_of(event.operation)
    link.program_change, link.program_changed_at = change, now
    if change in GONE and link.state == LinkState.SYNCED:
        program = PROGRAM_NAMES.get(event.provider, event.provider)
        when = event.occurred_at or now.isoformat()
        link.state, link.error_code = LinkState.FAILED, f"{GONE[change]}_in_program"
        link.error = f"{GONE[change].capitalize()} in {program} on {when}."
        link.advice = (f"It was {GONE[change]} in {program}: undo that in the POS too, or press SYNC NOW "
                       f"to send it to {program} again.")
        link.updated_at = now
