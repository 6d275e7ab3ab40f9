"""What the Microsoft Graph client counts for Prometheus (issue 17 point 5): every HTTP exchange
with Graph by its status, and every answer that throttled Porth (429), a whole request's or one
$batch step's. docs/deployment.md, "Metrics".

Graph is called by the scheduler's jobs, not the web workers (the web never talks to Graph), so
these counters are served by the scheduler's own endpoint (`PORTH_METRICS__SCHEDULER_PORT`).
"""

from __future__ import annotations

from prometheus_client import Counter

TRANSPORT_ERROR = "transport_error"  # no HTTP answer: connection refused, reset, timed out

requests = Counter("porth_graph_requests", "HTTP exchanges with Microsoft Graph ($batch counted once), by status",
                   ["status"])
throttled = Counter("porth_graph_throttled",
                    "Answers of Microsoft Graph that throttled Porth (429), whole requests and $batch steps alike")


def answered(status: int) -> None:
    requests.labels(str(status)).inc()
    if status == 429:
        throttled.inc()


def not_answered() -> None:
    requests.labels(TRANSPORT_ERROR).inc()


def steps_throttled(count: int) -> None:
    if count:
        throttled.inc(count)
