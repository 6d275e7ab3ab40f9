"""Running one job: take its lock, record the run, never let one job's failure stop the scheduler."""

from __future__ import annotations

import logging
import os
import socket
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


@dataclass
class JobContext:
    store: DirectoryStore
    db: Database
    now: datetime
    settings: JobSettings = field(default_factory=JobSettings)
    confirmed: bool = False  # an operator confirmed a run the job would otherwise hold (deletions)


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


Job = Callable[[JobContext], JobResult]


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(name: str, job: Job, context: JobContext, trigger: str = "schedule",
            lease: timedelta = timedelta(minutes=30),
            clock: Callable[[], datetime] | None = None) -> JobRunSummary | None:
    """Run the job unless another scheduler holds it (then None). A failure is recorded, not raised."""
    holder = this_process()
    if not job_runs.take_lock(context.db, name, holder, context.now, lease):
        log.info("job %s: held by %s, skipped", name, job_runs.lock_holder(context.db, name, context.now))
        return None
    clock = clock or (lambda: context.now)
    run_id = job_runs.start_run(context.db, name, context.now, trigger, holder)
    try:
        result = job(context)
        job_runs.finish_run(context.db, run_id, result.outcome, clock(), result.counts, result.errors, result.note)
        log.info("job %s: %s %s, %d errors", name, result.outcome, result.counts, len(result.errors))
    except Exception as exc:
        log.exception("job %s failed", name)
        job_runs.finish_run(context.db, run_id, JobOutcome.FAILED, clock(), {}, [], f"{type(exc).__name__}: {exc}")
    finally:
        job_runs.release_lock(context.db, name, holder)
    return job_runs.get_run(context.db, run_id)
