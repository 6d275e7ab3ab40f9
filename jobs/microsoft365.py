"""The Microsoft 365 jobs (issue 6): the incremental tenant sync, the consent propagation
(C-3) and the daily full reconciliation, each a job of jobs.framework.

One writer (issue 14 point 5): all three share the lock `WRITER`, so whatever starts at
once, one of them writes to the tenant at a time and each cloud account has one writer; the
portal's licence changes only queue intentions (operational.licence_requests) that the
writer applies. A run says how many accounts it applied and how many failed; failed ones
are retried by the next run."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

from config.settings import ConfigError, GraphSettings, secret_value
from connectors.graph.client import GraphClient, WritePacer
from connectors.graph.desired import Skus
from connectors.graph.sync import TenantSync
from connectors.graph.tokens import LocalAuthority, TokenSource
from directory.model import AccountKind
from jobs.framework import JobContext, JobResult, SharedWriter

WRITER = "m365-writer"
Clock = Callable[[], float]
Sleep = Callable[[float], None]


def graph_client(settings: GraphSettings, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> GraphClient:
    """The client, its waits (Retry-After, back-off, the write budget) told by `clock` and made by
    `sleep`: the tests hand in the fake tenant's clock, so no test sleeps."""
    http_client = None
    if settings.authority_server:  # a local fake: its https authority is served over http here
        parts = urlsplit(settings.effective_authority)
        http_client = LocalAuthority(f"{parts.scheme}://{parts.netloc}", settings.authority_server)
    if settings.client_id is None:  # GraphSettings refuses this when Graph is enabled
        raise ConfigError("graph.client_id is not set (PORTH_GRAPH__CLIENT_ID)")
    tokens = TokenSource(settings.client_id, secret_value(settings.client_secret, "graph.client_secret"),
                         settings.effective_authority, http_client)
    return GraphClient(settings.graph_url, tokens, dry_run=settings.dry_run, sleep=sleep,
                       pacer=WritePacer(settings.writes_per_window, settings.window_seconds, clock=clock, sleep=sleep))


def _sync(context: JobContext, settings: GraphSettings, full: bool, kinds: tuple[AccountKind, ...] = (),
          clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> JobResult:
    with graph_client(settings, clock, sleep) as graph:
        tenant = TenantSync(context.store, context.db, graph, Skus(settings.learner_sku, settings.staff_sku),
                            context.now - timedelta(seconds=1), clock=clock, heartbeat=context.keep_alive)
        report = tenant.run(full=full, kinds=kinds)
        report.counts.update({"graph requests": graph.stats.requests, "retries": graph.stats.retries})
    result = JobResult(counts=report.counts, errors=report.errors)
    result.settle(report.applied, report.failed)
    return result


def tenant_sync_job(settings: GraphSettings, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> SharedWriter:
    """G-3: what changed since the last good run, every sync_minutes."""
    return SharedWriter(WRITER, lambda context: _sync(context, settings, False, (), clock, sleep))


def consent_job(settings: GraphSettings, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> SharedWriter:
    """C-3: learners' consent changes reach their licences (service access follows at once at the IdP)."""
    return SharedWriter(WRITER, lambda context: _sync(context, settings, False, (AccountKind.LEARNER,), clock, sleep))


def full_sync_job(settings: GraphSettings, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> SharedWriter:
    """Every account against every cloud user: repairs what was changed by hand in the tenant."""
    return SharedWriter(WRITER, lambda context: _sync(context, settings, True, (), clock, sleep))
