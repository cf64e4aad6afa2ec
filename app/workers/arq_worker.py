"""arq WorkerSettings: `possync worker` (or `arq app.workers.arq_worker.WorkerSettings`)."""

from __future__ import annotations

from arq import cron, func
from arq.connections import RedisSettings
from prometheus_client import start_http_server

from app.logging import configure_logging
from app.settings import get_settings
from app.sync.bell import SYNC_JOB, ArqBell
from app.sync.deps import build_deps
from app.workers.jobs import sweep_job, sync_connection_job

JOB_TIMEOUT_S = 3600


async def on_startup(ctx: dict) -> None:
    settings = get_settings()
    configure_logging(settings)
    if settings.worker_metrics_port:
        # The worker serves no HTTP otherwise; its push counters are scraped here.
        start_http_server(settings.worker_metrics_port, addr="0.0.0.0")
    deps = build_deps(settings)
    deps.bell = ArqBell(ctx["redis"], settings.jobs_per_connection)
    ctx["deps"] = deps


async def on_shutdown(ctx: dict) -> None:
    deps = ctx.get("deps")
    if deps is not None:
        await deps.aclose()


def _sweep_seconds(interval_s: int) -> set[int]:
    return set(range(0, 60, interval_s)) if interval_s < 60 else {0}


def worker_settings() -> dict:
    settings = get_settings()
    if settings.redis_url is None:
        raise SystemExit("possync worker needs REDIS_URL; without it, `possync serve` runs the jobs itself.")
    return {
        "functions": [
            # keep_result=0: a finished job must not block the next ring with the same job id.
            func(sync_connection_job, name=SYNC_JOB, keep_result=0, timeout=JOB_TIMEOUT_S, max_tries=3),
        ],
        "cron_jobs": [
            cron(sweep_job, name="sweep", second=_sweep_seconds(settings.sweep_interval_s), run_at_startup=True,
                 keep_result=0, unique=True),
        ],
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "max_jobs": 20,
        "handle_signals": True,
    }


def __getattr__(name: str) -> dict:
    # `arq app.workers.arq_worker.WorkerSettings` works too (arq takes a dict); built on first use,
    # so importing this module never needs REDIS_URL.
    if name == "WorkerSettings":
        return worker_settings()
    raise AttributeError(name)
