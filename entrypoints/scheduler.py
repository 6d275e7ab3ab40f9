"""`porth scheduler`: the jobs of issue 6 on their schedules, in one process.

APScheduler 3 keeps the schedule in the operational database
(SQLAlchemyJobStore, table apscheduler_jobs). Each run goes through
jobs.framework.run_job, which takes the job's lock first: a second
scheduler started by mistake finds every job held and skips it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.settings import ConfigError, Settings
from entrypoints.runtime import Runtime
from jobs.framework import Job, JobContext, JobSettings, run_job
from jobs.housekeeping import forget_old_job_runs
from jobs.lifecycle import deactivate_inactive, delete_due, expire_non_mis
from jobs.username_changes import process_username_changes
from operational import job_runs
from operational.job_runs import JobRunSummary

log = logging.getLogger("porth.scheduler")
TIMEZONE = "Europe/London"


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    job: Job
    trigger: BaseTrigger
    description: str


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    jobs = settings.jobs
    daily = dict(hour=jobs.lifecycle_hour, timezone=TIMEZONE)
    return [
        ScheduledJob("username-changes", process_username_changes,
                     IntervalTrigger(minutes=jobs.username_change_minutes, timezone=TIMEZONE),
                     "Generate New Username requests from the portal (A-5)"),
        ScheduledJob("non-mis-expiry", expire_non_mis, CronTrigger(minute=0, **daily),
                     "deactivate non-MIS accounts past their expiry (L-1)"),
        ScheduledJob("inactivity", deactivate_inactive, CronTrigger(minute=10, **daily),
                     "deactivate non-MIS accounts unused for 90 days (L-3)"),
        ScheduledJob("deletions", delete_due, CronTrigger(minute=20, **daily),
                     "delete accounts deactivated 12 months ago (L-4)"),
        ScheduledJob("housekeeping", forget_old_job_runs, CronTrigger(minute=40, **daily),
                     "forget job runs older than PORTH_JOBS__KEEP_RUNS_DAYS (each job's latest kept)"),
        *_graph_jobs(settings),
    ]


def _graph_jobs(settings: Settings) -> list[ScheduledJob]:
    graph = settings.graph
    if not graph.enabled:
        return []
    from jobs.microsoft365 import consent_job, full_sync_job, tenant_sync_job

    return [
        ScheduledJob("graph-sync", tenant_sync_job(graph),
                     IntervalTrigger(minutes=graph.sync_minutes, timezone=TIMEZONE),
                     "Microsoft 365: what changed since the last run (G-1..G-3)"),
        ScheduledJob("consent-propagation", consent_job(graph),
                     IntervalTrigger(minutes=graph.consent_minutes, timezone=TIMEZONE),
                     "learners' consent to their Microsoft 365 licences (C-3)"),
        ScheduledJob("graph-full-sync", full_sync_job(graph),
                     CronTrigger(hour=graph.full_sync_hour, minute=30, timezone=TIMEZONE),
                     "Microsoft 365: every account, repairing changes made in the tenant"),
    ]


def job_named(settings: Settings, name: str) -> ScheduledJob | None:
    return next((job for job in scheduled_jobs(settings) if job.name == name), None)


def run_now(runtime: Runtime, name: str, trigger: str = "by hand", confirmed: bool = False,
            now: datetime | None = None) -> JobRunSummary | None:
    """Run one job at once (its lock still applies); None when another scheduler holds it."""
    settings = runtime.settings
    scheduled = job_named(settings, name)
    if scheduled is None:
        raise KeyError(name)
    context = JobContext(store=runtime.store, db=runtime.db, now=now or datetime.now(UTC),
                         settings=JobSettings(max_deletions_per_run=settings.jobs.max_deletions_per_run,
                                              keep_job_runs_days=settings.jobs.keep_runs_days),
                         confirmed=confirmed)
    return run_job(name, scheduled.job, context, trigger=trigger, lease=timedelta(seconds=settings.jobs.lease_seconds),
                   clock=lambda: datetime.now(UTC))


# The scheduler process's runtime: APScheduler stores a job as a reference to a
# module-level function and its arguments, so the function finds the runtime here.
_RUNTIME: Runtime | None = None


def scheduled_run(name: str) -> None:
    if _RUNTIME is None:
        raise RuntimeError("scheduled_run runs inside `porth scheduler` only")
    run_now(_RUNTIME, name, trigger="schedule")


DEAD_RUNS_CHECK = "dead-runs"  # not a job of its own (no run record): a look at the runs every minute


def scheduled_dead_runs_check() -> None:
    """Mark failed the runs whose scheduler died, within a minute of its lease running out, not
    only when their job next runs (a daily job's would say "running" for a day)."""
    if _RUNTIME is None:
        raise RuntimeError("scheduled_dead_runs_check runs inside `porth scheduler` only")
    for run in job_runs.fail_dead_runs(_RUNTIME.db, datetime.now(UTC)):
        log.warning("job %s: run %d marked failed: %s", run.job, run.id, run.note)


class TurnSkippedWhileRunning(logging.Filter):
    """APScheduler warns when a job's turn comes while its last run still goes ("maximum number of
    running instances reached"). With max_instances=1 that skip is the design (the next turn does the
    rest), not a fault for an operator to chase: kept at DEBUG under porth.scheduler instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances reached" in record.getMessage():
            log.debug("a turn skipped while the last run still goes: %s", record.getMessage())
            return False
        return True


def build_scheduler(runtime: Runtime, blocking: bool = True):
    """The scheduler with every job (re)written into the database job store."""
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    global _RUNTIME  # noqa: PLW0603 - APScheduler's jobs find the runtime only at module level (above)
    _RUNTIME = runtime
    kind = BlockingScheduler if blocking else BackgroundScheduler
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, TurnSkippedWhileRunning) for f in scheduler_log.filters):
        scheduler_log.addFilter(TurnSkippedWhileRunning())
    # The dead-runs check is this process's own, kept in memory: only the jobs are shared in the database.
    scheduler = kind(jobstores={"default": SQLAlchemyJobStore(engine=runtime.db.engine),
                                "process": MemoryJobStore()}, timezone=TIMEZONE,
                     job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    for job in scheduled_jobs(runtime.settings):
        scheduler.add_job(scheduled_run, job.trigger, args=[job.name], id=job.name, name=job.description,
                          replace_existing=True)
    scheduler.add_job(scheduled_dead_runs_check, IntervalTrigger(minutes=1, timezone=TIMEZONE), id=DEAD_RUNS_CHECK,
                      name="runs whose scheduler stopped while they ran: marked failed", jobstore="process",
                      replace_existing=True)
    return scheduler


def next_runs(runtime: Runtime) -> dict[str, datetime | None]:
    """When each job runs next, from the job store (what `porth jobs list` shows)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    store = SQLAlchemyJobStore(engine=runtime.db.engine)
    store.start(None, "default")
    try:
        return {job.id: job.next_run_time for job in store.get_all_jobs()}
    finally:
        store.shutdown()


def serve_scheduler_metrics(settings: Settings):
    """The scheduler's own /metrics, when PORTH_METRICS__SCHEDULER_PORT is set: the Microsoft Graph
    counters (the jobs call Graph in this process, connectors/graph/metrics.py) and the process's
    own (CPU, memory). Same access rule as the web nodes' (webui/metrics.py). Returns the server,
    serving from a thread of its own, or None."""
    metrics = settings.metrics
    if not metrics.enabled or metrics.scheduler_port is None:
        return None
    import socket
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client.exposition import ThreadingWSGIServer

    import connectors.graph.metrics  # noqa: F401 - its families are served from the start, Graph enabled or not
    from webui.metrics import may_scrape, scrape, scrape_registry

    registry = scrape_registry(None, None)
    allow = tuple(metrics.allow)

    def metrics_app(environ, start_response):
        header = lambda name: environ.get("HTTP_" + name.upper().replace("-", "_"))  # noqa: E731
        if environ.get("PATH_INFO") != "/metrics" or not may_scrape(environ.get("REMOTE_ADDR"), header, allow):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not found\n"]
        body, content_type = scrape(registry)
        start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body]

    class Quiet(WSGIRequestHandler):
        def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
            pass  # a scrape every few seconds is not news

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in metrics.scheduler_host else socket.AF_INET

    try:
        server = make_server(metrics.scheduler_host, metrics.scheduler_port, metrics_app, Server, handler_class=Quiet)
    except OSError as exc:
        raise ConfigError(f"PORTH_METRICS__SCHEDULER_PORT: cannot listen on {metrics.scheduler_host}:"
                          f"{metrics.scheduler_port}: {exc.strerror or exc}") from None
    threading.Thread(target=server.serve_forever, name="porth-metrics", daemon=True).start()
    return server
