"""Scheduled jobs' runs and locks (issue 6), in the operational store.

A lock is a lease: a row per job naming the scheduler process holding it
until a time. Taking it is one conditional UPDATE, atomic on SQLite and
PostgreSQL alike, so a second scheduler started by mistake finds the job
held and skips it; a holder that died frees it when its lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from operational.db import Database
from operational.statuses import JobOutcome
from operational.tables import JobLock, JobRun

MAX_ERRORS_KEPT = 500


@dataclass(frozen=True)
class JobRunSummary:
    id: int
    job: str
    started_at: datetime
    ended_at: datetime | None
    outcome: JobOutcome
    trigger: str
    counts: dict[str, int] = field(default_factory=dict)
    error_count: int = 0
    errors: tuple[dict[str, Any], ...] = ()
    note: str | None = None


def _summary(run: JobRun) -> JobRunSummary:
    return JobRunSummary(run.id, run.job, run.started_at, run.ended_at, JobOutcome(run.outcome), run.trigger,
                         dict(run.counts or {}), run.error_count, tuple(run.errors or ()), run.note)


# -- locks ---------------------------------------------------------------------------------
def take_lock(db: Database, job: str, holder: str, now: datetime, lease: timedelta) -> bool:
    """Hold the job until now + lease, unless someone else holds it; True when taken."""
    try:
        with db.session() as session, session.begin():
            session.add(JobLock(job=job))
    except IntegrityError:
        pass  # the row exists already
    with db.session() as session, session.begin():
        taken = session.execute(
            update(JobLock)
            .where(JobLock.job == job,
                   or_(JobLock.holder.is_(None), JobLock.holder == holder, JobLock.expires_at < now))
            .values(holder=holder, expires_at=now + lease))
        # Session.execute is typed as returning Result, but an UPDATE's is a CursorResult,
        # which has rowcount (SQLAlchemy's ORM guide, "Getting Affected Row Count").
        return taken.rowcount == 1  # type: ignore[attr-defined]


def renew_lock(db: Database, job: str, holder: str, now: datetime, lease: timedelta) -> bool:
    """The holder's heartbeat: its lease runs to now + lease again. False if it no longer holds
    the job (its lease ran out and another scheduler took it)."""
    with db.session() as session, session.begin():
        renewed = session.execute(update(JobLock).where(JobLock.job == job, JobLock.holder == holder)
                                  .values(expires_at=now + lease))
        return renewed.rowcount == 1  # type: ignore[attr-defined]  # an UPDATE's CursorResult (take_lock)


DEAD_RUN_NOTE = "the scheduler stopped while it ran"


def fail_dead_runs(db: Database, now: datetime, note: str = DEAD_RUN_NOTE) -> list[JobRunSummary]:
    """Runs still "running" whose scheduler is gone: a run is started only by the holder of its
    job's lock, who renews it while the run lasts, so a running run whose holder no longer holds
    the lock (lease out, or taken by another) will never finish. Marked failed with the note,
    ended now; returned."""
    with db.session() as session, session.begin():
        running = list(session.scalars(select(JobRun).where(JobRun.outcome == JobOutcome.RUNNING)))
        if not running:
            return []
        locks = {lock.job: lock for lock in session.scalars(
            select(JobLock).where(JobLock.job.in_({run.job for run in running})))}
        dead = []
        for run in running:
            lock = locks.get(run.job)
            if lock and lock.holder == run.holder and lock.expires_at is not None and lock.expires_at >= now:
                continue
            run.outcome, run.ended_at, run.note = JobOutcome.FAILED, now, note
            dead.append(run)
        session.flush()
        return [_summary(run) for run in dead]


def release_lock(db: Database, job: str, holder: str) -> None:
    with db.session() as session, session.begin():
        session.execute(update(JobLock).where(JobLock.job == job, JobLock.holder == holder)
                        .values(holder=None, expires_at=None))


def abandon_runs_of(db: Database, holder: str, now: datetime, note: str) -> int:
    """A scheduler stopping without waiting for its jobs: their runs end as failed with the note,
    and every lock the process holds (its own and the shared ones, held as "<holder> <job>") is
    freed at once, not when its lease runs out, so the next scheduler goes straight on. Returns
    how many runs were ended."""
    with db.session() as session, session.begin():
        ended = session.execute(update(JobRun).where(JobRun.holder == holder, JobRun.outcome == JobOutcome.RUNNING)
                                .values(outcome=JobOutcome.FAILED, ended_at=now, note=note)
                                ).rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult (take_lock)
        session.execute(update(JobLock).where(or_(JobLock.holder == holder, JobLock.holder.startswith(holder + " ")))
                        .values(holder=None, expires_at=None))
        return ended


def lock_holder(db: Database, job: str, now: datetime) -> str | None:
    with db.session() as session:
        lock = session.get(JobLock, job)
        return lock.holder if lock and lock.holder and lock.expires_at and lock.expires_at >= now else None


# -- runs ----------------------------------------------------------------------------------
def start_run(db: Database, job: str, now: datetime, trigger: str, holder: str) -> int:
    with db.session() as session, session.begin():
        run = JobRun(job=job, started_at=now, outcome=JobOutcome.RUNNING, trigger=trigger, holder=holder, error_count=0)
        session.add(run)
        session.flush()
        return run.id


def finish_run(db: Database, run_id: int, outcome: JobOutcome, now: datetime, counts: dict[str, int],
               errors: list[dict[str, Any]], note: str | None = None) -> None:
    with db.session() as session, session.begin():
        run = session.get_one(JobRun, run_id)
        run.outcome, run.ended_at, run.counts, run.note = outcome, now, counts, note
        run.error_count, run.errors = len(errors), errors[:MAX_ERRORS_KEPT] or None


def get_run(db: Database, run_id: int) -> JobRunSummary | None:
    with db.session() as session:
        run = session.get(JobRun, run_id)
        return _summary(run) if run else None


def last_runs(db: Database) -> dict[str, JobRunSummary]:
    """The latest run of each job."""
    latest = select(func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    with db.session() as session:
        newest = session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))
        return {run.job: _summary(run) for run in newest}


def prune_runs(db: Database, before: datetime) -> int:
    """Forget the runs that started before `before`, but never a run still running, nor each job's
    latest run or its latest successful one (what `porth jobs list` and the metrics' "last
    success" read). How many were forgotten."""
    latest = select(func.max(JobRun.id)).group_by(JobRun.job)
    latest_success = select(func.max(JobRun.id)).where(JobRun.outcome == JobOutcome.SUCCEEDED.value) \
        .group_by(JobRun.job)
    with db.session() as session, session.begin():
        forgotten = session.execute(delete(JobRun).where(
            JobRun.started_at < before, JobRun.outcome != JobOutcome.RUNNING.value,
            JobRun.id.not_in(latest), JobRun.id.not_in(latest_success)))
        return int(getattr(forgotten, "rowcount", 0) or 0)


def runs_of(db: Database, job: str, limit: int = 20) -> list[JobRunSummary]:
    with db.session() as session:
        return [_summary(r) for r in session.scalars(
            select(JobRun).where(JobRun.job == job).order_by(JobRun.id.desc()).limit(limit))]
