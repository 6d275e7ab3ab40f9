"""A web node's `/metrics` for Prometheus, and how long its requests take (issue 17 point 5).

A scrape answers with every worker's counters summed (gunicorn's workers each write theirs to
files in one folder: prometheus_client's multiprocess mode, set up by entrypoints/gunicorn.py),
the operational database's gauges read at that moment (operational/metrics.py), and this node's
request timings, grouped by part of Porth (`group`: a handful of fixed names, never the path,
which carries account ids and tokens).

Only the addresses of `PORTH_METRICS__ALLOW` may scrape (loopback by default), as the TCP peer
says, and never through a proxy: a request carrying a forwarding header answers 404, as any
address that does not exist, so the public proxy cannot serve the metrics by accident.
docs/deployment.md, "Metrics".
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Response, abort, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from operational.metrics import OperationalCollector

if TYPE_CHECKING:  # the runtime is built by the process that serves the app (entrypoints)
    from entrypoints.runtime import Runtime

# Headers a proxy adds to what it passes on (RFC 7239 and the de facto ones).
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

http_seconds = Histogram("porth_http_request_duration_seconds",
                         "Time to answer a request, by part of Porth and HTTP status", ["group", "status"])

# The part of Porth a request went to, by the endpoint that answered it.
GROUP_OF_ENDPOINT = {"static": "static", "schools": "home", "health": "health", "ready": "health", "live": "health",
                     "metrics": "metrics"}
GROUP_OF_BLUEPRINT = {"idp": "idp", "idp_logout": "idp", "portal": "portal"}


def request_group(endpoint: str | None, blueprint: str | None) -> str:
    """A bounded label for a request: `unmatched` for an address Porth has no page at."""
    if endpoint is None:
        return "unmatched"
    if endpoint in GROUP_OF_ENDPOINT:
        return GROUP_OF_ENDPOINT[endpoint]
    return GROUP_OF_BLUEPRINT.get((blueprint or "").split(".", 1)[0], "other")


Networks = Iterable[IPv4Network | IPv6Network]


def may_scrape(peer: str | None, header: Callable[[str], object | None], allow: Networks) -> bool:
    """A scrape from an allowed address, sent directly: no proxy's header on it (`header(name)`:
    the request's header of that name, or None)."""
    if any(header(name) is not None for name in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address((peer or "").split("%", 1)[0])
    except ValueError:  # a Unix socket, or nothing: not an address that can be allowed
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in allow)


class _ThisProcess(Collector):
    """The process's own registry, as one collector of the scrape's (outside gunicorn: `porth`
    commands, the tests' in-process app)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()

    def describe(self) -> list[Metric]:
        return []


def scrape_registry(operational: Collector | None, multiprocess_dir: Path | None) -> CollectorRegistry:
    """What a scrape reads: every worker's files in multiprocess mode, else this process's
    metrics; and the operational database's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir is not None:
        MultiProcessCollector(registry, path=str(multiprocess_dir))
    else:
        registry.register(_ThisProcess())
    if operational is not None:
        registry.register(operational)
    return registry


def scrape(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST


def init_metrics(app: Flask, runtime: Runtime, multiprocess_dir: Path | None) -> None:
    """Time every request, and serve /metrics when the settings say so (else it is a 404)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)  # first: the whole request is timed
    app.after_request(_observe)
    settings = runtime.settings.metrics
    if not settings.enabled:
        return
    registry = scrape_registry(OperationalCollector(runtime.db, timedelta(minutes=runtime.settings.idp.lock_minutes)),
                               multiprocess_dir)
    allow = tuple(settings.allow)

    def metrics() -> Response:
        environ = request.environ
        # The TCP peer: ProxyFix (PORTH_WEB__TRUSTED_PROXIES) keeps it here when it rewrites REMOTE_ADDR.
        peer = environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", environ.get("REMOTE_ADDR"))
        if not may_scrape(peer, request.headers.get, allow):
            abort(404)
        body, content_type = scrape(registry)
        return Response(body, content_type=content_type)

    app.add_url_rule("/metrics", "metrics", metrics)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("metrics_started")
    if started is not None:
        http_seconds.labels(request_group(request.endpoint, request.blueprint),
                            str(response.status_code)).observe(time.perf_counter() - started)
    return response
