"""structlog: JSON lines with request and run ids; secrets never reach a log line."""

from __future__ import annotations

import logging
import sys

import structlog

from app.settings import Settings

REDACTED_KEYS = {"authorization", "access_token", "refresh_token", "api_key", "code", "client_secret", "token"}


def _redact(_logger, _name, event: dict) -> dict:
    for key in list(event):
        if key.lower() in REDACTED_KEYS:
            event[key] = "***"
    return event


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level)
    renderer = structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
