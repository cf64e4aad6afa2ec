"""Engine and session factory, one per process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.settings import Settings


def create_private_file(path: Path) -> None:
    """Create `path` readable by its owner only (0600), unless it exists; SQLite then creates its
    -wal and -shm files with the same mode. Created with that mode, never chmod-ed after, so it is
    not readable by others even for a moment."""
    if str(path) in ("", ":memory:"):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


def make_engine(settings: Settings, *, fresh_plans: bool = False) -> AsyncEngine:
    """The engine of a process. `fresh_plans` (workers): PostgreSQL plans every statement for its
    own values instead of reusing a generic plan, which it keeps for the connection's life once
    made: one made while a table was small (a new install, a new shop) scans the whole table for
    every batch once it has grown, until an ANALYZE or a reconnect (a claim took 0.3-1.9 s at a
    million links, and the drain slowed fourfold). A worker's statements each serve a batch, so
    planning them afresh costs little; the API's short reads keep their generic plans."""
    if settings.embedded_database:
        if settings.sqlite_path is not None:
            create_private_file(settings.sqlite_path)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            # WAL lets the API read while the in-process jobs write; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # hide_parameters: a failed statement's error must not carry shop data (emails, names) into logs.
    # No pre-ping: it cost a round trip on every checkout. A connection the server dropped fails its
    # first statement instead; SQLAlchemy then invalidates every older pooled connection (the request
    # answers 503, see is_database_outage) and the next checkout connects afresh. pool_recycle retires
    # connections before a firewall or server idle timeout can drop them silently. The pool holds
    # enough for the API's concurrency (16 requests in flight, each one connection at a time).
    # JIT off: every statement here is short, and a plan whose estimate crossed jit_above_cost (a
    # claim's sort priced out, see app.sync.claim) spent a second compiling what runs in a millisecond.
    server_settings = {"jit": "off"}
    if fresh_plans:
        server_settings["plan_cache_mode"] = "force_custom_plan"
    return create_async_engine(
        settings.database_url, pool_size=20, max_overflow=10, pool_pre_ping=False, pool_recycle=1800,
        hide_parameters=True, connect_args={"server_settings": server_settings},
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_autocommit_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose every statement commits by itself, for reads and for writes of a single
    statement: on PostgreSQL they cost their statements' round trips alone, without a BEGIN and
    a COMMIT or ROLLBACK around them (a sale's sync made six such). At READ COMMITTED,
    PostgreSQL's default and this project's, each statement of a transaction takes its own
    snapshot anyway, so a read sees the same either way. Never for two writes that must commit
    together. The pool is the engine's own; the driver's switch is client-side (no statement on
    checkout or return). SQLite (embedded mode) keeps its transactions, so a write still goes
    through `transaction(...)`, which commits there and sends nothing more on PostgreSQL."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose work commits on success and rolls back on any exception."""
    async with factory() as session, session.begin():
        yield session


async def database_answers(engine: AsyncEngine, *, within_s: float, look_every_s: float = 0.5) -> bool:
    """Wait until the database answers a `SELECT 1` (True), or `within_s` has passed (False).

    Each look that finds a pooled connection the server dropped makes SQLAlchemy invalidate it
    and every older one, so the next look (and the work after it) connects afresh."""
    from sqlalchemy import text

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # noqa: BLE001 - judged just below: only an outage is waited out
            if not is_database_outage(exc) or loop.time() + look_every_s > deadline:
                return False
        await asyncio.sleep(look_every_s)


def is_database_outage(exc: BaseException) -> bool:
    """True when the database could not be reached or dropped the connection (a retry later helps),
    as opposed to a statement it refused (a bug or a constraint)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, (OSError, TimeoutError, sa_exc.TimeoutError)):
        return True  # connection refused or reset, connect timeout, pool exhausted
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        cause = exc.orig.__cause__ if exc.orig is not None else None
        return cause is not None and _transient_asyncpg_error(cause)
    return _transient_asyncpg_error(exc)  # raised by asyncpg itself (app.api.request_db's look-up)


def _transient_asyncpg_error(exc: BaseException) -> bool:
    # Deadlocks and serialization failures are transient too: the same request again succeeds, as
    # it does once the server has a connection slot, memory or disk again (InsufficientResources).
    # InternalClientError: a statement sent on a connection whose server has just sent its
    # termination notice ("cannot switch to state …; another operation is in progress").
    return type(exc).__module__.startswith("asyncpg") and any(
        base.__name__ in ("PostgresConnectionError", "InterfaceError", "InternalClientError",
                          "OperatorInterventionError", "DeadlockDetectedError", "SerializationError",
                          "InsufficientResourcesError")
        for base in type(exc).__mro__
    )
