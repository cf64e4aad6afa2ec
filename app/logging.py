"""structlog: JSON lines with request and run ids; secrets never reach a log line.

The standard library's loggers (uvicorn, SQLAlchemy, arq) go through the same processors, so a
traceback from anywhere is one JSON line with the traceback inside, never loose text lines.
"""

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
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    # In JSON the traceback becomes the "exception" field of the one line.
    exc_info = [structlog.processors.format_exc_info] if settings.log_json else []
    structlog.configure(
        processors=[*shared, *exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *exc_info, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print plain text beside ours.
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
