"""What the bookkeeper did in the program, written onto the links: the engine's side of webhooks,
catch-up passes and resyncs.

A connector reads objects back (`Reader.fetch_remote`); `judge` compares each with what possync
last pushed and `apply` writes the link. Everything that makes the books differ from the POS turns
the link red with advice (voided, deleted or archived there; changed there when the connection's
`when_changed_in_program` says `ask`; "changed" is judged by the content of the mapped fields, see
`changed_there`); a merge relinks the record to the surviving object; a
payment added in the program is shown, not an error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors.base import Connector, PushContext, PushItem, RemoteObject
from app.connectors.program_changes import KIND_OF, WhenChangedInProgram
from app.entities import ENTITY_TYPES
from app.models import Link, LinkState, Record
from app.sync.keys import idempotency_key

# Marks on a link (Link.program_change) the next push must respect (see push_decision).
CHANGED, GONE_MARKS = "updated", ("deleted", "voided", "archived")
# SYNC NOW: the shop chose the POS version (over a change there, or to create a gone object again).
OVERWRITE, RECREATE = "overwrite", "recreate"
PROGRAM_ERRORS = ("changed_in_program", "deleted_in_program", "voided_in_program", "archived_in_program",
                  "merged_in_program")
# Our own push moves the program's clock; a change within this of our last sync is ours.
CLOCK_SLACK = timedelta(seconds=2)
# What the shop can do, by what happened (the record's name is put in front).
_UNDO_IN_POS = {"sale": "void the sale in the POS", "shift_report": "correct the shift in the POS",
                "purchase_order": "delete the purchase order in the POS", "customer": "delete the customer in the POS",
                "supplier": "delete the supplier in the POS", "product": "delete the product in the POS"}


@dataclass(frozen=True)
class Seen:
    """One link and what the program holds for it (None: not read back, the event is taken at its word)."""

    link: Link
    payload: dict[str, Any]
    remote: RemoteObject | None
    event_change: str | None = None  # the webhook's word (updated, deleted, voided…) when not read back


def reader_of(connector: Connector):
    """The connector's read-back, or None when it has none."""
    return getattr(connector, "fetch_remote", None)


def read_items(connection_id: uuid.UUID, rows: list[tuple[Link, Record]]) -> list[PushItem]:
    """What a connector's fetch_remote takes: the links' records with their external ids."""
    return [PushItem(key=link.id, entity_type=link.entity_type, pos_id=record.pos_id, payload=record.payload,
                     content_hash=record.content_hash, external_id=link.external_id,
                     idempotency_key=idempotency_key(str(connection_id), link.entity_type, record.pos_id,
                                                     record.content_hash), remote_version=link.remote_version)
            for link, record in rows if link.external_id]


async def read_back(connector: Connector, ctx: PushContext, rows: list[tuple[Link, Record]]) -> dict[int, RemoteObject]:
    """The program's objects of these links, one fetch per entity type (the connector batches)."""
    fetch = reader_of(connector)
    found: dict[int, RemoteObject] = {}
    by_type: dict[str, list[tuple[Link, Record]]] = {}
    for link, record in rows:
        by_type.setdefault(link.entity_type, []).append((link, record))
    for entity_type in ENTITY_TYPES:  # dependency order: contacts are relinked before their documents are read
        if entity_type in by_type and fetch is not None:
            found.update(await fetch(ctx, entity_type, read_items(uuid.UUID(ctx.connection_id), by_type[entity_type])))
    return found


def policy_of(settings: BaseModel, entity_type: str) -> str:
    choice = getattr(settings, "when_changed_in_program", None) or WhenChangedInProgram()
    return choice.for_entity(entity_type)


async def apply(session: AsyncSession, *, seen: list[Seen], settings: BaseModel, program: str,
                now: datetime) -> dict[str, int]:
    """Write what each link's object shows; counts by what was found (changed, voided, merged…)."""
    counts: dict[str, int] = {}
    for item in seen:
        found = _apply_one(item, settings, program, now)
        if found == "merged":
            found = await _relink(session, item, program, now)
        if found:
            counts[found] = counts.get(found, 0) + 1
    return counts


def _apply_one(item: Seen, settings: BaseModel, program: str, now: datetime) -> str | None:
    link, remote = item.link, item.remote
    if remote is None:
        return _take_event_at_its_word(item, program, now)
    if remote.status in GONE_MARKS:
        if link.action in ("voided", "deleted", "archived"):
            return None  # possync undid it itself (the record was deleted or voided in the POS)
        _red(link, remote.status, now, f"{remote.status.capitalize()} in {program}{_on(remote, now)}.",
             _gone_advice(link.entity_type, remote.status, program))
        return remote.status
    if remote.status == "merged":
        return "merged"
    if _paid_there(item):
        link.program_change, link.program_changed_at = "paid", remote.updated_at or now
        if link.state == LinkState.SYNCED:
            link.advice = (f"A payment of {remote.amount_paid - _paid_in_pos(item.payload):.2f} was added in "
                           f"{program}{_on(remote, now)}.")
        return "paid"
    if changed_there(link, remote):
        link.program_change, link.program_changed_at = CHANGED, remote.updated_at or now
        if policy_of(settings, link.entity_type) == "ask" and link.state != LinkState.PENDING:
            _red(link, "changed", now, f"Changed in {program}{_on(remote, now)} after possync last sent it.",
                 _ask_advice(link.entity_type, program))
        return "changed"
    if link.error_code in PROGRAM_ERRORS and link.state == LinkState.FAILED:
        # Restored or put back in the program as it was: the books agree again.
        link.state, link.error_code, link.error, link.advice = LinkState.SYNCED, None, None, None
        link.program_change, link.updated_at = None, now
        return "agrees"
    return None


def _take_event_at_its_word(item: Seen, program: str, now: datetime) -> str | None:
    link, change = item.link, item.event_change
    if change is None:
        return None
    link.program_change, link.program_changed_at = change, now
    if change in ("deleted", "voided") and link.state == LinkState.SYNCED:
        _red(link, change, now, f"{change.capitalize()} in {program} on {now.date().isoformat()}.",
             _gone_advice(link.entity_type, change, program))
    return change


async def _relink(session: AsyncSession, item: Seen, program: str, now: datetime) -> str:
    link, remote = item.link, item.remote
    holder = await session.scalar(select(Link).where(
        Link.connection_id == link.connection_id, Link.entity_type == link.entity_type,
        Link.external_id == remote.merged_into, Link.id != link.id))
    what = ENTITY_TYPES[link.entity_type].title.lower()
    if holder is not None:
        # Two POS records are now one object there: a silent choice would lose one of them.
        _red(link, "merged", now, f"Merged in {program}{_on(remote, now)} into {remote.merged_into}, which another "
             f"{what} of the POS is linked to.",
             f"{program} now holds both {what}s as one. Merge them in the POS too (keep the one linked to "
             f"{remote.merged_into}), or restore the merged one in {program} and press SYNC NOW.")
        return "merged"
    link.external_id, link.remote_version = remote.merged_into, None
    link.program_change, link.program_changed_at, link.updated_at = "merged", remote.updated_at or now, now
    link.advice = (f"Merged in {program}{_on(remote, now)} into {remote.merged_into}: possync now sends this "
                   f"{what}'s changes there.")
    return "merged"


def changed_there(link: Link, remote: RemoteObject) -> bool:
    """Whether the program's object differs from what possync last left there. Judged by content
    when both sides have a digest of the mapped fields: versions and clocks also move for what
    leaves the books alone (a payment taken there, possync's own update echoed back). Links pushed
    before digests were kept fall back to the version, then the time of change."""
    if remote.digest is not None and link.remote_digest is not None:
        return remote.digest != link.remote_digest
    if remote.remote_version is not None and link.remote_version is not None:
        return remote.remote_version != link.remote_version
    if remote.updated_at is not None and link.last_synced_at is not None:
        return remote.updated_at > link.last_synced_at + CLOCK_SLACK
    return False


def _paid_there(item: Seen) -> bool:
    """More paid in the program than the POS recorded: the bookkeeper took a payment (an invoice on account)."""
    paid = item.remote.amount_paid
    return (paid is not None and KIND_OF.get(item.link.entity_type) == "documents"
            and item.link.entity_type != "purchase_order" and paid > _paid_in_pos(item.payload) + Decimal("0.005"))


def _paid_in_pos(payload: dict[str, Any]) -> Decimal:
    payments = payload.get("payments") or payload.get("totals_by_payment_type") or []
    return sum((abs(Decimal(str(p.get("amount") or 0))) for p in payments if isinstance(p, dict)), Decimal(0))


def _red(link: Link, change: str, now: datetime, error: str, advice: str) -> None:
    link.state, link.error_code, link.error, link.advice = LinkState.FAILED, f"{change}_in_program", error, advice
    link.program_change = change if change != "changed" else CHANGED
    link.program_changed_at = link.program_changed_at or now
    link.updated_at = now


def _on(remote: RemoteObject, now: datetime) -> str:
    return f" on {(remote.updated_at or now).date().isoformat()}"


def _gone_advice(entity_type: str, change: str, program: str) -> str:
    undo = _UNDO_IN_POS[entity_type]
    if change == "archived":
        return f"It was archived (made inactive) in {program}: make it active again there, or {undo}."
    return f"It was {change} in {program} by the bookkeeper: {undo}, or press SYNC NOW to send it to {program} again."


def _ask_advice(entity_type: str, program: str) -> str:
    kind = KIND_OF[entity_type]
    return (f"The bookkeeper changed it in {program}. Press SYNC NOW to send the POS version over those changes, or "
            f"keep {program}'s version by setting when_changed_in_program.{kind} to program_wins.")


def push_decision(program_change: str | None, policy: str) -> str:
    """What the next push does with a record whose object the program changed: "push", "skip", "ask",
    or "recreate" (the object is gone there: create it again)."""
    if program_change == RECREATE:
        return "recreate"
    if program_change not in (CHANGED, *GONE_MARKS):
        return "push"  # none, overwrite, or what needs no decision (paid, merged)
    if policy != "pos_wins":
        return "skip" if policy == "program_wins" else "ask"
    return "recreate" if program_change in ("deleted", "voided") else "push"


async def answer_program_changes(session: AsyncSession, *, record_id: int, connection_ids: list[uuid.UUID]) -> None:
    """SYNC NOW is the shop's answer to `ask`: the POS version goes over what the program changed, and
    an object the program voided or deleted is created again."""
    if not connection_ids:
        return
    await session.execute(
        update(Link)
        .where(Link.record_id == record_id, Link.connection_id.in_(connection_ids),
               Link.program_change.in_([CHANGED, *GONE_MARKS]))
        .values(program_change=case((Link.program_change.in_(["deleted", "voided"]), RECREATE), else_=OVERWRITE))
        .execution_options(synchronize_session=False))


async def program_context(deps, connection) -> tuple[Connector, PushContext] | None:
    """The connector and a call context for reading back from this connection's program; None when
    the connector offers no read-back or is not configured in this process. Raises ConnectionBroken
    when the tokens cannot be refreshed."""
    from app.connections.credentials import usable_credentials
    from app.connections.settings import typed_settings

    connector = deps.connectors.get(connection.connector)
    if connector is None or reader_of(connector) is None:
        return None
    credentials = await usable_credentials(deps, connector, connection)
    limiter = deps.limits.for_organisation(f"{connector.name}:{connection.tenant_id or connection.id}",
                                           connector.rate_limits)
    return connector, PushContext(str(connection.id), typed_settings(deps.connectors, connection), credentials, limiter)
