"""Running one job: take its lock, record the run, never let one job's failure stop the scheduler.

Every job has its own lock (its name: a second scheduler finds it held and skips it). A job
that writes where others write too (the Microsoft 365 jobs: each cloud account must have one
writer at a time, issue 14) is a `SharedWriter`: besides its own lock it holds the lock it
shares, waiting for it a while if another job holds it, so those jobs run one after another,
never side by side. Both locks are leases, renewed by a heartbeat thread while the job runs (and
by `JobContext.keep_alive`, which a long job calls); a run whose scheduler died, its lease out, is
marked failed by the next scheduler to look (`job_runs.fail_dead_runs`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from directory.store import DirectoryStore
from operational import job_runs
from operational.db import Database
from operational.job_runs import JobRunSummary
from operational.statuses import JobOutcome

log = logging.getLogger("porth.jobs")


@dataclass(frozen=True)
class JobSettings:
    """What the jobs need of the settings (config.settings.JobsSettings gives it)."""

    max_deletions_per_run: int = 500
    keep_job_runs_days: int = 90  # jobs/housekeeping.py


@dataclass
class JobContext:
    store: DirectoryStore
    db: Database
    now: datetime
    settings: JobSettings = field(default_factory=JobSettings)
    confirmed: bool = False  # an operator confirmed a run the job would otherwise hold (deletions)
    # Called now and then by a long job: renews its locks' leases (run_job sets it).
    keep_alive: Callable[[], None] = field(default=lambda: None)


@dataclass
class JobResult:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    outcome: JobOutcome = JobOutcome.SUCCEEDED  # or HELD (waiting for confirmation)
    note: str | None = None

    def count(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by

    def error(self, record: str, error: str, detail: str | None = None) -> None:
        self.errors.append({"record": record, "error": error, "detail": detail})

    def settle(self, applied: int, failed: int) -> None:
        """A run over many records says how many were applied and how many failed, counts first;
        it succeeded only when none failed (issue 14: a run whose steps failed never says so)."""
        self.counts = {"applied": applied, "failed": failed, **{k: v for k, v in self.counts.items()
                                                                if k not in ("applied", "failed")}}
        if failed:
            self.outcome = JobOutcome.PARTLY_FAILED if applied else JobOutcome.FAILED


Job = Callable[[JobContext], JobResult]


@dataclass(frozen=True)
class SharedWriter:
    """A job that holds `lock` too while it runs: the jobs sharing it never run at once."""

    lock: str
    job: Job

    def __call__(self, context: JobContext) -> JobResult:
        return self.job(context)


WRITER_POLL = 5.0  # seconds between two tries of a shared lock
LONG_WAIT_SECONDS = 12 * WRITER_POLL  # a wait for a shared lock this long is logged at INFO
WRITER_PATIENCE = timedelta(minutes=20)  # then the run is skipped (recorded, with who held the lock)


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


DEFAULT_LEASE = timedelta(minutes=2)  # config.settings.JobsSettings.lease_seconds


def run_job(name: str, job: Job, context: JobContext, trigger: str = "schedule",
            lease: timedelta = DEFAULT_LEASE,
            clock: Callable[[], datetime] | None = None,
            sleep: Callable[[float], None] = time.sleep) -> JobRunSummary | None:
    """Run the job unless another scheduler holds it (then None). A failure is recorded, not raised."""
    holder = this_process()
    clock = clock or (lambda: context.now)
    _fail_dead_runs(context.db, clock())
    if not job_runs.take_lock(context.db, name, holder, context.now, lease):
        log.info("job %s: held by %s, skipped", name, job_runs.lock_holder(context.db, name, context.now))
        return None
    shared = job.lock if isinstance(job, SharedWriter) else None
    # Several jobs of one scheduler process share a lock: each holds it under its own name.
    shared_holder = f"{holder} {name}"
    # From the moment the job's lock is taken: a wait for the shared lock (up to WRITER_PATIENCE)
    # is longer than a lease, and the job's own lock must outlast it. The shared lock is renewed
    # only once it is held (renew_lock changes only a lock of its holder's).
    heartbeat = Heartbeat(lambda: _renew(context.db, name, holder, shared, shared_holder, clock(), lease),
                          lease.total_seconds() / 3)
    heartbeat.start()
    try:
        if shared is not None and not _wait_for(context, shared, shared_holder, clock, lease, sleep):
            run_id = job_runs.start_run(context.db, name, context.now, trigger, holder)
            other = job_runs.lock_holder(context.db, shared, clock())
            job_runs.finish_run(context.db, run_id, JobOutcome.SKIPPED, clock(), {}, [],
                                f"{shared} still held by {other} after {WRITER_PATIENCE}; the next run does it")
            return job_runs.get_run(context.db, run_id)
        return _run(name, job, context, trigger, holder, shared, shared_holder, lease, clock)
    finally:
        heartbeat.stop()
        if shared is not None:
            job_runs.release_lock(context.db, shared, shared_holder)
        job_runs.release_lock(context.db, name, holder)


def _wait_for(context: JobContext, lock: str, holder: str, clock: Callable[[], datetime], lease: timedelta,
              sleep: Callable[[float], None]) -> bool:
    waited = 0.0
    while not job_runs.take_lock(context.db, lock, holder, clock(), lease):
        if waited >= WRITER_PATIENCE.total_seconds():
            return False
        # Jobs sharing a lock often start together (every minute in the demo): a short wait is not
        # news, one that lasts a minute is, said once (not every WRITER_POLL).
        log.log(logging.INFO if waited == LONG_WAIT_SECONDS else logging.DEBUG, "job waits for %s (held by %s)",
                lock, job_runs.lock_holder(context.db, lock, clock()))
        sleep(WRITER_POLL)
        waited += WRITER_POLL
    return True


def _run(name: str, job: Job, context: JobContext, trigger: str, holder: str, shared: str | None,
         shared_holder: str, lease: timedelta, clock: Callable[[], datetime]) -> JobRunSummary | None:
    renewed = [clock()]

    def keep_alive() -> None:
        now = clock()
        if now - renewed[0] < lease / 3:
            return
        renewed[0] = now
        job_runs.take_lock(context.db, name, holder, now, lease)
        if shared is not None:
            job_runs.take_lock(context.db, shared, shared_holder, now, lease)

    context.keep_alive = keep_alive
    run_id = job_runs.start_run(context.db, name, context.now, trigger, holder)
    try:
        result = job(context)
        job_runs.finish_run(context.db, run_id, result.outcome, clock(), result.counts, result.errors, result.note)
        # A run that found nothing to do (most runs of a job every few minutes) is not news.
        quiet = result.outcome is JobOutcome.SUCCEEDED and not any(result.counts.values()) and not result.errors
        log.log(logging.DEBUG if quiet else logging.INFO, "job %s: %s %s, %d errors", name, result.outcome,
                result.counts, len(result.errors))
    except Exception as exc:
        log.exception("job %s failed", name)
        job_runs.finish_run(context.db, run_id, JobOutcome.FAILED, clock(), {}, [], f"{type(exc).__name__}: {exc}")
    return job_runs.get_run(context.db, run_id)


def _renew(db: Database, name: str, holder: str, shared: str | None, shared_holder: str, now: datetime,
           lease: timedelta) -> None:
    if not job_runs.renew_lock(db, name, holder, now, lease):
        log.warning("job %s: its lease ran out before its heartbeat (the database was out of reach?); "
                    "another scheduler may run it too", name)
    if shared is not None:
        job_runs.renew_lock(db, shared, shared_holder, now, lease)


def _fail_dead_runs(db: Database, now: datetime) -> None:
    for run in job_runs.fail_dead_runs(db, now):
        log.warning("job %s: run %d marked failed: %s", run.job, run.id, run.note)


class Heartbeat:
    """Renews a running job's leases every `every` seconds, on a thread of its own, whatever the
    job does meanwhile (a directory read that takes minutes, a wait for Microsoft Graph): the lease
    then outlives the process by at most one lease, not by a job's whole length (issue 17 point 4)."""

    def __init__(self, beat: Callable[[], None], every: float):
        self._beat, self._every = beat, every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            try:
                self._beat()
            except Exception:  # a missed beat (the database away) is retried at the next
                log.warning("job heartbeat: renewing the lease failed; retried in %.0f s", self._every,
                            exc_info=log.isEnabledFor(logging.DEBUG))
