"""`possync`: serve, worker, migrate, store create, fault-suite."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer
from pydantic import ValidationError

from app.settings import Settings

cli = typer.Typer(help="possync: keeps POS records in step with Xero, QuickBooks Online and more.",
                  no_args_is_help=True, add_completion=False)
store_cli = typer.Typer(help="Stores (tenants) and their API keys.", no_args_is_help=True)
cli.add_typer(store_cli, name="store")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            typer.echo(f"configuration error: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from app.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@cli.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API (and, with no REDIS_URL, the sync jobs in the same process)."""
    import uvicorn

    from app.migrate import upgrade

    settings = _settings()
    if settings.embedded_database:
        upgrade(settings.database_url)  # embedded mode is one command from nothing to running
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=host)
    uvicorn.run(serving_app(settings), host=host, port=port, log_config=None, access_log=False)


def serving_app(settings: Settings):
    """The app `serve` runs, its OpenAPI built and the start-up heap frozen (app.core.heap)."""
    from app.core.heap import freeze_startup_heap
    from app.main import create_app

    app = create_app(settings)
    app.openapi()  # built now, so its objects are frozen with the rest rather than on the first 405
    freeze_startup_heap()
    return app


@cli.command()
def worker(burst: bool = typer.Option(False, help="Exit once the queue is empty.")) -> None:
    """Run an arq worker (needs REDIS_URL). Start as many as you like, on any machine.

    It waits out Redis and database outages (reconnecting with back-off) instead of exiting."""
    from app.workers.arq_worker import run_forever

    _settings()
    run_forever(burst=burst)


@cli.command("fault-suite", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                              "help_option_names": []})
def fault_suite(ctx: typer.Context) -> None:
    """Run the fault suite (bench/faults.py) from a source checkout; every option is passed on
    (`possync fault-suite --help` lists them). It starts its own PostgreSQL, Redis, API and workers."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "bench" / "faults.py").is_file() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))  # the console script does not put the checkout on the path
    try:
        from bench.faults import main as run_suite
    except ImportError as exc:  # an installed wheel carries the service, not its benches
        typer.echo("the fault suite runs from a source checkout of possync (bench/ is not installed)", err=True)
        raise typer.Exit(2) from exc
    run_suite(list(ctx.args))


@store_cli.command("create")
def store_create(name: str) -> None:
    """Create a store; its API key is printed on the last line (shown once, stored hashed)."""
    from app.db import make_engine, make_session_factory, transaction
    from app.stores.service import create_store

    settings = _settings()

    async def _create() -> tuple[str, str]:
        engine = make_engine(settings)
        try:
            async with transaction(make_session_factory(engine)) as session:
                store, key = await create_store(session=session, name=name)
                return str(store.id), key
        finally:
            await engine.dispose()

    store_id, key = asyncio.run(_create())
    typer.echo(f"store {store_id} created: {name}")
    typer.echo(key)


def _run_in_transaction(settings: Settings, work):
    from app.db import make_engine, make_session_factory, transaction

    async def _go():
        engine = make_engine(settings)
        try:
            async with transaction(make_session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(_go())


def _store_id(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError as exc:
        typer.echo(f"not a store id: {value}", err=True)
        raise typer.Exit(2) from exc


@store_cli.command("rotate-key")
def store_rotate_key(
    store_id: str,
    grace_hours: float = typer.Option(24.0, min=0, help="How long the store's old keys keep working."),
) -> None:
    """A new API key (printed on the last line); the old keys stop after the grace period."""
    from datetime import timedelta

    from app.stores.service import rotate_key

    settings = _settings()
    sid = _store_id(store_id)

    async def work(session):
        from app.models import Store

        if await session.get(Store, sid) is None:
            return None
        return await rotate_key(session=session, store_id=sid, grace=timedelta(hours=grace_hours))

    rotated = _run_in_transaction(settings, work)
    if rotated is None:
        typer.echo(f"no store {store_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"old keys of store {store_id} stop working at {rotated.old_keys_valid_until.isoformat()}")
    typer.echo(rotated.key)


@store_cli.command("revoke-key")
def store_revoke_key(
    store_id: str,
    prefix: str = typer.Option(None, help="Only the key starting with this prefix (default: every key)."),
) -> None:
    """Revoke at once one key of a store (by prefix) or all of them."""
    from app.stores.service import revoke_keys

    settings = _settings()
    sid = _store_id(store_id)
    count = _run_in_transaction(settings, lambda session: revoke_keys(session=session, store_id=sid, prefix=prefix))
    typer.echo(f"{count} key(s) revoked")
    if count == 0:
        raise typer.Exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
