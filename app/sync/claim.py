"""Claiming pending links: a short transaction that leases them to one job.

The lease (claimed_until, claim_token) outlives the transaction, so the HTTP calls happen with no
database lock held. It is short and renewed by the job's heartbeat (app.sync.lease): a job that
dies leaves a lease that runs out within seconds. The links it leaves say what it may have sent:
every create call is announced on its links before it leaves (app.sync.announce).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, literal_column, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.entities import ENTITY_TYPES
from app.models import Link, LinkState, Record, Run, RunStatus
from app.models.base import utcnow
from app.sync.lease import track

# Registry order is dependency order: contacts and products before what refers to them.
DEPENDENCY_RANK = {name: rank for rank, name in enumerate(ENTITY_TYPES)}
# Within one entity type; the order of the claim index (app.models.sync), which PostgreSQL's
# ascending NULLS LAST default makes "links of an unanswered call first".
CLAIM_ORDER = (Link.lost_call_key.asc().nulls_last(), Link.retries.desc(), Link.next_attempt_at, Link.id)
PENDING_INLINE = literal_column(f"'{LinkState.PENDING}'")
NO_SORT = text("SET LOCAL enable_sort = off")


def _first_due_type(due: Select) -> ColumnElement[str]:
    """The first entity type in dependency order with a due link: a CASE of EXISTS probes, which
    stops at the first type that has one, instead of sorting every due link to find it."""
    return case(*((exists(due.where(Link.entity_type == name)), name) for name in ENTITY_TYPES), else_=None)


@dataclass(frozen=True)
class Claimed:
    link_id: int
    record_id: int
    entity_type: str
    pos_id: str
    payload: dict[str, Any]
    content_hash: str
    external_id: str | None
    retries: int
    claim_token: str  # proves the lease when the outcome is written
    remote_version: str | None = None  # the program's object version, handed back to the connector
    # What the bookkeeper did to the object since our last push (app.sync.remote_changes), and when.
    program_change: str | None = None
    program_changed_at: datetime | None = None
    replaces: str | None = None  # set by the push when it creates a gone object again (PushItem.replaces)
    # The call an unanswered create of this content went in, and since when (see Link.lost_call_key).
    lost_call_key: str | None = None
    first_unanswered_at: datetime | None = None
    deleted: bool = False  # deleted in the POS: its object is undone in the program, if it has one


# What a claim hands its job of each link and its record.
HELD_COLUMNS = (
    Link.id, Link.record_id, Link.entity_type, Record.pos_id, Record.payload, Record.content_hash,
    Link.external_id, Link.retries, Link.claim_token, Link.remote_version, Link.program_change,
    Link.program_changed_at, Link.lost_call_key, Link.first_unanswered_at, Record.deleted_at,
)


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(Link.claimed_until.is_(None), Link.claimed_until < now)


def due_batch(connection_id: uuid.UUID, *, now: datetime, limit: int) -> Select:
    """The next batch's links (ids and lost call keys), locked, skipping those another claim holds.

    One entity type per batch (the most urgent one), so each call to the program is full. The
    records of a call that went unanswered first, one call a claim (see `claim`), then retries in
    their groups (one call's records share next_attempt_at): a retried call is re-formed whole, so
    it carries the same idempotency key as the call that was lost. Both steps read the claim index
    (ix_links_claim) in its own order and stop at what they take: a claim costs the same with 50
    due links as with a million.
    """
    # 'pending' inline, not bound: only then may a generic plan use the partial claim index.
    due = select(Link.id).where(Link.connection_id == connection_id, Link.state == PENDING_INLINE, _free(now),
                                Link.next_attempt_at <= now)
    return (due.add_columns(Link.lost_call_key).where(Link.entity_type == _first_due_type(due))
            .order_by(*CLAIM_ORDER).limit(limit).with_for_update(skip_locked=True))


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    *,
    connection_id: uuid.UUID,
    limit: int,
    lease_s: int,
    link_ids: list[int] | None = None,
    opening: Run | None = None,
) -> list[Claimed]:
    """Lease up to `limit` due pending links, dependencies first; or exactly `link_ids` if free.

    `opening`: a run to open (running) in the same transaction if anything is claimed, so a job's
    first batch costs one transaction, not three (claim, new run, run started)."""
    token = str(uuid.uuid4())
    now = utcnow()
    free = _free(now)
    if link_ids is None:
        candidates = due_batch(connection_id, now=now, limit=limit)
    else:
        candidates = (select(Link.id).where(Link.connection_id == connection_id, Link.state == PENDING_INLINE, free,
                                            Link.id.in_(link_ids))
                      .limit(limit).with_for_update(skip_locked=True))
    async with transaction(sessions) as session:
        if session.bind.dialect.name == "postgresql":
            # The batch comes off the claim index in its order, never from a sort of the backlog,
            # even when the statistics predate a big import and promise one pending link: a
            # planner that believes them finds any index plus a sort just as cheap.
            await session.execute(NO_SORT)
        # The rows (locked, SKIP LOCKED); the UPDATE checks they are still free, so on SQLite (no
        # row locks) a concurrent claim that took some first simply leaves them out.
        rows = (await session.execute(candidates)).all()
        if not rows:
            return []
        if link_ids is None:
            # The records of one unanswered call alone, so the retry is formed from exactly them:
            # that very call again, which the program answers from its memory of the key.
            rows = [row for row in rows if row[1] == rows[0][1]]
        lease = (
            update(Link)
            .where(Link.id.in_([row[0] for row in rows]), Link.state == PENDING_INLINE, free)
            .values(claimed_until=now + timedelta(seconds=lease_s), claim_token=token)
            .execution_options(synchronize_session=False)
        )
        if session.bind.dialect.name == "postgresql":
            # What the job needs of the leased links and their records, in the same round trip.
            leased = await session.execute(lease.where(Record.id == Link.record_id).returning(*HELD_COLUMNS))
            claimed = _in_dependency_order(leased.all())
        else:  # SQLite's RETURNING sees the updated table only, not the records it joins
            await session.execute(lease)
            claimed = await _held(session, token)
        if claimed and opening is not None:
            opening.status, opening.started_at, opening.heartbeat_at = RunStatus.RUNNING, now, now
            session.add(opening)
        track(token)
        return claimed


async def reserve(session: AsyncSession, *, connection_id: uuid.UUID, record_id: int, run_id: uuid.UUID,
                  lease_s: int) -> None:
    """Hold a record's link for one run (SYNC NOW), so the run that was promised pushes it.

    If that run never starts, the lease runs out and any job takes the link as usual.
    """
    now = utcnow()
    await session.execute(
        update(Link)
        # A link another job is pushing right now stays with it: that push is already under way.
        .where(Link.connection_id == connection_id, Link.record_id == record_id,
               or_(Link.claimed_until.is_(None), Link.claimed_until < now))
        .values(claimed_until=now + timedelta(seconds=lease_s), claim_token=str(run_id))
    )


async def adopt(sessions: async_sessionmaker[AsyncSession], *, run_id: uuid.UUID) -> list[Claimed]:
    """The links reserved for this run."""
    track(str(run_id))
    async with sessions() as session:
        return await _held(session, str(run_id))


async def _held(session: AsyncSession, token: str) -> list[Claimed]:
    rows = await session.execute(
        select(*HELD_COLUMNS)
        .join(Record, Record.id == Link.record_id)
        # By the token alone (one claim's, or one run's): with the connection too, a planner whose
        # statistics predate a big import read the connection's whole backlog for the token.
        .where(Link.claim_token == token, Link.state == LinkState.PENDING)
    )
    return _in_dependency_order(rows.all())


def _in_dependency_order(rows) -> list[Claimed]:
    claimed = [Claimed(*row[:12], lost_call_key=row[12], first_unanswered_at=row[13], deleted=row[14] is not None)
               for row in rows]
    return sorted(claimed, key=lambda c: (DEPENDENCY_RANK.get(c.entity_type, 99), c.link_id))
