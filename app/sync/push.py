"""One batch through one connection: skip, resolve dependencies, call the connector, write down."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from itertools import groupby

import structlog
from pydantic import BaseModel

from app.connectors.base import Connector, Credentials, PushContext, PushItem
from app.connectors.errors import ConnectionBroken, PermanentError, SyncError
from app.db import is_database_outage
from app.entities import unique_references
from app.models import AttemptOutcome
from app.models.base import utcnow
from app.sync.announce import LeaseLost, announce
from app.sync.claim import Claimed, claim
from app.sync.coverage import judge
from app.sync.dependencies import blocker_for, resolve
from app.sync.deps import SyncDeps
from app.sync.keys import idempotency_key
from app.sync.outcomes import Outcome, from_error, from_result
from app.sync.remote_changes import policy_of, push_decision
from app.sync.results import record_outcomes
from app.sync.wake import wait_key

log = structlog.get_logger(__name__)
DEPENDENCY_WAIT_S = 15.0


class ConnectionStopped(Exception):
    """The connection cannot push now; the run ends and the links stay pending."""

    def __init__(self, cause: ConnectionBroken) -> None:
        super().__init__(cause.message)
        self.cause = cause


@dataclass
class BatchScope:
    """What every batch of one job shares."""

    deps: SyncDeps
    connection_id: uuid.UUID
    store_id: uuid.UUID
    connector: Connector
    settings: BaseModel
    credentials: Credentials
    tenant_key: str
    run_id: uuid.UUID
    refreshed: bool = False  # the run already forced a token refresh once

    def context(self, claims: Mapping[int, Claimed] | None = None) -> PushContext:
        """What a connector call gets; with `claims`, the calls it makes for them are announced."""
        limiter = self.deps.limits.for_organisation(self.tenant_key, self.connector.rate_limits)
        announcer = partial(announce, self.deps.sessions, claims) if claims is not None else None
        return PushContext(str(self.connection_id), self.settings, self.credentials, limiter, announcer)


async def process(scope: BatchScope, claimed: list[Claimed], *, depth: int = 0) -> Counter:
    """Push claimed links (any mix of entity types, dependency order kept) and record the outcomes."""
    counts: Counter = Counter()
    for entity_type, group in groupby(claimed, key=lambda c: c.entity_type):
        counts += await _process_type(scope, entity_type, list(group), depth)
    return counts


async def _process_type(scope: BatchScope, entity_type: str, items: list[Claimed], depth: int) -> Counter:
    outcomes: list[Outcome] = []
    ready: list[Claimed] = []
    undo, items, gone = _split_retractions(entity_type, items)
    outcomes += gone
    coverage = await judge(scope.deps.autocommit, store_id=scope.store_id, connection_id=scope.connection_id,
                           settings=scope.settings, entity_type=entity_type, items=items)
    for item in items:
        reason = scope.connector.skip_reason(entity_type, item.payload, scope.settings) or coverage.skips.get(
            item.link_id)
        if reason:
            outcomes.append(Outcome(item, AttemptOutcome.SKIPPED, skipped_reason=reason))
        elif item.link_id in coverage.waits:
            sale, why = coverage.waits[item.link_id]
            outcomes.append(replace(from_error(item, why), waiting_for=wait_key("sale", sale)))
        else:
            ready.append(item)
    ready, held_back, replacing = _follow_program_changes(scope, ready)
    outcomes += held_back

    counts: Counter = Counter()
    calls = 0
    try:
        if undo:
            calls += 1
            outcomes += await _retract(scope, entity_type, undo)
        resolution, pushed = await _settle_dependencies(scope, ready, depth)
        counts += pushed

        pushable: list[PushItem] = []
        by_key = {item.link_id: item for item in ready}
        for item in ready:
            blocked = blocker_for(item, resolution)
            if blocked:
                (ref_type, ref_id), blocker = blocked
                # Everything this batch set aside waits as one group, so it returns as one call;
                # the dependency wakes it as soon as it arrives or syncs.
                outcomes.append(replace(from_error(item, blocker), retry_group=id(resolution),
                                        waiting_for=wait_key(ref_type, ref_id)))
                continue
            pushable.append(_push_item(scope, item, resolution.external_ids))

        for start in range(0, len(pushable), scope.connector.batch_size):
            chunk = pushable[start : start + scope.connector.batch_size]
            calls += 1
            outcomes += await _call_connector(scope, entity_type, chunk, by_key)
    except ConnectionStopped as stop:
        # Whatever this batch still holds goes back to pending now, not when its lease runs out.
        done = {o.claimed.link_id for o in outcomes}
        outcomes += [from_error(i, stop.cause) for i in [*undo, *ready] if i.link_id not in done]
        counts += await _record(scope, outcomes, calls)
        raise
    counts += await _record(scope, [_noting(o, replacing) for o in outcomes], calls)
    return counts


def _follow_program_changes(scope: BatchScope, items: list[Claimed]):
    """Records whose object the bookkeeper changed in the program follow when_changed_in_program:
    (to push, outcomes of those held back, link id → what a push replaces there)."""
    go, held, replacing = [], [], {}
    program = scope.connector.title
    for item in items:
        decision = push_decision(item.program_change, policy_of(scope.settings, item.entity_type))
        when = f" on {item.program_changed_at.date().isoformat()}" if item.program_changed_at else ""
        what = f"{(item.program_change or 'changed').replace('updated', 'changed').capitalize()} in {program}{when}"
        if decision == "skip":
            held.append(Outcome(item, AttemptOutcome.SKIPPED, skipped_reason=(
                f"{what}; this connection keeps {program}'s version (when_changed_in_program: "
                f"program_wins). Press SYNC NOW to send the POS version over it.")))
        elif decision == "ask":
            held.append(from_error(item, PermanentError(
                f"{what} after possync last sent it; not sent, so the books keep what was done there.",
                code="changed_in_program",
                advice=f"Press SYNC NOW to send the POS version over the changes made in {program}, or keep "
                f"{program}'s version by setting when_changed_in_program to program_wins.")))
        elif decision == "recreate":
            go.append(replace(item, external_id=None, remote_version=None, replaces=item.external_id))
            replacing[item.link_id] = f"Sent again: the object was {item.program_change or 'removed'} in {program}{when}."
        else:
            if item.program_change in ("updated", "archived", "overwrite"):
                replacing[item.link_id] = f"Replaced the changes made in {program}{when} with the POS version."
            go.append(item)
    return go, held, replacing


def _noting(outcome: Outcome, replacing: dict[int, str]) -> Outcome:
    note = replacing.get(outcome.claimed.link_id)
    if note is None or outcome.kind not in (AttemptOutcome.CREATED, AttemptOutcome.UPDATED):
        return outcome
    return replace(outcome, note=f"{note} {outcome.note}" if outcome.note else note)


def _split_retractions(entity_type: str, items: list[Claimed]):
    """(to undo in the program, to push as usual, skipped outcomes of deletions that never reached it)."""
    undo, keep, gone = [], [], []
    for item in items:
        voided = entity_type == "sale" and item.payload.get("status") == "voided"
        if item.deleted or (voided and item.external_id):
            if item.external_id:
                undo.append(item)
            else:
                gone.append(Outcome(item, AttemptOutcome.SKIPPED,
                                    skipped_reason="Deleted in the POS before it reached this program."))
        else:
            keep.append(item)
    return undo, keep, gone


async def _retract(scope: BatchScope, entity_type: str, items: list[Claimed]) -> list[Outcome]:
    by_key = {item.link_id: item for item in items}
    retract = getattr(scope.connector, "retract", None)
    if retract is None:
        return [from_error(item, PermanentError(
            f"{scope.connector.title} cannot undo records through possync yet.",
            code="retract_unsupported",
            advice=f"The record is gone from the POS: archive or void object {item.external_id} by hand in "
            f"{scope.connector.title}.")) for item in items]
    outcomes = []
    pushable = [_push_item(scope, item, {}) for item in items]
    for start in range(0, len(pushable), scope.connector.batch_size):
        outcomes += await _call_connector(scope, entity_type, pushable[start:start + scope.connector.batch_size],
                                          by_key, method=retract)
    return outcomes


async def _call_connector(scope: BatchScope, entity_type: str, chunk: list[PushItem], by_key,
                          method=None) -> list[Outcome]:
    sent_at = utcnow()
    outcomes = await _outcomes_of_call(scope, entity_type, chunk, by_key, method)
    # Before the call left: the program's memory of its key is counted from no earlier than this.
    return [replace(o, sent_at=sent_at) if o.call_key else o for o in outcomes]


async def _outcomes_of_call(scope: BatchScope, entity_type: str, chunk: list[PushItem], by_key,
                            method=None) -> list[Outcome]:
    started = time.perf_counter()
    try:
        results = await (method or scope.connector.push)(scope.context(by_key), entity_type, chunk)
    except ConnectionBroken as broken:
        raise ConnectionStopped(broken) from broken
    except LeaseLost:
        # Another job claimed these links after this one's lease ran out: theirs to push and write.
        return []
    except Exception as exc:  # noqa: BLE001 - classified by from_error; unexpected ones are logged
        if not isinstance(exc, SyncError) and is_database_outage(exc):
            # The sandbox keeps its program in our database: a restart mid-call is the database's
            # blip, not the record's failure; the job hands the batch back and goes round again.
            raise
        if not isinstance(exc, SyncError):
            log.exception("connector_crashed", connector=scope.connector.name, entity_type=entity_type)
        elapsed = _ms(started)
        return [from_error(by_key[i.key], exc, elapsed) for i in chunk]
    elapsed = _ms(started) // max(1, len(chunk))
    returned = {r.key: r for r in results}
    outcomes = []
    for item in chunk:
        result = returned.get(item.key)
        if result is None:
            missing = RuntimeError("connector returned no result for this record")
            outcomes.append(from_error(by_key[item.key], missing, elapsed))
        else:
            outcomes.append(from_result(by_key[item.key], result, elapsed))
    return outcomes


async def _push_dependencies_first(scope: BatchScope, link_ids: list[int], depth: int) -> Counter:
    deps = scope.deps
    claimed = await claim(
        deps.sessions,
        connection_id=scope.connection_id,
        limit=len(link_ids),
        lease_s=deps.settings.claim_lease_s,
        link_ids=link_ids,
    )
    # What another job took meanwhile is on its way: the next resolution sees it in flight.
    return await process(scope, claimed, depth=depth + 1) if claimed else Counter()


async def _settle_dependencies(scope: BatchScope, items: list[Claimed], depth: int):
    """Push what the batch refers to and nobody is pushing; give in-flight ones a moment.

    Bounded by DEPENDENCY_WAIT_S; whatever is still unresolved then holds its dependents back
    (they back off as one group). Dependencies themselves have none, hence no second level.
    """
    counts: Counter = Counter()
    deadline = time.monotonic() + DEPENDENCY_WAIT_S
    while True:
        resolution = await _resolve(scope, items)
        if depth > 0 or time.monotonic() >= deadline:
            return resolution, counts
        if resolution.to_push_first:
            pushed = await _push_dependencies_first(scope, resolution.to_push_first, depth)
            counts += pushed
            if not pushed:  # another job took them first (every push records an outcome)
                await asyncio.sleep(0.1)
        elif resolution.in_flight:
            await asyncio.sleep(0.1)
        else:
            return resolution, counts


async def _resolve(scope: BatchScope, items: list[Claimed]):
    return await resolve(
        scope.deps.autocommit,
        store_id=scope.store_id,
        connection_id=scope.connection_id,
        connector=scope.connector,
        settings=scope.settings,
        items=items,
    )


def _push_item(scope: BatchScope, item: Claimed, external_ids: dict) -> PushItem:
    refs = unique_references(item.entity_type, item.payload)
    return PushItem(
        key=item.link_id,
        entity_type=item.entity_type,
        pos_id=item.pos_id,
        payload=item.payload,
        content_hash=item.content_hash,
        external_id=item.external_id,
        idempotency_key=idempotency_key(str(scope.connection_id), item.entity_type, item.pos_id, item.content_hash),
        references={ref: external_ids[ref] for ref in refs if ref in external_ids},
        retries=item.retries,
        remote_version=item.remote_version,
        replaces=item.replaces,
        lost_call_key=item.lost_call_key,
        first_unanswered_at=item.first_unanswered_at,
    )


async def _record(scope: BatchScope, outcomes: list[Outcome], calls: int) -> Counter:
    return await record_outcomes(
        scope.deps.sessions,
        outcomes=outcomes,
        connection_id=scope.connection_id,
        run_id=scope.run_id,
        calls=calls,
        pushed_with=scope.settings,
    )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
