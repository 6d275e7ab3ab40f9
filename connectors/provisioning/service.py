"""One school's provisioning run: read the directory, plan, hold or apply, record.

Each of the school's workflows (M-10) is recorded as a run in the
operational store, with its real start and end times, its counts (written
as it goes, so a killed run's row says what it had done) and its record
errors.

A run over many schools completes transfers in one go (M-6) whatever the
order the schools are applied in and however many run at once: a school
whose plan waits on another school (a `Pending transfer`: the old school
has not released the learner yet) or whose creation the directory refused
because another school created the same learner meanwhile (UpnHashTaken)
keeps its workflow runs open and is planned again in a last pass, once every
school of the run has been applied (see `finish_last_pass`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum

from config.settings import ProvisioningSettings
from connectors.mis.records import SchoolExport
from connectors.provisioning.applier import COUNTED, ApplyResult, apply_plan
from connectors.provisioning.plan import (
    DIRECTORY_REFUSED,
    GROUPS,
    PENDING_TRANSFER,
    SCHOOL_DETAILS,
    Action,
    Deactivate,
    Plan,
    RecordError,
)
from connectors.provisioning.planner import GuardPolicy, hashes_to_look_up, plan_school, workflows_of
from directory.errors import DirectoryError
from directory.model import AccountKind
from directory.store import DirectoryStore
from operational import workflow_runs
from operational.db import Database
from operational.statuses import WorkflowOutcome

Clock = Callable[[], datetime]

# A running run's counts are written every this many actions or seconds, whichever comes first
# (one small transaction): a killed run's row keeps what it had done (M-10).
PROGRESS_EVERY_ACTIONS = 100
PROGRESS_EVERY_SECONDS = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def guard_policy(settings: ProvisioningSettings) -> GuardPolicy:
    """The M-11 guard as the operator configured it (settings `provisioning.guard_*`)."""
    return GuardPolicy(settings.guard_max_share, settings.guard_min_accounts, settings.guard_small_school_share,
                       settings.guard_replacement_share, settings.guard_replacement_min)


class ProvisioningOutcome(StrEnum):
    """How one school's run ended: as its workflow runs were recorded (M-10), or a dry run, which records none."""

    SUCCEEDED = WorkflowOutcome.SUCCEEDED.value
    HELD = WorkflowOutcome.HELD.value  # M-11
    FAILED = WorkflowOutcome.FAILED.value
    DRY_RUN = "dry-run"


@dataclass(frozen=True)
class LastPass:
    """A school applied once whose workflow runs stay open until the run's last pass plans
    `records` again: only these schools' exports are kept in memory to the end of the run."""

    export: SchoolExport
    started: datetime
    allowed_deactivations: int | None
    plan_errors: tuple[RecordError, ...]
    applied: ApplyResult
    records: frozenset[str]  # references of the records to plan again


@dataclass
class SchoolOutcome:
    school: str
    plan: Plan | None
    outcome: ProvisioningOutcome
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    run_ids: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    notices: tuple[str, ...] = ()  # what the run found, e.g. an earlier run it closed as interrupted
    last_pass: LastPass | None = None  # set while the school waits for the run's last pass

    @property
    def held_run_id(self) -> int | None:
        return self.run_ids.get("leavers") if self.outcome is ProvisioningOutcome.HELD else None


def _account_totals(counts: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Account changes across the workflows (groups and school details are not accounts)."""
    totals: dict[str, int] = {}
    for workflow, counter in counts.items():
        if workflow in (GROUPS, SCHOOL_DETAILS):
            continue
        for key, value in counter.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def planned_counts(plan: Plan) -> dict[str, int]:
    """What a plan would change, counted as an applied run counts it (the applier's COUNTED
    table), so a dry run's summary says what it plans."""
    per_workflow: dict[str, Counter[str]] = {}
    for action in plan.actions:
        per_workflow.setdefault(action.workflow, Counter())[COUNTED[type(action)]] += 1
    return _account_totals(per_workflow)


def _error_log(errors: list[RecordError] | tuple[RecordError, ...], workflow: str) -> list[workflow_runs.RecordError]:
    """One workflow's entries of the error log a digital champion reads (M-10)."""
    return [workflow_runs.RecordError(e.record, e.error, e.field, e.detail) for e in errors if e.workflow == workflow]


def _run_counts(counter: Mapping[str, int]) -> workflow_runs.RunCounts:
    return workflow_runs.RunCounts(counter.get("created", 0), counter.get("updated", 0),
                                   counter.get("moved", 0), counter.get("deactivated", 0))


def plan_for(store: DirectoryStore, export: SchoolExport, today: date, guard: GuardPolicy,
             allowed_deactivations: int | None = None) -> Plan | None:
    """The plan for one school, or None if the school is not in the directory."""
    school = store.get_school(export.school)
    if school is None:
        return None
    accounts = [a for a in store.accounts_for_planning(export.school) if a.kind.is_mis]
    wanted = hashes_to_look_up(export, [a for a in accounts if a.kind is AccountKind.LEARNER])
    elsewhere = {
        upn_hash: [a for a in found if a.school != export.school]
        for upn_hash, found in store.find_by_upn_hashes(wanted).items()
    }
    return plan_school(export, accounts, elsewhere, store.groups(export.school), school.name, today, guard,
                       allowed_deactivations)


@dataclass(frozen=True)
class Unplanned:
    """Why a school has no plan: `message` for the operator; `recorded` when the school's
    workflow runs record it as failed (not for a school the directory does not have)."""

    message: str
    recorded: bool = True


def _plan_or_failure(store: DirectoryStore, export: SchoolExport, today: date, guard: GuardPolicy,
                     allowed_deactivations: int | None) -> Plan | Unplanned:
    """The school's plan, or why there is none: a directory that cannot be read fails the
    school's run (never a record error), and so does a fault of the planner's, so that one
    school's export never stops the others."""
    try:
        plan = plan_for(store, export, today, guard, allowed_deactivations)
    except DirectoryError as exc:
        return Unplanned(str(exc))
    except Exception as exc:  # noqa: BLE001 - one school's fault must not stop the other schools
        return Unplanned(f"could not plan school {export.school}: {type(exc).__name__}: {exc}")
    if plan is None:
        return Unplanned(f"school {export.school} is not in the school register: add it with "
                         "`porth schools import schools.csv` (dfes,name,type,la_code,...), then provision again",
                         recorded=False)
    return plan


class _ProgressWriter:
    """Told of every applied action: passes it on to the caller's progress, and every
    PROGRESS_EVERY_ACTIONS actions or PROGRESS_EVERY_SECONDS writes the counts so far to the
    open workflow runs."""

    def __init__(self, db: Database, run_ids: Mapping[str, int], before: ApplyResult | None,
                 then: Callable[[Action], None] | None):
        self.db, self.run_ids, self.before, self.then = db, run_ids, before, then
        self.unwritten, self.written_at = 0, time.monotonic()

    def __call__(self, action: Action, so_far: ApplyResult) -> None:
        self.unwritten += 1
        if (self.unwritten >= PROGRESS_EVERY_ACTIONS
                or time.monotonic() - self.written_at >= PROGRESS_EVERY_SECONDS):
            self.write(so_far)
        if self.then is not None:
            self.then(action)

    def write(self, so_far: ApplyResult) -> None:
        counts: dict[str, Counter[str]] = {}
        for result in (self.before, so_far):
            for workflow, counter in (result.counts.items() if result is not None else ()):
                counts.setdefault(workflow, Counter()).update(counter)
        workflow_runs.record_progress(
            self.db, {run_id: _run_counts(counts.get(workflow, {})) for workflow, run_id in self.run_ids.items()})
        self.unwritten, self.written_at = 0, time.monotonic()


def _finish(db: Database, run_ids: Mapping[str, int], outcome: WorkflowOutcome, ended: datetime,
            counts: Mapping[str, Mapping[str, int]], errors: list[RecordError], note: str | None = None) -> None:
    for workflow, run_id in run_ids.items():
        workflow_runs.finish_run(db, run_id, outcome, ended, _run_counts(counts.get(workflow, {})),
                                 _error_log(errors, workflow), note=note)


def _interrupted(abandoned: list[workflow_runs.RunSummary]) -> tuple[str, ...]:
    """What the school's earlier, killed run had done, as its progress writes recorded it."""
    if not abandoned:
        return ()
    done = _account_totals({run.workflow: {"created": run.counts.created, "updated": run.counts.updated,
                                           "moved": run.counts.moved, "deactivated": run.counts.deactivated}
                            for run in abandoned})
    started = min(run.started_at for run in abandoned)
    notice = (f"the run of {started:%Y-%m-%d %H:%M} UTC was interrupted and is closed as failed; it had done: "
              f"{workflow_runs.describe_counts(_run_counts(done))}; this run carries on from there")
    return (notice,)


def _to_plan_again(plan: Plan, applied: ApplyResult) -> frozenset[str]:
    """Records whose outcome depends on another school of the same run: pending transfers (the
    old school may release the learner later in the run) and creations refused because another
    school created the learner first."""
    return frozenset({e.record for e in plan.errors if e.error == PENDING_TRANSFER}
                     | {action.reference for action in applied.taken})


def provision_school(
    store: DirectoryStore,
    db: Database,
    export: SchoolExport,
    now: datetime,
    guard: GuardPolicy = GuardPolicy(),  # noqa: B008 - a frozen dataclass: one shared default is safe
    dry_run: bool = False,
    allowed_deactivations: int | None = None,
    progress: Callable[[Action], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    clock: Clock = utc_now,
    defer_last_pass: bool = False,
) -> SchoolOutcome:
    """Plan and apply one school's export; `now` is when the run starts (and its day the day
    planned for), `clock` tells the time as the run goes (when it ends).

    With `defer_last_pass`, a school with records to plan again (see `_to_plan_again`) is
    returned with its runs still open and `last_pass` set: the caller runs `finish_last_pass`
    once every other school of the run is applied. Without it, only creations the directory
    refused because another process created the learner first are planned again, here."""
    source = ", ".join(export.files)[:500]
    planned = _plan_or_failure(store, export, now.date(), guard, allowed_deactivations)
    if isinstance(planned, Unplanned):
        failed = SchoolOutcome(export.school, None, ProvisioningOutcome.FAILED, message=planned.message)
        if planned.recorded and not dry_run:
            # The school's workflows failed tonight (M-10): its status says so, and why.
            failed.run_ids = {w: workflow_runs.start_run(db, export.school, w, now, source=source)
                              for w in workflows_of(export)}
            _finish(db, failed.run_ids, WorkflowOutcome.FAILED, clock(), {}, [], note=planned.message)
        return failed
    plan = planned
    if on_plan is not None:
        on_plan(plan)
    if dry_run:
        return SchoolOutcome(export.school, plan, ProvisioningOutcome.DRY_RUN, planned_counts(plan),
                             errors=list(plan.errors))

    notices = _interrupted(workflow_runs.abandon_running(db, export.school, clock()))
    run_ids = {w: workflow_runs.start_run(db, export.school, w, now, source=source) for w in plan.workflows}
    if plan.hold is not None:
        hold = plan.hold
        why = hold.reason or (f"{hold.deactivations} deactivations of {hold.active_accounts} active accounts "
                              f"(more than {hold.limit})")
        note = f"held: {why}; nothing applied. Release: porth provision --release {run_ids['leavers']} PATH..."
        ended = clock()
        for workflow, run_id in run_ids.items():
            workflow_runs.finish_run(
                db, run_id, WorkflowOutcome.HELD, ended, workflow_runs.RunCounts(),
                _error_log(plan.errors, workflow),
                note=note, held_deactivations=hold.deactivations if workflow == "leavers" else None,
            )
        return SchoolOutcome(export.school, plan, ProvisioningOutcome.HELD, errors=list(plan.errors), run_ids=run_ids,
                             message=note, notices=notices)

    applied = ApplyResult()
    writer = _ProgressWriter(db, run_ids, None, progress)
    failure = _apply(store, plan, now, writer, applied)
    if failure is not None:
        _finish(db, run_ids, WorkflowOutcome.FAILED, clock(), applied.counts, [], note=failure)
        return SchoolOutcome(export.school, plan, ProvisioningOutcome.FAILED, _account_totals(applied.counts),
                             run_ids=run_ids, message=failure, notices=notices)
    # Planned again at once, only creations another process won: nothing else changed meanwhile.
    again = (_to_plan_again(plan, applied) if defer_last_pass
             else frozenset(action.reference for action in applied.taken))
    if again:
        writer.write(applied)  # the open runs say what this pass did, should the run die before the last
        waiting = SchoolOutcome(
            export.school, plan, ProvisioningOutcome.SUCCEEDED, _account_totals(applied.counts),
            list(plan.errors) + applied.errors, run_ids, notices=notices,
            last_pass=LastPass(export, now, allowed_deactivations, plan.errors, applied, again),
        )
        return waiting if defer_last_pass else finish_last_pass(store, db, waiting, guard, clock)
    errors = list(plan.errors) + applied.errors
    _finish(db, run_ids, WorkflowOutcome.SUCCEEDED, clock(), applied.counts, errors)
    return SchoolOutcome(export.school, plan, ProvisioningOutcome.SUCCEEDED, _account_totals(applied.counts),
                         errors, run_ids, notices=notices)


def _apply(store: DirectoryStore, plan: Plan, now: datetime, writer: _ProgressWriter,
           into: ApplyResult) -> str | None:
    """Apply `plan` into `into`; None, or the directory failure that stopped it (the school's
    run fails: never a record error)."""
    try:
        apply_plan(store, plan, now, writer, result=into)
    except DirectoryError as exc:  # apply_plan lets only a DirectoryFailure out
        return str(exc)
    return None


def finish_last_pass(store: DirectoryStore, db: Database, waiting: SchoolOutcome,
                     guard: GuardPolicy = GuardPolicy(),  # noqa: B008 - frozen: one shared default is safe
                     clock: Clock = utc_now, progress: Callable[[Action], None] | None = None) -> SchoolOutcome:
    """The last pass over a school whose records wait on other schools: read its directory
    state again, apply what its plan now has for those records, and finish the SAME workflow
    runs with both passes' counts. The records' errors are the new plan's: a pending transfer
    the old school has released since is a move, and its error is gone from the log.

    Only the waiting records' actions are applied, never a deactivation: the guard (M-11)
    weighed the first plan's deactivations, and the first pass applied them."""
    pending = waiting.last_pass
    if pending is None:
        return waiting
    first_errors = [e for e in pending.plan_errors if e.record not in pending.records]
    applied = pending.applied
    planned = _plan_or_failure(store, pending.export, pending.started.date(), guard, pending.allowed_deactivations)
    if isinstance(planned, Unplanned):
        note = f"the last pass could not plan the school again: {planned.message}"
        _finish(db, waiting.run_ids, WorkflowOutcome.FAILED, clock(), applied.counts, [], note=note)
        return replace(waiting, outcome=ProvisioningOutcome.FAILED, message=note, last_pass=None)
    replan = Plan(
        planned.school,
        tuple(a for a in planned.actions
              if getattr(a, "reference", None) in pending.records and not isinstance(a, Deactivate)),
        tuple(e for e in planned.errors if e.record in pending.records),
        None, planned.workflows,
    )
    later = ApplyResult()
    failure = _apply(store, replan, pending.started, _ProgressWriter(db, waiting.run_ids, applied, progress), later)
    applied.merge(later)
    if failure is not None:
        _finish(db, waiting.run_ids, WorkflowOutcome.FAILED, clock(), applied.counts, [], note=failure)
        return replace(waiting, outcome=ProvisioningOutcome.FAILED, counts=_account_totals(applied.counts),
                       errors=[], message=failure, last_pass=None)
    # A creation refused again in the last pass (another process than this run took the learner):
    # logged, so the record is not dropped silently; the next run plans it against that account.
    taken_again = [RecordError(a.workflow, a.reference, DIRECTORY_REFUSED, "UPN",
                               "another account already carries this UPN; planned again on the next run")
                   for a in later.taken]
    errors = first_errors + list(replan.errors) + applied.errors + taken_again
    _finish(db, waiting.run_ids, WorkflowOutcome.SUCCEEDED, clock(), applied.counts, errors)
    return replace(waiting, counts=_account_totals(applied.counts), errors=errors, last_pass=None)
