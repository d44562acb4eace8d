"""What the processes count for Prometheus (prometheus_client, the process-wide registry), and its exposition.

Every process serves its own figures: a web process on ``GET /metrics`` of its own port (asks for
``Authorization: Bearer $METRICS_TOKEN``), a worker on ``WORKER_METRICS_PORT``, telephony on
``TELEPHONY_PORT``. Prometheus scrapes each process (not through the load balancer: that would hit a
different process each time). Several processes of a host may instead share one view: start them all with
``PROMETHEUS_MULTIPROC_DIR`` set to an empty directory of their own (prometheus_client's multi-process mode);
then any of them serves the sum (gauges: the live processes' sum, the lag: the maximum).

An observation is a lock and an add in memory (about a microsecond; measured against the screen pop in
README, Performance): nothing here does I/O on the request's path.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_FAST = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

#: stage "worker": call event on the stream (its entry id's time) → applied, committed and published;
#: stage "web": the Pub/Sub message in the web process → the card written to the operator's socket.
SCREEN_POP = Histogram("tm_screen_pop_seconds", "Screen pop latency by stage", ["stage"], buckets=_FAST)
SOCKETS_OPEN = Gauge("tm_operator_sockets_open", "Operator WebSockets open", multiprocess_mode="livesum")
#: saved_in_time / saved_late (a result after its window or from the rework list) / expired_to_draft
WINDOW_OUTCOMES = Counter("tm_result_window_outcomes", "Result windows by how they ended", ["outcome"])
#: kind draft|result, status ok|refused (a 4xx: conflict, mismatch, not found)
SAVES = Counter("tm_saves", "Operators' saves of drafts and results", ["kind", "status"])
SAVE_SECONDS = Histogram("tm_save_seconds", "Draft and result saves, handler time", ["kind"], buckets=_FAST)
STREAM_LAG = Gauge("tm_call_event_lag_seconds", "Age of the last call event applied (stream entry → applied)",
                   multiprocess_mode="max")
CALL_EVENTS = Counter("tm_call_events", "Call events consumed by outcome", ["outcome"])
#: service blacklist|ml|products|client-data, outcome ok|error
INTEGRATION_SECONDS = Histogram("tm_integration_request_seconds", "Requests to the outside services",
                                ["service", "outcome"], buckets=_FAST)
#: outcome ok|error (status 429 and 5xx included)
PROVIDER_SECONDS = Histogram("tm_provider_request_seconds", "Requests to the telephony provider", ["outcome"],
                             buckets=_FAST)
#: outcome accepted|rejected
IMPORT_ROWS = Counter("tm_import_rows", "Lead rows imported", ["outcome"])
#: decision: passed, or the filter that dropped the lead
CASCADE_DECISIONS = Counter("tm_cascade_decisions", "Filter cascade decisions per lead", ["decision"])


def exposition() -> tuple[bytes, str]:
    """The text Prometheus reads, and its content type: this process's registry, or with
    PROMETHEUS_MULTIPROC_DIR the host's processes together."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
