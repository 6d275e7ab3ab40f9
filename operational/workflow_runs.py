"""Workflow runs (SPEC M-10): five workflows per school, each run recorded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from operational.db import Database
from operational.statuses import WorkflowOutcome
from operational.tables import WORKFLOWS, WorkflowError, WorkflowRun

STALE_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class RecordError:
    """One record's error (M-9): `record` is an admission number or staff code, never a UPN."""

    record: str
    error: str
    field: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class RunCounts:
    created: int = 0
    updated: int = 0
    moved: int = 0
    deactivated: int = 0


@dataclass(frozen=True)
class RunSummary:
    id: int
    school: str
    workflow: str
    started_at: datetime
    ended_at: datetime | None
    outcome: WorkflowOutcome
    dry_run: bool
    counts: RunCounts
    error_count: int
    source: str | None = None
    note: str | None = None
    errors: tuple[RecordError, ...] = field(default=())
    held_deactivations: int | None = None
    released_at: datetime | None = None


def _check_workflow(workflow: str) -> None:
    if workflow not in WORKFLOWS:
        raise ValueError(f"unknown workflow {workflow!r}; one of {', '.join(WORKFLOWS)}")


def start_run(db: Database, school: str, workflow: str, now: datetime,
              dry_run: bool = False, source: str | None = None) -> int:
    _check_workflow(workflow)
    with db.session() as session, session.begin():
        run = WorkflowRun(school=school, workflow=workflow, started_at=now, outcome=WorkflowOutcome.RUNNING,
                          dry_run=dry_run, source=source, created=0, updated=0, moved=0,
                          deactivated=0, error_count=0)
        session.add(run)
        session.flush()
        return run.id


# How a run may end; RUNNING is only how it starts.
FINISHED = (WorkflowOutcome.SUCCEEDED, WorkflowOutcome.FAILED, WorkflowOutcome.HELD)


def finish_run(db: Database, run_id: int, outcome: WorkflowOutcome, now: datetime, counts: RunCounts,
               record_errors: list[RecordError] | tuple[RecordError, ...] = (), note: str | None = None,
               held_deactivations: int | None = None) -> None:
    """Close a run with its outcome, counts and error log, in one transaction."""
    if outcome not in FINISHED:
        raise ValueError(f"a run finishes as succeeded, failed or held, not {outcome!r}")
    with db.session() as session, session.begin():
        run = session.get(WorkflowRun, run_id)
        if run is None:
            raise LookupError(f"no workflow run {run_id}")
        run.outcome = outcome
        run.ended_at = now
        run.created, run.updated = counts.created, counts.updated
        run.moved, run.deactivated = counts.moved, counts.deactivated
        run.error_count = len(record_errors)
        run.note = note
        run.held_deactivations = held_deactivations
        run.errors.extend(
            WorkflowError(record=e.record, error=e.error, field=e.field, detail=e.detail) for e in record_errors
        )


def _summary(run: WorkflowRun, with_errors: bool) -> RunSummary:
    return RunSummary(
        id=run.id, school=run.school, workflow=run.workflow, started_at=run.started_at,
        ended_at=run.ended_at, outcome=WorkflowOutcome(run.outcome), dry_run=run.dry_run,
        counts=RunCounts(run.created, run.updated, run.moved, run.deactivated),
        error_count=run.error_count, source=run.source, note=run.note,
        errors=tuple(RecordError(e.record, e.error, e.field, e.detail) for e in run.errors) if with_errors else (),
        held_deactivations=run.held_deactivations, released_at=run.released_at,
    )


def get_run(db: Database, run_id: int) -> RunSummary | None:
    with db.session() as session:
        run = session.get(WorkflowRun, run_id)
        return _summary(run, with_errors=True) if run else None


def last_runs(db: Database, school: str) -> dict[str, RunSummary]:
    """The latest real (not dry) run of each workflow of a school."""
    latest = (
        select(WorkflowRun.workflow, func.max(WorkflowRun.id).label("id"))
        .where(WorkflowRun.school == school, WorkflowRun.dry_run.is_(False))
        .group_by(WorkflowRun.workflow)
        .subquery()
    )
    with db.session() as session:
        runs = session.scalars(select(WorkflowRun).join(latest, WorkflowRun.id == latest.c.id))
        return {run.workflow: _summary(run, with_errors=False) for run in runs}


def last_runs_of_schools(db: Database, schools: list[str]) -> dict[str, dict[str, RunSummary]]:
    """`last_runs` for many schools in one query (an LA's overview): school -> workflow -> run."""
    latest = (
        select(WorkflowRun.school, WorkflowRun.workflow, func.max(WorkflowRun.id).label("id"))
        .where(WorkflowRun.school.in_(schools), WorkflowRun.dry_run.is_(False))
        .group_by(WorkflowRun.school, WorkflowRun.workflow)
        .subquery()
    )
    found: dict[str, dict[str, RunSummary]] = {school: {} for school in schools}
    with db.session() as session:
        for run in session.scalars(select(WorkflowRun).join(latest, WorkflowRun.id == latest.c.id)):
            found[run.school][run.workflow] = _summary(run, with_errors=False)
    return found


def schools_without_recent_success(db: Database, schools: list[str], now: datetime) -> list[str]:
    """Schools where no workflow succeeded in the last 7 days (M-10 flag)."""
    since = now - STALE_AFTER
    with db.session() as session:
        fresh = set(session.scalars(
            select(WorkflowRun.school).where(
                WorkflowRun.outcome == WorkflowOutcome.SUCCEEDED,
                WorkflowRun.dry_run.is_(False),
                WorkflowRun.started_at >= since,
                WorkflowRun.school.in_(schools),
            ).distinct()
        ))
    return [school for school in schools if school not in fresh]


def record_progress(db: Database, counts: Mapping[int, RunCounts]) -> None:
    """Write running runs' counts so far (run id -> counts), in one transaction: a run killed
    mid-way keeps what it had done, and the next run's `abandon_running` says so (M-10)."""
    if not counts:
        return
    with db.session() as session, session.begin():
        for run_id, so_far in counts.items():
            session.execute(
                update(WorkflowRun)
                .where(WorkflowRun.id == run_id, WorkflowRun.outcome == WorkflowOutcome.RUNNING)
                .values(created=so_far.created, updated=so_far.updated, moved=so_far.moved,
                        deactivated=so_far.deactivated)
            )


def describe_counts(counts: RunCounts) -> str:
    """'340 created, 2 updated' (only what is not zero), or 'no change'."""
    parts = [f"{value} {name}" for name, value in (("created", counts.created), ("updated", counts.updated),
                                                  ("moved", counts.moved), ("deactivated", counts.deactivated))
             if value]
    return ", ".join(parts) or "no change"


def abandon_running(db: Database, school: str, now: datetime) -> list[RunSummary]:
    """Runs of a school still 'running' were interrupted (killed): close them as failed, each
    note saying what the run had done by its last progress write; returns them as closed."""
    with db.session() as session, session.begin():
        runs = session.scalars(select(WorkflowRun).where(WorkflowRun.school == school,
                                                         WorkflowRun.outcome == WorkflowOutcome.RUNNING)
                               .order_by(WorkflowRun.id)).all()
        for run in runs:
            done = describe_counts(RunCounts(run.created, run.updated, run.moved, run.deactivated))
            run.outcome, run.ended_at = WorkflowOutcome.FAILED, now
            run.note = (f"interrupted: the run started {run.started_at:%Y-%m-%d %H:%M} UTC stopped before it "
                        f"finished; abandoned after {done}")
        session.flush()
        return [_summary(run, with_errors=False) for run in runs]


def _releasable(run: WorkflowRun | None, run_id: int) -> WorkflowRun:
    """The held run an administrator may release (M-11), or LookupError saying why not."""
    if run is None:
        raise LookupError(f"no workflow run {run_id}")
    if run.outcome != WorkflowOutcome.HELD or run.held_deactivations is None:
        raise LookupError(f"run {run_id} is not a held run")
    if run.released_at is not None:
        raise LookupError(f"run {run_id} was already released at {run.released_at:%Y-%m-%d %H:%M}")
    return run


def held_run(db: Database, run_id: int) -> RunSummary:
    """The held run `--release` names, read only (a dry run of the release writes nothing)."""
    with db.session() as session:
        return _summary(_releasable(session.get(WorkflowRun, run_id), run_id), with_errors=False)


def mark_released(db: Database, run_id: int, now: datetime) -> RunSummary:
    """An administrator releases a held run (M-11); returns it. Refuses anything not held or released twice."""
    with db.session() as session, session.begin():
        run = _releasable(session.get(WorkflowRun, run_id), run_id)
        run.released_at = now
        session.flush()
        return _summary(run, with_errors=False)
