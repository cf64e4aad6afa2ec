"""Writing down outcomes: attempts, links and the run's counts, in one transaction."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Boolean, String, and_, bindparam, case, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connectors.errors import PermanentError, TransientError
from app.db import transaction
from app.entities import ENTITY_TYPES
from app.models import Attempt, AttemptOutcome, Connection, Link, LinkState, Record, Run
from app.models.records import SALE, ShiftId
from app.models.sync import FORGET_LOST_CALL
from app.sync.settings_guard import repend_if_settings_changed
from app.models.base import UtcDateTime, utcnow
from app.sync import bulk
from app.sync.announce import vouched
from app.sync.backoff import next_attempt, program_answers
from app.sync.dependencies import IN_FLIGHT, RETRYING
from app.sync.outcomes import Outcome
from app.sync.wake import wait_key, wake_waiting

RUN_COUNTER = {
    AttemptOutcome.CREATED: "created",
    AttemptOutcome.UPDATED: "updated",
    AttemptOutcome.FAILED: "failed",
    AttemptOutcome.RETRY: "retried",
    AttemptOutcome.SKIPPED: "skipped",
    AttemptOutcome.ARCHIVED: "updated",
    AttemptOutcome.VOIDED: "updated",
    AttemptOutcome.DELETED: "updated",
}
SUCCESSES = (AttemptOutcome.CREATED, AttemptOutcome.UPDATED, AttemptOutcome.ARCHIVED, AttemptOutcome.VOIDED,
             AttemptOutcome.DELETED)


def _link_values(outcome: Outcome, now: datetime, program_answering: bool = False) -> dict:
    c = outcome.claimed
    values = {
        "link_id": c.link_id,
        "claim_token": c.claim_token,
        "state": LinkState.PENDING,
        "action": None,
        "external_id": outcome.external_id or c.external_id,
        "remote_version": outcome.remote_version or c.remote_version,
        "remote_digest": outcome.remote_digest,
        "error_code": None,
        "error": None,
        "advice": None,
        "attempted_hash": c.content_hash,
        "next_attempt_at": now,
        "retries": 0,
        "synced": False,
        "waiting_for": outcome.waiting_for,
        "lost_call_key": None,
        # Kept through refusals and skips (an object of an earlier lost create may exist); a push
        # that went through (below) ends it.
        "first_unanswered_at": outcome.claimed.first_unanswered_at,
    }
    kind, error = outcome.kind, outcome.error
    if kind in SUCCESSES:
        values.update(state=LinkState.SYNCED, action=kind, synced=True, first_unanswered_at=None)
    elif kind == AttemptOutcome.SKIPPED:
        values.update(state=LinkState.SKIPPED, advice=outcome.skipped_reason, error_code="skipped")
    elif kind == AttemptOutcome.FAILED:
        values.update(state=LinkState.FAILED, error_code=error.code, error=error.message, advice=error.advice)
    else:
        retry_after = error.retry_after_s if isinstance(error, TransientError) else None
        values.update(error_code=error.code, error=error.message, advice=error.advice,
                      next_attempt_at=next_attempt(now, c.retries, retry_after, group=outcome.retry_group or id(error),
                                                   program_answering=program_answering),
                      retries=c.retries + 1)
        values.update(_lost_call(outcome, now))
    return values


def _lost_call(outcome: Outcome, now: datetime) -> dict:
    """What the link keeps of a call that went unanswered (see Link.lost_call_key and announce.vouched)."""
    if outcome.call_key is None:
        return {}
    key, since = vouched(outcome.claimed, outcome.call_key, looked_up=outcome.looked_up, sent_at=outcome.sent_at or now)
    return {"lost_call_key": key, "first_unanswered_at": since}


async def record_outcomes(
    sessions: async_sessionmaker[AsyncSession],
    *,
    outcomes: list[Outcome],
    connection_id: uuid.UUID,
    run_id: uuid.UUID,
    calls: int,
    pushed_with: BaseModel | None = None,
) -> Counter:
    """Persist one batch's outcomes and release the claims; return the counts added to the run.

    `pushed_with`: the settings the batch was pushed with; if the connection's differ by now, its
    links are pending again (app.sync.settings_guard)."""
    if not outcomes:
        return Counter()
    try:
        return await _write(sessions, outcomes, connection_id, run_id, calls, pushed_with)
    except IntegrityError:
        # Another job stored the same external id for another record between our check and our
        # write: written again, the check now sees it and fails this record instead of the job.
        return await _write(sessions, outcomes, connection_id, run_id, calls, pushed_with)


async def _write(sessions, outcomes: list[Outcome], connection_id: uuid.UUID, run_id: uuid.UUID, calls: int,
                 pushed_with: BaseModel | None = None) -> Counter:
    now = utcnow()
    async with transaction(sessions) as session:
        outcomes = await _refuse_taken_ids(session, outcomes, connection_id)
        await _insert_attempts(session, outcomes, connection_id, run_id, now)
        settled = await _waits_already_over(session, outcomes, connection_id, now)
        await _update_links(session, outcomes, now, connection_id)
        if settled:
            await session.execute(update(Link).where(Link.id.in_(settled)).values(
                next_attempt_at=now, retries=0, **FORGET_LOST_CALL))
        await _repend_changed(session, [o.claimed.link_id for o in outcomes], now)
        await repend_if_settings_changed(session, connection_id=connection_id, pushed_with=pushed_with,
                                         link_ids=[o.claimed.link_id for o in outcomes], now=now)
        await _rejudge_sales_of_skipped_shifts(session, outcomes, connection_id, now)
        # Whatever waited on these records is due now: synced, they can be referred to; settled
        # otherwise (failed, skipped), the waiting record learns why instead of backing off.
        settled = [wait_key(o.claimed.entity_type, o.claimed.pos_id) for o in outcomes if o.kind != AttemptOutcome.RETRY]
        await wake_waiting(session, [connection_id], settled)
        counts = Counter(RUN_COUNTER[o.kind] for o in outcomes)
        await session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(**{name: getattr(Run, name) + n for name, n in counts.items()}, calls=Run.calls + calls)
        )
    return counts


async def _rejudge_sales_of_skipped_shifts(session: AsyncSession, outcomes: list[Outcome], connection_id: uuid.UUID,
                                            now: datetime) -> None:
    """A shift summary that is not sent leaves its sales to go one by one: any of them skipped
    earlier (judged before the shift's close was known, or while it was being stored) is judged again."""
    shifts = [o.claimed.pos_id for o in outcomes
              if o.claimed.entity_type == "shift_report" and o.kind == AttemptOutcome.SKIPPED]
    if not shifts:
        return
    store_id = select(Connection.store_id).where(Connection.id == connection_id).scalar_subquery()
    sales = select(Record.id).where(Record.store_id == store_id, Record.entity_type == SALE, ShiftId().in_(shifts))
    await session.execute(
        update(Link)
        .where(Link.connection_id == connection_id, Link.state == LinkState.SKIPPED, Link.record_id.in_(sales),
               Link.claim_token.is_(None))
        .values(state=LinkState.PENDING, next_attempt_at=now, retries=0, updated_at=now, **FORGET_LOST_CALL)
        .execution_options(synchronize_session=False)
    )


async def _waits_already_over(session: AsyncSession, outcomes: list[Outcome], connection_id: uuid.UUID,
                             now: datetime) -> list[int]:
    """Links of this batch that wait for a record another job is pushing, whose push has settled
    meanwhile: that job's wake-up may have come before this wait was written, so they are due now.

    The awaited links are locked first (before this batch's own links), so the other job either
    committed already (its release is seen here) or writes after this transaction (and its wake-up
    then sees this wait): no lost wake-up, and one lock order, so no deadlock. A record that was
    backing off when judged (`dependency_retrying`) may likewise have been pushed and settled by
    another job since: its wait is over once it is no longer pending.
    """
    waits = {o.claimed.link_id: (o.waiting_for, o.error.code) for o in outcomes
             if o.waiting_for and o.error is not None and o.error.code in (IN_FLIGHT, RETRYING)}
    if not waits:
        return []
    waiting = {link_id: awaited for link_id, (awaited, _code) in waits.items()}
    key = Record.entity_type + ":" + Record.pos_id
    held = await session.execute(
        select(Record.entity_type, Record.pos_id, Link.claimed_until, Link.state)
        .join(Link, and_(Link.record_id == Record.id, Link.connection_id == connection_id))
        .where(key.in_(sorted(set(waiting.values()))))
        .order_by(Link.id)
        .with_for_update(of=Link, key_share=True)
    )
    rows = held.all()
    in_flight = {f"{t}:{p}" for t, p, until, _state in rows if until is not None and until > now}
    pending = {f"{t}:{p}" for t, p, _until, state in rows if state == LinkState.PENDING}
    return [link_id for link_id, (awaited, code) in waits.items()
            if awaited not in in_flight and (code == IN_FLIGHT or awaited not in pending)]


async def _refuse_taken_ids(session: AsyncSession, outcomes: list[Outcome], connection_id: uuid.UUID) -> list[Outcome]:
    """An external id the program returned that another record of the connection already holds
    (Xero merged two contacts; a create matched an existing object) fails this one record."""
    # Ids are compared within one entity type: programs number some kinds separately (QuickBooks).
    wanted = sorted({(o.claimed.entity_type, o.external_id) for o in outcomes
                     if o.external_id and o.external_id != o.claimed.external_id})
    if not wanted:
        return outcomes
    if session.bind.dialect.name == "postgresql":
        rows = await session.execute(bulk.TAKEN_IDS, {"connection_id": connection_id,
                                                      "entity_types": [t for t, _ in wanted],
                                                      "external_ids": [i for _, i in wanted]})
    else:
        rows = await session.execute(
            select(Link.id, Link.external_id, Link.entity_type, Record.pos_id)
            .join(Record, Record.id == Link.record_id)
            .where(Link.connection_id == connection_id, tuple_(Link.entity_type, Link.external_id).in_(wanted))
        )
    holders = {(entity_type, external_id): (link_id, entity_type, pos_id)
               for link_id, external_id, entity_type, pos_id in rows.all()}
    checked = []
    for o in outcomes:
        c = o.claimed
        key = (c.entity_type, o.external_id)
        holder = holders.get(key) if o.external_id and o.external_id != c.external_id else None
        if holder is None or holder[0] == c.link_id:
            if o.external_id:
                holders.setdefault(key, (c.link_id, c.entity_type, c.pos_id))  # two in one batch
            checked.append(o)
            continue
        checked.append(replace(o, kind=AttemptOutcome.FAILED, external_id=None, error=_taken(o, holder)))
    return checked


def _taken(outcome: Outcome, holder: tuple) -> PermanentError:
    c = outcome.claimed
    this = f"{ENTITY_TYPES[c.entity_type].title.lower()} {c.pos_id}"
    other = f"{ENTITY_TYPES[holder[1]].title.lower()} {holder[2]}"
    return PermanentError(
        f"The program answered for {this} with object {outcome.external_id}, which is already linked to {other}.",
        code="external_id_taken",
        advice=f"The program treats {this} and {other} as one object (it may have merged them, or matched the "
        f"new one to the existing one). Check {outcome.external_id} in the program; if they are different, make "
        f"them differ in the POS (name, code) and press SYNC NOW on {this}; if they are the same, keep one of them "
        "in the POS.",
    )


async def _insert_attempts(session: AsyncSession, outcomes: list[Outcome], connection_id, run_id, now) -> None:
    rows = []
    for o in outcomes:
        c, e = o.claimed, o.error
        rows.append(
            {
                "link_id": c.link_id,
                "connection_id": connection_id,
                "run_id": run_id,
                "entity_type": c.entity_type,
                "pos_id": c.pos_id,
                "outcome": o.kind,
                "external_id": o.external_id or c.external_id,
                "error_code": e.code if e else ("skipped" if o.skipped_reason else None),
                "error": e.message if e else None,
                "advice": e.advice if e else (o.skipped_reason or o.note),
                "http_status": e.http_status if e else None,
                "request_id": e.request_id if e else o.request_id,
                "content_hash": c.content_hash,
                "duration_ms": o.duration_ms,
                "created_at": now,
            }
        )
    await session.execute(insert(Attempt), rows)


async def _update_links(session: AsyncSession, outcomes: list[Outcome], now: datetime,
                        connection_id: uuid.UUID) -> None:
    links = Link.__table__
    if any(o.kind in SUCCESSES for o in outcomes):
        program_answers.saw_answer(connection_id)
    answering = program_answers.answering(connection_id)
    rows = [_link_values(o, now, answering) for o in outcomes]
    columns = ["state", "external_id", "remote_version", "error_code", "error", "advice", "attempted_hash",
               "next_attempt_at", "retries", "waiting_for", "lost_call_key", "first_unanswered_at"]
    synced = bindparam("b_synced", type_=Boolean)
    # Only the holder of the lease writes: a job whose lease ran out and was re-claimed must not
    # overwrite the newer job's result.
    stmt = (
        update(links)
        .where(and_(links.c.id == bindparam("b_link_id"), links.c.claim_token == bindparam("b_token")))
        .values(
            {
                **{name: bindparam(f"b_{name}") for name in columns},
                # Status and last sync change only on success; a failure keeps what the last success said.
                "action": func.coalesce(bindparam("b_action", type_=String), links.c.action),
                "last_synced_at": func.coalesce(
                    bindparam("b_last_synced_at", type_=UtcDateTime), links.c.last_synced_at
                ),
                # A success replaces the digest (None where the program's answer gave none, so an
                # old digest never judges new content); a failure keeps what the last success said.
                "remote_digest": case((synced, bindparam("b_remote_digest", type_=String)),
                                      else_=links.c.remote_digest),
                # A push that went through settles what the program had changed (see remote_changes).
                "program_change": case((synced, None), else_=links.c.program_change),
                "program_changed_at": case((synced, None), else_=links.c.program_changed_at),
                "claimed_until": None,
                "claim_token": None,
                "updated_at": now,
            }
        )
    )
    conn = await session.connection()
    await conn.execute(
        stmt,
        [
            {
                "b_link_id": r["link_id"],
                "b_token": r["claim_token"],
                "b_action": r["action"],
                "b_last_synced_at": now if r["synced"] else None,
                "b_synced": r["synced"],
                "b_remote_digest": r["remote_digest"],
                **{f"b_{n}": r[n] for n in columns},
            }
            for r in rows
        ],
    )


async def _repend_changed(session: AsyncSession, link_ids: list[int], now: datetime) -> None:
    """A record the POS changed while it was being pushed goes straight back to pending."""
    changed = (
        select(Link.id)
        .join(Record, Record.id == Link.record_id)
        .where(Link.id.in_(link_ids), Link.state != LinkState.PENDING, Link.attempted_hash != Record.content_hash)
    )
    ids = list((await session.scalars(changed)).all())
    if ids:
        await session.execute(
            update(Link).where(Link.id.in_(ids)).values(state=LinkState.PENDING, next_attempt_at=now, retries=0,
                                                        **FORGET_LOST_CALL)
        )
