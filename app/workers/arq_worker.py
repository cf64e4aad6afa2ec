"""arq WorkerSettings: `possync worker` (or `arq app.workers.arq_worker.WorkerSettings`)."""

from __future__ import annotations

from arq import cron, func
from arq.connections import RedisSettings
from prometheus_client import start_http_server

from app.core.heap import HeapTrimmer
from app.logging import configure_logging
from app.settings import get_settings
from app.sync.deps import SyncDeps, build_deps
from app.sync.resync import SLICE_S
from app.workers.bell import RESYNC_JOB, RING_JOB, SYNC_JOB, WEBHOOK_JOB, ArqBell
from app.workers.jobs import (
    process_webhooks_job,
    resync_job,
    ring_later_job,
    sync_connection_job,
)
from app.workers.periodic import cron_times, prune_job, schedule_job, sweep_job

# Only bounds a job that hangs: no ring waits on a job id, so a killed job's in-progress marker
# (kept by arq for this long plus 10 s) blocks nothing.
JOB_TIMEOUT_S = 3600

# A resync slice hands its run on after SLICE_S; the rest bounds the page it was on (PAGE links,
# read back in chunks through the rate limits) and its last writes.
RESYNC_JOB_TIMEOUT_S = int(SLICE_S) + 180

_process_deps: SyncDeps | None = None  # kept across worker restarts (a Redis outage) of one process
_metrics_served = False


async def on_startup(ctx: dict) -> None:
    global _process_deps, _metrics_served
    settings = get_settings()
    configure_logging(settings)
    if settings.worker_metrics_port and not _metrics_served:
        # The worker serves no HTTP otherwise; its push counters are scraped here.
        start_http_server(settings.worker_metrics_port, addr="0.0.0.0")
        _metrics_served = True
    if _process_deps is None:
        _process_deps = build_deps(settings, fresh_plans=True)
    _process_deps.bell = ArqBell(ctx["redis"], settings.jobs_per_connection)
    ctx["deps"] = _process_deps
    ctx["heap"] = HeapTrimmer()


async def after_job_end(ctx: dict) -> None:
    # After jobs rather than on a timer: an idle worker allocates nothing to give back.
    ctx["heap"].maybe_trim()


async def on_shutdown(ctx: dict) -> None:
    global _process_deps
    deps = ctx.get("deps")
    if deps is not None:
        await deps.aclose()
        if deps is _process_deps:
            _process_deps = None


def worker_settings() -> dict:
    settings = get_settings()
    if settings.redis_url is None:
        raise SystemExit("possync worker needs REDIS_URL; without it, `possync serve` runs the jobs itself.")
    return {
        "functions": [
            # keep_result=0: nothing reads results, and none should linger in Redis.
            func(sync_connection_job, name=SYNC_JOB, keep_result=0, timeout=JOB_TIMEOUT_S, max_tries=3),
            func(ring_later_job, name=RING_JOB, keep_result=0, timeout=60, max_tries=3),
            func(process_webhooks_job, name=WEBHOOK_JOB, keep_result=0, timeout=300, max_tries=3),
            # A killed slice is not retried by arq: the sweeper rings its run once its heartbeat stops.
            func(resync_job, name=RESYNC_JOB, keep_result=0, timeout=RESYNC_JOB_TIMEOUT_S, max_tries=1),
        ],
        "cron_jobs": [
            cron(sweep_job, name="sweep", **cron_times(settings.sweep_interval_s), run_at_startup=True,
                 keep_result=0, unique=True, timeout=120),
            # A worker starting late still fires what fell due meanwhile; the claim makes it once.
            cron(schedule_job, name="schedule", **cron_times(settings.schedule_tick_s), run_at_startup=True,
                 keep_result=0, unique=True, timeout=120),
            cron(prune_job, name="prune", minute=7, second=0, keep_result=0, unique=True, timeout=1800),
        ],
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "after_job_end": after_job_end,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "max_jobs": 20,
        "poll_delay": settings.worker_poll_delay_s,
        "handle_signals": True,
    }


def __getattr__(name: str) -> dict:
    # `arq app.workers.arq_worker.WorkerSettings` works too (arq takes a dict; that worker looks at
    # the queue every poll delay without the wake-up of app.workers.wakeup); built on first use,
    # so importing this module never needs REDIS_URL.
    if name == "WorkerSettings":
        return worker_settings()
    raise AttributeError(name)


def run_forever(*, burst: bool = False) -> None:
    """`possync worker`: an arq worker that outlives Redis outages.

    arq's worker ends when its Redis connection breaks; this starts a fresh one with back-off
    (1 s doubling to 10 s) until Redis answers again. It stops on SIGTERM/SIGINT or, with
    `burst`, once the queue is empty. Database outages do not end it: a job that loses the
    database fails, hands back its batch, and the sweeper rings again once it is back.
    """
    import signal
    import time

    import structlog
    from redis.exceptions import RedisError

    from app.workers.wakeup import WakeableWorker

    log = structlog.get_logger(__name__)
    delay_s = 1.0
    while True:
        started = time.monotonic()
        try:
            WakeableWorker(**worker_settings(), burst=burst).run()
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() - started > 60:
                delay_s = 1.0  # it had been running fine: start the back-off afresh
            log.warning("worker_lost_redis", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay_s)
        # arq's signal handlers belong to the worker that just ended: stop on a signal while waiting.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 10.0)
