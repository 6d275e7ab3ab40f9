"""What the operational database tells Prometheus, read at each scrape (issue 17 point 5).

The jobs, the queues waiting for Microsoft Graph, the sign-in locks and the provisioning runs are
rows every process shares, so they are read where they are kept rather than counted by one
process: any web node answers the same, and a gauge is right the moment it is scraped, whoever
wrote the rows. docs/deployment.md, "Metrics", names each one and the alerts to set on them.

Each scrape runs a few small queries, each over an index (bench/metrics_scrape.py times them at a
national size). A database that does not answer is a scrape that says so, `porth_database_up 0`
and one WARNING line, never a failed scrape: the web node's own counters are still worth reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, and_, exists, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from operational.db import Database
from operational.statuses import ChangeState, JobOutcome, WorkflowOutcome
from operational.tables import (
    WORKFLOWS,
    CloudAccount,
    JobLock,
    JobRun,
    LicenceRequest,
    SignInFailures,
    UsernameChange,
    WorkflowRun,
)

log = logging.getLogger("porth.metrics")

RECENT = timedelta(days=1)  # the window of the "last day" gauges

# The queues of changes waiting for a job (the label values of the queue gauges).
CLOUD_ACCOUNTS = "cloud_accounts"  # accounts whose change the Graph sync has still to send (G-3)
LICENCE_REQUESTS = "licence_requests"  # staff licences allocated or revoked in the portal, not yet applied (G-2)
USERNAME_CHANGES = "username_changes"  # Generate New Username requests not yet done


class OperationalCollector(Collector):
    """A prometheus_client collector over the operational database (a custom collector: its
    values are read at each scrape, never held by the process)."""

    def __init__(self, db: Database, lock: timedelta, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._db = db
        self._lock = lock  # how long a sign-in lock lasts (idp.lock_minutes): bounds the rows to look at
        self._clock = clock

    def describe(self) -> list:
        # Nothing to read at registration: the families are known only from the database.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("porth_database_up", "1 when the operational database answered this scrape, else 0")
        started = time.perf_counter()
        try:
            with self._db.engine.connect() as connection:
                families = list(self._families(connection, self._clock()))
        except SQLAlchemyError as exc:
            log.warning("metrics: the operational database did not answer: %s",
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        spent = GaugeMetricFamily("porth_metrics_database_seconds",
                                  "Time this scrape spent reading the operational database")
        spent.add_metric([], time.perf_counter() - started)
        yield spent
        yield from families

    def _families(self, connection: Connection, now: datetime) -> Iterator[GaugeMetricFamily]:
        yield from _jobs(connection, now)
        yield from _queues(connection)
        yield _sign_in_locks(connection, now, self._lock)
        yield from _provisioning(connection, now)


def _timestamp(moment: datetime) -> float:
    # SQLite keeps no zone; the UtcDateTime columns are UTC (read raw here, through Core).
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _jobs(connection: Connection, now: datetime) -> Iterator[GaugeMetricFamily]:
    """Per job (every job that ever ran has a lock row): its runs of the last day by outcome, its
    latest run's outcome, and when it last succeeded. One job at a time, so that each query
    walks the (job, started_at) index from its newest end."""
    runs = GaugeMetricFamily("porth_job_runs_last_day", "Runs of each scheduled job started in the last 24 hours, "
                             "by outcome", labels=["job", "outcome"])
    latest = GaugeMetricFamily("porth_job_last_outcome", "1 for the outcome of each job's latest run, 0 for the "
                               "others", labels=["job", "outcome"])
    succeeded = GaugeMetricFamily("porth_job_last_success_timestamp_seconds",
                                  "When each job's latest successful run ended (Unix time); absent if it never "
                                  "succeeded", labels=["job"])
    jobs = connection.scalars(select(JobLock.job).order_by(JobLock.job)).all()
    for job in jobs:
        counted = dict(connection.execute(
            select(JobRun.outcome, func.count())
            .where(JobRun.job == job, JobRun.started_at >= now - RECENT).group_by(JobRun.outcome)).all())
        newest = connection.scalar(select(JobRun.outcome).where(JobRun.job == job)
                                   .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1))
        for outcome in JobOutcome:
            runs.add_metric([job, outcome.value], counted.get(outcome.value, 0))
            latest.add_metric([job, outcome.value], 1 if newest == outcome.value else 0)
        ended = connection.scalar(select(JobRun.ended_at)
                                  .where(JobRun.job == job, JobRun.outcome == JobOutcome.SUCCEEDED.value)
                                  .order_by(JobRun.started_at.desc()).limit(1))
        if ended is not None:
            succeeded.add_metric([job], _timestamp(ended))
    yield from (runs, latest, succeeded)


def _queues(connection: Connection) -> Iterator[GaugeMetricFamily]:
    """What waits for the jobs: how many, and since when the oldest waits (G-3: within the hour;
    A-5: within 10 minutes)."""
    pending = GaugeMetricFamily("porth_queue_pending", "Changes waiting for a scheduled job, by queue",
                                labels=["queue"])
    oldest = GaugeMetricFamily("porth_queue_oldest_pending_timestamp_seconds",
                               "Since when the oldest change of each queue waits (Unix time); absent when empty",
                               labels=["queue"])
    newer = aliased(LicenceRequest)
    # A licence request a later one for the same account replaced is not waiting any more (the
    # sync applies an account's latest request only), though its row still says pending.
    latest_request = ~exists().where(and_(newer.school == LicenceRequest.school,
                                          newer.account_id == LicenceRequest.account_id, newer.id > LicenceRequest.id))
    queues = (
        (CLOUD_ACCOUNTS, select(func.count(), func.min(CloudAccount.updated_at))
         .where(CloudAccount.state == ChangeState.PENDING.value)),
        (LICENCE_REQUESTS, select(func.count(), func.min(LicenceRequest.requested_at))
         .where(LicenceRequest.state == ChangeState.PENDING.value, latest_request)),
        (USERNAME_CHANGES, select(func.count(), func.min(UsernameChange.requested_at))
         .where(UsernameChange.state == ChangeState.PENDING.value)),
    )
    for queue, query in queues:
        count, since = connection.execute(query).one()
        pending.add_metric([queue], count)
        if since is not None:
            oldest.add_metric([queue], _timestamp(since))
    failed = GaugeMetricFamily("porth_graph_cloud_accounts_failed",
                               "Accounts whose last change Microsoft 365 refused for good (an administrator's to "
                               "resolve: `porth jobs list`, the portal's licence page)")
    failed.add_metric([], connection.scalar(select(func.count()).where(CloudAccount.state == ChangeState.FAILED.value))
                      or 0)
    yield from (pending, oldest, failed)


def _sign_in_locks(connection: Connection, now: datetime, lock: timedelta) -> GaugeMetricFamily:
    """Usernames and addresses locked now (S-3). A lock is written by the failure that reached it and
    lasts `lock` from then, so only rows failed within the last `lock` can hold one (the indexed
    column narrows the count; the table keeps every username ever mistyped)."""
    locks = GaugeMetricFamily("porth_sign_in_locks", "Usernames and source addresses locked by failed sign-ins now")
    locks.add_metric([], connection.scalar(
        select(func.count()).where(SignInFailures.last_failure_at > now - lock, SignInFailures.locked_until > now))
        or 0)
    return locks


def _provisioning(connection: Connection, now: datetime) -> Iterator[GaugeMetricFamily]:
    """The schools' workflow runs of the last day (M-10) and their record errors (M-9), by workflow
    and outcome: a night whose runs failed, or whose errors jumped, shows here by morning."""
    runs = GaugeMetricFamily("porth_provisioning_runs_last_day",
                             "Workflow runs of the schools started in the last 24 hours, by workflow and outcome",
                             labels=["workflow", "outcome"])
    errors = GaugeMetricFamily("porth_provisioning_record_errors_last_day",
                               "Record errors of the workflow runs started in the last 24 hours, by workflow and "
                               "the run's outcome", labels=["workflow", "outcome"])
    rows = connection.execute(
        select(WorkflowRun.workflow, WorkflowRun.outcome, func.count(),
               func.coalesce(func.sum(WorkflowRun.error_count), 0))
        .where(WorkflowRun.started_at >= now - RECENT, WorkflowRun.dry_run.is_(False))
        .group_by(WorkflowRun.workflow, WorkflowRun.outcome)).all()
    found = {(workflow, outcome): (count, error_count) for workflow, outcome, count, error_count in rows}
    # Every workflow and outcome, 0 when none: an alert on failed runs compares a number, not a gap.
    for workflow in WORKFLOWS:
        for outcome in WorkflowOutcome:
            count, error_count = found.get((workflow, outcome.value), (0, 0))
            runs.add_metric([workflow, outcome.value], count)
            errors.add_metric([workflow, outcome.value], error_count)
    yield from (runs, errors)
