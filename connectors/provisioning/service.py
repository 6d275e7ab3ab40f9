"""One school's provisioning run: read the directory, plan, hold or apply, record.

Each of the school's workflows (M-10) is recorded as a run in the
operational store, with its counts and its record errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from connectors.mis.records import SchoolExport
from connectors.provisioning.applier import ApplyResult, apply_plan
from connectors.provisioning.plan import GROUPS, SCHOOL_DETAILS, Action, Plan, RecordError
from connectors.provisioning.planner import GuardPolicy, hashes_to_look_up, plan_school
from directory.errors import DirectoryError
from directory.model import AccountKind
from directory.store import DirectoryStore
from operational import workflow_runs
from operational.db import Database
from operational.statuses import WorkflowOutcome


class ProvisioningOutcome(StrEnum):
    """How one school's run ended: as its workflow runs were recorded (M-10), or a dry run, which records none."""

    SUCCEEDED = WorkflowOutcome.SUCCEEDED.value
    HELD = WorkflowOutcome.HELD.value  # M-11
    FAILED = WorkflowOutcome.FAILED.value
    DRY_RUN = "dry-run"


@dataclass
class SchoolOutcome:
    school: str
    plan: Plan | None
    outcome: ProvisioningOutcome
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    run_ids: dict[str, int] = field(default_factory=dict)
    message: str | None = None

    @property
    def held_run_id(self) -> int | None:
        return self.run_ids.get("leavers") if self.outcome is ProvisioningOutcome.HELD else None


def _sum(result: ApplyResult) -> dict[str, int]:
    """Account changes across the workflows (groups and school details are not accounts)."""
    totals: dict[str, int] = {}
    for workflow, counter in result.counts.items():
        if workflow in (GROUPS, SCHOOL_DETAILS):
            continue
        for key, value in counter.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _error_log(errors: list[RecordError] | tuple[RecordError, ...], workflow: str) -> list[workflow_runs.RecordError]:
    """One workflow's entries of the error log a digital champion reads (M-10)."""
    return [workflow_runs.RecordError(e.record, e.error, e.field, e.detail) for e in errors if e.workflow == workflow]


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
) -> SchoolOutcome:
    source = ", ".join(export.files)[:500]
    try:
        plan = plan_for(store, export, now.date(), guard, allowed_deactivations)
    except DirectoryError as exc:
        return SchoolOutcome(export.school, None, ProvisioningOutcome.FAILED, message=str(exc))
    if plan is None:
        return SchoolOutcome(
            export.school, None, ProvisioningOutcome.FAILED,
            message=f"school {export.school} is not in the directory; a national administrator adds it",
        )
    if on_plan is not None:
        on_plan(plan)
    if dry_run:
        return SchoolOutcome(export.school, plan, ProvisioningOutcome.DRY_RUN, errors=list(plan.errors))

    workflow_runs.abandon_running(db, export.school, now)
    run_ids = {w: workflow_runs.start_run(db, export.school, w, now, source=source) for w in plan.workflows}
    if plan.hold is not None:
        hold = plan.hold
        note = (f"held: {hold.deactivations} deactivations of {hold.active_accounts} active accounts "
                f"(more than {hold.limit}); nothing applied. Release: porth provision --release "
                f"{run_ids['leavers']} PATH...")
        for workflow, run_id in run_ids.items():
            workflow_runs.finish_run(
                db, run_id, WorkflowOutcome.HELD, now, workflow_runs.RunCounts(),
                _error_log(plan.errors, workflow),
                note=note, held_deactivations=hold.deactivations if workflow == "leavers" else None,
            )
        return SchoolOutcome(export.school, plan, ProvisioningOutcome.HELD, errors=list(plan.errors), run_ids=run_ids,
                             message=note)

    try:
        result = apply_plan(store, plan, now, progress)
    except DirectoryError as exc:
        for run_id in run_ids.values():
            workflow_runs.finish_run(db, run_id, WorkflowOutcome.FAILED, now, workflow_runs.RunCounts(), note=str(exc))
        return SchoolOutcome(export.school, plan, ProvisioningOutcome.FAILED, run_ids=run_ids, message=str(exc))
    errors = list(plan.errors) + result.errors
    for workflow, run_id in run_ids.items():
        counter: Mapping[str, int] = result.counts.get(workflow, {})
        workflow_runs.finish_run(
            db, run_id, WorkflowOutcome.SUCCEEDED, now,
            workflow_runs.RunCounts(counter.get("created", 0), counter.get("updated", 0),
                                    counter.get("moved", 0), counter.get("deactivated", 0)),
            _error_log(errors, workflow),
        )
    return SchoolOutcome(export.school, plan, ProvisioningOutcome.SUCCEEDED, _sum(result), errors, run_ids)
