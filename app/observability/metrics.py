"""Prometheus metrics, served at /metrics by the API and by each worker's own port."""

from prometheus_client import Counter, Histogram

RECORDS_INGESTED = Counter(
    "possync_records_ingested_total", "Records received from the POS", ["entity_type", "result"]
)
PUSHES = Counter("possync_pushes_total", "Records pushed to programs, by outcome", ["connector", "outcome"])
REQUEST_SECONDS = Histogram(
    "possync_http_request_seconds", "API request duration", ["method", "route", "status"]
)
SWEEPS = Counter("possync_sweeps_total", "Sweeper passes that re-rang connections")
