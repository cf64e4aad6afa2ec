"""Prometheus metrics, served at /metrics by the API and by each worker's own port."""

from prometheus_client import Counter, Histogram

RECORDS_INGESTED = Counter(
    "possync_records_ingested_total", "Records received from the POS", ["entity_type", "result"]
)
PUSHES = Counter("possync_pushes_total", "Records pushed to programs, by outcome", ["connector", "outcome"])
REQUEST_SECONDS = Histogram(
    "possync_http_request_seconds", "API request duration", ["method", "route", "status"]
)
# Label values come from closed sets only: a label copied from a request lets anyone grow the
# registry (and every scrape) without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else "other"


SWEEPS = Counter("possync_sweeps_total", "Sweeper passes that re-rang connections")
