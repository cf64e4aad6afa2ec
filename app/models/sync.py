"""Links (the sync symbol), attempts (REFRESH LOGS, Error log) and runs (Sync process log)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, Json, UtcDateTime, new_uuid, utcnow


class LinkState:
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"
    SKIPPED = "skipped"


class Link(Base):
    """Record × connection. A pending link is the durable work item."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("connection_id", "record_id"),
        # Reading back what one claim took.
        Index(
            "ix_links_claim_token",
            "claim_token",
            postgresql_where=text("claim_token IS NOT NULL"),
            sqlite_where=text("claim_token IS NOT NULL"),
        ),
        # Waking what waits on a record that arrived or synced.
        Index(
            "ix_links_waiting_for",
            "connection_id",
            "waiting_for",
            postgresql_where=text("waiting_for IS NOT NULL"),
            sqlite_where=text("waiting_for IS NOT NULL"),
        ),
        # One program object per record of a kind: ids are unique per entity type only, since
        # QuickBooks numbers each entity's ids on its own (Customer 1 and Item 1 both exist).
        Index(
            "uq_links_connection_id_entity_type_external_id",
            "connection_id",
            "entity_type",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
            sqlite_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))  # copied from the record: claim order, filters
    state: Mapped[str] = mapped_column(String(16), default=LinkState.PENDING)
    action: Mapped[str | None] = mapped_column(String(16), default=None)  # created | updated | archived | voided | deleted
    external_id: Mapped[str | None] = mapped_column(String(100), default=None)
    # The program's version of the object (QuickBooks' SyncToken), opaque to the engine.
    remote_version: Mapped[str | None] = mapped_column(String(100), default=None)
    # Digest of the mapped fields the program held after our last push (app.connectors.digest):
    # a later read-back differing from it is a real change there, whatever the version says.
    remote_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    advice: Mapped[str | None] = mapped_column(Text, default=None)
    # The content last tried; differs from the record's hash when the POS changed it meanwhile.
    attempted_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    last_synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    retries: Mapped[int] = mapped_column(Integer, default=0)  # consecutive transient failures
    # The key of the call (Xero's Idempotency-Key, QuickBooks' requestid) this content's create was
    # last sent in without an answer, or is being sent in right now (announced before it leaves),
    # and when the first unanswered try under that key was made: while the program still remembers
    # the key, a retry that is the very same call needs no look-up. Set only when no earlier lost try
    # under another key can hold an object (app.sync.announce.vouched).
    lost_call_key: Mapped[str | None] = mapped_column(String(128), default=None)
    first_unanswered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # "<entity type>:<POS id>" of the record this link waits for (a sale's product); woken when it
    # arrives or syncs (app.sync.wake).
    waiting_for: Mapped[str | None] = mapped_column(String(200), default=None)
    # What the program last reported doing to the object (a webhook): updated, deleted, voided …
    program_change: Mapped[str | None] = mapped_column(String(16), default=None)
    program_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    claim_token: Mapped[str | None] = mapped_column(String(36), default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# The pending links, in the order the worker's claim takes them (app.sync.claim.CLAIM_ORDER): within
# one connection and entity type, the links of an unanswered call first, then retries, oldest
# first. A claim then reads only the rows it takes, however long the connection's backlog. It is
# the only index of pending links: with a second one (by due time, as before), a planner whose
# statistics predate a big import took that one and sorted the whole backlog on every claim.
Index(
    "ix_links_claim",
    Link.connection_id,
    Link.entity_type,
    Link.lost_call_key,
    Link.retries.desc(),
    Link.next_attempt_at,
    Link.id,
    postgresql_where=text("state = 'pending'"),
    sqlite_where=text("state = 'pending'"),
)


# What a re-pend (new content, new settings, a wake-up) forgets: the lost call's key, which named
# the old content's call. When a create first went unanswered is kept until a push goes through:
# that create may have made an object whatever the record became since, so the next create of it
# is looked up first (app.connectors.base, "Lost answers").
FORGET_LOST_CALL = {"lost_call_key": None}


class AttemptOutcome:
    CREATED = "created"
    UPDATED = "updated"
    # The record was undone in the program (deleted in the POS, or a synced sale voided).
    ARCHIVED = "archived"
    VOIDED = "voided"
    DELETED = "deleted"
    FAILED = "failed"  # permanent: waits for a change
    RETRY = "retry"  # transient: stays pending
    SKIPPED = "skipped"


class Attempt(Base):
    """One try to push one record through one connection."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_link_id_id", "link_id", "id"),
        Index("ix_attempts_errors", "connection_id", "id", postgresql_where=text("outcome IN ('failed', 'retry')"),
              sqlite_where=text("outcome IN ('failed', 'retry')")),
        # The Error log filtered by entity type: only that type's failures, newest first.
        Index("ix_attempts_errors_entity_type", "connection_id", "entity_type", "id",
              postgresql_where=text("outcome IN ('failed', 'retry')"), sqlite_where=text("outcome IN ('failed', 'retry')")),
        # … and by error code.
        Index("ix_attempts_errors_error_code", "connection_id", "error_code", "id",
              postgresql_where=text("outcome IN ('failed', 'retry')"), sqlite_where=text("outcome IN ('failed', 'retry')")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    pos_id: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(100), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    advice: Mapped[str | None] = mapped_column(Text, default=None)
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    request_id: Mapped[str | None] = mapped_column(String(100), default=None)
    content_hash: Mapped[str] = mapped_column(String(64))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RunTrigger:
    SCHEDULE = "schedule"
    SYNC_NOW = "sync_now"
    WEBHOOK = "webhook"
    MANUAL = "manual"
    INGEST = "ingest"
    # A re-check of a period against the program (POST /v1/connections/{id}/resync): its run counts
    # the records re-queued as `updated` and those found the same as `skipped`.
    RESYNC = "resync"


class RunStatus:
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its job died (killed worker, lost database); closed by the sweeper


class Run(Base):
    """One sync pass of one connection, with its counts."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_connection_id_created_at", "connection_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    retried: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)  # push calls made to the program
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Renewed by the job while it works; a running run whose heartbeat stopped lost its job.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # What the run was asked to do, when more than "push what is due" (a resync's period and types).
    params: Mapped[dict[str, Any] | None] = mapped_column(Json, default=None)
