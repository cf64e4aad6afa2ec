"""Resolving what a batch refers to: external ids known, dependencies to push first, or blockers."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connectors.base import Connector
from app.connectors.errors import PermanentError, SyncError, TransientError
from app.entities import ENTITY_TYPES, unique_references
from app.models import Link, LinkState, Record
from app.models.base import utcnow
from app.sync import bulk
from app.sync.claim import Claimed

Ref = tuple[str, str]
IN_FLIGHT = "dependency_pending"
RETRYING = "dependency_retrying"


@dataclass
class Resolution:
    external_ids: dict[Ref, str] = field(default_factory=dict)
    to_push_first: list[int] = field(default_factory=list)  # link ids of due pending dependencies
    # Why a reference holds its dependents back; those to push first are here too, until pushed.
    # Transient while the dependency is on its way; permanent (the record shows red with advice)
    # when it is missing or refused: the dependent is woken when it arrives or syncs (app.sync.wake).
    blockers: dict[Ref, SyncError] = field(default_factory=dict)

    @property
    def in_flight(self) -> bool:
        """A dependency is being pushed right now (here or by another job): worth a short wait."""
        return any(b.code == IN_FLIGHT for b in self.blockers.values())


async def resolve(
    sessions: async_sessionmaker[AsyncSession],
    *,
    store_id: uuid.UUID,
    connection_id: uuid.UUID,
    connector: Connector,
    settings,
    items: list[Claimed],
) -> Resolution:
    wanted: dict[str, set[str]] = defaultdict(set)
    for item in items:
        for ref_type, pos_id in unique_references(item.entity_type, item.payload):
            # A type this connection does not sync is the connector's to cope with (walk-in contact…).
            if connector.syncs(ref_type, settings):
                wanted[ref_type].add(pos_id)
    found: dict[Ref, tuple] = {}
    if wanted:
        async with sessions() as session:
            for ref_type, pos_ids in wanted.items():
                if session.bind.dialect.name == "postgresql":
                    # One probe a POS id: as an IN list, stale statistics made the ids a filter over
                    # every record of the type, for every batch (app.sync.bulk).
                    rows = await bulk.referenced(session, store_id=store_id, connection_id=connection_id,
                                                 entity_type=ref_type, pos_ids=sorted(pos_ids))
                else:
                    rows = (await session.execute(
                        select(Record.pos_id, Link.id, Link.state, Link.external_id, Link.error,
                               Link.next_attempt_at, Link.claimed_until)
                        .outerjoin(Link, and_(Link.record_id == Record.id, Link.connection_id == connection_id))
                        .where(Record.store_id == store_id, Record.entity_type == ref_type,
                               Record.pos_id.in_(pos_ids))
                    )).all()
                for pos_id, *link in rows:
                    found[(ref_type, pos_id)] = tuple(link)
    resolution = Resolution()
    for ref_type, pos_ids in wanted.items():
        title = ENTITY_TYPES[ref_type].title.lower()
        for pos_id in pos_ids:
            ref = (ref_type, pos_id)
            if ref not in found:
                resolution.blockers[ref] = PermanentError(
                    f"Waiting for {title} {pos_id}, which possync has not received.",
                    code="missing_dependency",
                    advice=f"Send {title} {pos_id} from the POS; this record then syncs by itself.",
                )
                continue
            link_id, state, external_id, error, next_attempt_at, claimed_until = found[ref]
            now = utcnow()
            in_flight = claimed_until is not None and claimed_until > now
            if external_id:
                resolution.external_ids[ref] = external_id
            elif state == LinkState.PENDING and not in_flight and next_attempt_at > now:
                # Backing off after a failed call: pushing it early would split that call's group
                # and lose its idempotency key, so the dependent waits for the retry instead.
                resolution.blockers[ref] = TransientError(
                    f"Waiting for {title} {pos_id}, which is being retried: {error}",
                    code=RETRYING,
                    advice=f"Nothing to do unless {title} {pos_id} keeps failing (see its sync panel).",
                )
            elif state == LinkState.PENDING:
                if not in_flight:
                    resolution.to_push_first.append(link_id)
                resolution.blockers[ref] = TransientError(
                    f"Waiting for {title} {pos_id}, which is still being synced.",
                    code=IN_FLIGHT,
                    advice=f"Nothing to do: this record follows once {title} {pos_id} is synced.",
                )
            elif state == LinkState.FAILED:
                resolution.blockers[ref] = PermanentError(
                    f"Waiting for {title} {pos_id}, which failed to sync: {error}",
                    code="dependency_failed",
                    advice=f"Fix {title} {pos_id} first (see its sync panel); this record then follows.",
                )
            # skipped or no link: the program does not get it, so there is nothing to refer to.
    return resolution


def blocker_for(item: Claimed, resolution: Resolution) -> tuple[Ref, SyncError] | None:
    """The first reference that holds this record back, and why."""
    for ref in unique_references(item.entity_type, item.payload):
        if ref in resolution.blockers:
            return ref, resolution.blockers[ref]
    return None
