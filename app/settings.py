"""Configuration from the environment (twelve-factor), read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.connectors.quickbooks.env import QuickBooksEnv
from app.connectors.xero.env import XeroEnv

DEFAULT_SQLITE_FILE = "possync.db"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of an http(s) URL, lower-case, default port left out; None if not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    shown = f":{port}" if port and port != _DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{shown}"


# Each connector declares its own environment settings (app/connectors/<name>/env.py); they are
# read here with the rest, once.
class Settings(BaseSettings, XeroEnv, QuickBooksEnv):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    database_url: str = Field(default=f"sqlite+aiosqlite:///./{DEFAULT_SQLITE_FILE}", alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    encryption_keys: str | None = Field(default=None, alias="POSSYNC_ENCRYPTION_KEYS")
    public_url: str = Field(default="http://127.0.0.1:8000", alias="POSSYNC_PUBLIC_URL")
    # Where an OAuth flow may send the browser back to (comma-separated origins); default: the
    # public URL's origin. Anything else would make the callback an open redirect.
    return_url_origins: str | None = Field(default=None, alias="POSSYNC_RETURN_URL_ORIGINS")
    log_level: str = Field(default="INFO", alias="POSSYNC_LOG_LEVEL")
    log_json: bool = Field(default=True, alias="POSSYNC_LOG_JSON")

    # Sync engine tuning.
    batch_size: int = Field(default=50, ge=1, le=1000, alias="POSSYNC_BATCH_SIZE")
    # A claimed batch is held this long, renewed by the job's heartbeat while it works: a dead
    # job's batch is free again within one lease.
    claim_lease_s: int = Field(default=6, ge=3, le=3600, alias="POSSYNC_CLAIM_LEASE_S")
    sweep_interval_s: int = Field(default=10, ge=1, alias="POSSYNC_SWEEP_INTERVAL_S")
    # The longest an idle `possync worker` waits before looking at its queue: rung jobs wake it at
    # once (app.workers.wakeup); deferred rings and the sweep are due by the clock and wait up to this.
    worker_poll_delay_s: float = Field(default=0.5, ge=0.005, le=5, alias="POSSYNC_WORKER_POLL_DELAY_S")
    retry_horizon_s: int = Field(default=60, ge=0, alias="POSSYNC_RETRY_HORIZON_S")
    jobs_per_connection: int = Field(default=2, ge=1, le=16, alias="POSSYNC_JOBS_PER_CONNECTION")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, alias="POSSYNC_MAX_BODY_BYTES")
    # sync-status and the Sync panel answered by the gate itself on PostgreSQL (app.api.fast_reads);
    # off, the FastAPI routes answer them with the same bytes, slower.
    fast_reads: bool = Field(default=True, alias="POSSYNC_FAST_READS")
    # A program's webhook delivery lists changed ids only (kilobytes); anyone may send one, so the
    # body read before the signature is checked stays small.
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, alias="POSSYNC_WEBHOOK_MAX_BODY_BYTES")
    # How often each connection's program is asked what changed (webhooks lost while possync was down
    # or unreachable): QuickBooks' Change Data Capture, Xero's If-Modified-Since; 0 turns it off.
    catch_up_interval_s: int = Field(default=900, ge=0, alias="POSSYNC_CATCH_UP_INTERVAL_S")
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535, alias="POSSYNC_WORKER_METRICS_PORT")
    # /metrics shows every store's counts: served to holders of this token, or on its own port.
    metrics_token: str | None = Field(default=None, alias="POSSYNC_METRICS_TOKEN")
    metrics_port: int | None = Field(default=None, ge=1, le=65535, alias="POSSYNC_METRICS_PORT")
    # Requests one store may make (the `limits` notation: "1200/minute", "50/second").
    store_rate_limit: str = Field(default="1200/minute", alias="POSSYNC_STORE_RATE_LIMIT")
    http_timeout_s: float = Field(default=30.0, gt=0, le=300, alias="POSSYNC_HTTP_TIMEOUT_S")
    # The sandbox program answers each call after this long, like a real program would (demos,
    # the fault suite: a worker must be mid-call when it is killed).
    sandbox_latency_ms: int = Field(default=0, ge=0, le=60_000, alias="POSSYNC_SANDBOX_LATENCY_MS")
    sandbox_fault_rate: float = Field(default=0.0, ge=0.0, le=1.0, alias="POSSYNC_SANDBOX_FAULT_RATE")
    # How often due scheduled runs are looked for (a connection's `schedule` setting); a run fires
    # within one tick of its moment.
    schedule_tick_s: int = Field(default=60, ge=1, le=60, alias="POSSYNC_SCHEDULE_TICK_S")
    # Bounded logs: attempts (Error log, REFRESH LOGS) and runs (Sync process log) older than these
    # are pruned hourly; the latest attempt of each record's link is always kept.
    attempts_keep_days: int = Field(default=90, ge=1, alias="POSSYNC_ATTEMPTS_KEEP_DAYS")
    runs_keep_days: int = Field(default=365, ge=1, alias="POSSYNC_RUNS_KEEP_DAYS")
    prune_batch: int = Field(default=5000, ge=1, le=100_000, alias="POSSYNC_PRUNE_BATCH")

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError(
                "DATABASE_URL must start with postgresql+asyncpg:// or sqlite+aiosqlite:// "
                f"(got {value.split('://', 1)[0]}://…)"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("POSSYNC_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        return level

    @model_validator(mode="after")
    def _keys_outside_embedded_mode(self) -> "Settings":
        # Outside embedded mode there is no safe place to invent a key: a generated one would
        # differ per process and make every stored token unreadable.
        if not self.embedded_database and not self.encryption_keys:
            raise ValueError("POSSYNC_ENCRYPTION_KEYS is required when DATABASE_URL is not SQLite")
        return self

    @model_validator(mode="after")
    def _runs_outlive_attempts(self) -> "Settings":
        # An attempt names its run; the Sync process log must not lose runs whose tries are still shown.
        if self.runs_keep_days < self.attempts_keep_days:
            raise ValueError("POSSYNC_RUNS_KEEP_DAYS must be at least POSSYNC_ATTEMPTS_KEEP_DAYS")
        return self

    @field_validator("store_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError("POSSYNC_STORE_RATE_LIMIT must read like '1200/minute'") from exc
        return value

    @field_validator("return_url_origins")
    @classmethod
    def _origins(cls, value: str | None) -> str | None:
        for item in (value or "").split(","):
            if item.strip() and origin_of(item) is None:
                raise ValueError(f"POSSYNC_RETURN_URL_ORIGINS holds '{item.strip()}', not an http(s) origin")
        return value

    @property
    def return_url_origin_set(self) -> frozenset[str]:
        given = [origin_of(o) for o in (self.return_url_origins or "").split(",") if o.strip()]
        return frozenset(o for o in given if o) or frozenset({origin_of(self.public_url)} - {None})

    @property
    def embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded_jobs(self) -> bool:
        return self.redis_url is None

    @property
    def sqlite_path(self) -> Path | None:
        if not self.embedded_database:
            return None
        raw = self.database_url.split(":///", 1)[-1]
        return None if raw in ("", ":memory:") else Path(raw)


@lru_cache
def get_settings() -> Settings:
    return Settings()
