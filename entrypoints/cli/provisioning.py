"""`porth provision` and `porth status`: the provisioning client's command line."""

from __future__ import annotations

import sys
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connectors.mis.detect import FORMATS, parse_bundle
from connectors.mis.records import FormatRefused, SchoolExport
from connectors.provisioning.inputs import find_bundles, read_bundle
from connectors.provisioning.plan import (
    AddGroup,
    CreateAccount,
    Deactivate,
    Plan,
    Reactivate,
    RemoveGroup,
    TransferIn,
    UpdateAccount,
    UpdateSchoolName,
)
from connectors.provisioning.planner import GuardPolicy
from connectors.provisioning.service import (
    ProvisioningOutcome,
    SchoolOutcome,
    finish_last_pass,
    guard_policy,
    provision_school,
)
from entrypoints.cli.context import counted, settings_of, utc_now
from operational import workflow_runs
from operational.statuses import WorkflowOutcome
from operational.tables import WORKFLOWS

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns; click exports no public name

EXIT_APPLIED = 0
EXIT_UNUSABLE_INPUT = 2
EXIT_HELD = 3



def describe(action) -> str:
    """One line of a dry-run plan, in the school's words."""
    if isinstance(action, CreateAccount):
        record = action.record
        kind = "learner" if hasattr(record, "upn") else "staff"
        return f"create {kind} {record.reference}: {record.legal_forename} {record.legal_surname}"
    if isinstance(action, UpdateAccount):
        return f"update {action.reference}: " + ", ".join(f"{k} -> {v!r}" for k, v in action.changes)
    if isinstance(action, TransferIn):
        return f"transfer in {action.reference} from school {action.from_school}"
    if isinstance(action, Reactivate):
        return f"reactivate {action.reference}"
    if isinstance(action, Deactivate):
        return f"deactivate {action.reference}: {action.reason}"
    if isinstance(action, UpdateSchoolName):
        return f"rename school to {action.name!r}"
    if isinstance(action, AddGroup):
        return f"add {action.kind} {action.code!r}" + (f" ({action.name})" if action.name else "")
    if isinstance(action, RemoveGroup):
        return f"remove group {action.code!r}"
    return repr(action)


def _print_plan(plan: Plan) -> None:
    click.echo(f"School {plan.school}: {counted(len(plan.actions), 'change')}, "
               f"{counted(len(plan.errors), 'record error')}"
               + (" — WOULD BE HELD (M-11)" if plan.hold else ""))
    for action in plan.actions:
        click.echo(f"  [{action.workflow}] {describe(action)}")
    for error in plan.errors:
        detail = f" ({error.detail})" if error.detail else ""
        click.echo(f"  [{error.workflow}] ERROR {error.record}: {error.error}{detail}")


def _summary(outcomes: list[SchoolOutcome], refused: list[str]) -> None:
    click.echo("")
    header = f"{'school':9} {'outcome':10} {'created':>8} {'updated':>8} {'moved':>6} {'deactivated':>12} {'errors':>7}"
    click.echo(header)
    click.echo("-" * len(header))
    totals = dict.fromkeys(("created", "updated", "moved", "deactivated", "errors"), 0)
    for outcome in outcomes:
        row = {key: outcome.counts.get(key, 0) for key in ("created", "updated", "moved", "deactivated")}
        row["errors"] = len(outcome.errors)
        for key, value in row.items():
            totals[key] += value
        click.echo(f"{outcome.school:9} {outcome.outcome:10} {row['created']:8} {row['updated']:8} "
                   f"{row['moved']:6} {row['deactivated']:12} {row['errors']:7}")
    click.echo("-" * len(header))
    click.echo(f"{'all':9} {len(outcomes):<10} {totals['created']:8} {totals['updated']:8} {totals['moved']:6} "
               f"{totals['deactivated']:12} {totals['errors']:7}")
    for outcome in outcomes:
        for notice in outcome.notices:
            click.echo(f"{outcome.school}: {notice}")
        if outcome.message:
            # A failed school's reason is an operator's to read (a directory down, a disk full): stderr.
            failed = outcome.outcome is ProvisioningOutcome.FAILED
            click.echo(f"{'porth: ' if failed else ''}{outcome.school}: {outcome.message}", err=failed)
    for line in refused:
        click.echo(f"refused: {line}", err=True)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--school", "only_school", metavar="DFES", help="Only this school.")
@click.option("--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True)
@click.option("--release", "release_run", type=int, metavar="RUN_ID",
              help="Release a held run (M-11) and apply that school's export.")
@click.option("--jobs", type=click.IntRange(1, 16), help="Schools provisioned at once (default: provisioning.jobs).")
@click.pass_context
def provision(ctx: click.Context, paths: tuple[Path, ...], dry_run: bool, only_school: str | None,
              fmt: str, release_run: int | None, jobs: int | None) -> None:
    """Reconcile MIS exports (files, or folders of per-school exports) with the directory."""
    from entrypoints.runtime import build_runtime, directory_running

    if not paths:
        raise click.UsageError("give at least one export file or folder")
    settings = settings_of(ctx)
    guard = guard_policy(settings.provisioning)
    jobs = jobs or settings.provisioning.jobs
    try:
        found = find_bundles(list(paths))
    except FormatRefused as exc:
        click.echo(f"porth: {exc}", err=True)
        sys.exit(EXIT_UNUSABLE_INPUT)
    if not found:
        # An empty folder (or the wrong one) must not look like a run that found nothing to change.
        click.echo(f"porth: no MIS export found in {', '.join(map(str, paths))}: give a school's export "
                   "(CTF .xml, OneRoster users.csv + orgs.csv, or learners.csv / staff.csv) or a folder of "
                   "per-school folders; nothing was provisioned", err=True)
        sys.exit(EXIT_UNUSABLE_INPUT)
    interactive = sys.stdout.isatty()
    outcomes: list[SchoolOutcome] = []
    refused: list[str] = []
    with directory_running(settings), build_runtime(settings) as runtime:
        runtime.db.migrate()
        released_school, allowed = None, None
        if release_run is not None:
            try:
                # A dry run of a release only reads the held run: it stays held, to be released for real.
                run = (workflow_runs.held_run(runtime.db, release_run) if dry_run
                       else workflow_runs.mark_released(runtime.db, release_run, utc_now()))
            except LookupError as exc:
                raise click.ClickException(str(exc)) from None
            released_school, allowed = run.school, run.held_deactivations
            only_school = only_school or released_school
        work = _work(found, runtime.upn_hash_key, fmt, only_school, released_school, allowed, refused)
        if dry_run:
            outcomes = [_dry_run_one(runtime, export, guard, allowed_here) for _label, export, allowed_here in work]
        else:
            if jobs > 1:
                first_pass = _provision_parallel(runtime, work, guard, jobs, len(found), interactive)
            else:
                first_pass = [_provision_one(runtime, export, guard, allowed_here, label, interactive)
                              for label, export, allowed_here in work]
            outcomes = _last_pass(runtime, first_pass, guard)
    _summary(outcomes, refused)
    if only_school and not outcomes and not refused:
        click.echo(f"porth: no export of school {only_school} in {', '.join(map(str, paths))}; nothing was "
                   "provisioned", err=True)
        sys.exit(EXIT_UNUSABLE_INPUT)
    if refused:
        sys.exit(EXIT_UNUSABLE_INPUT)
    if any(o.outcome is ProvisioningOutcome.HELD for o in outcomes):
        sys.exit(EXIT_HELD)
    if any(o.outcome is ProvisioningOutcome.FAILED for o in outcomes):
        sys.exit(1)


def _work(found, upn_key, fmt, only_school, released_school, allowed, refused):
    """(label, export, allowed deactivations) for every school export, parsed one bundle at a time."""
    for index, (name, files) in enumerate(found, start=1):
        try:
            exports = parse_bundle(read_bundle(files), upn_key, fmt)
        except FormatRefused as exc:
            refused.append(str(exc))
            click.echo(f"[{index}/{len(found)}] refused: {exc}", err=True)
            continue
        except Exception as exc:  # noqa: BLE001 - one bundle's fault must not stop the other schools
            # Only the fault's kind is shown: its text could quote a value of the file, a UPN (M-3).
            reason = f"{name}: could not be read ({type(exc).__name__}); nothing of it was applied"
            refused.append(reason)
            click.echo(f"[{index}/{len(found)}] refused: {reason}", err=True)
            continue
        for export in exports:
            if only_school and export.school != only_school:
                continue
            yield (f"[{index}/{len(found)}] {export.school}", export,
                   allowed if export.school == released_school else None)


def _report(label: str, outcome: SchoolOutcome) -> None:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(outcome.counts.items())) or "no change"
    click.echo(f"{label}: {outcome.outcome}, {counts}, {counted(len(outcome.errors), 'record error')}")


def _one_school(runtime, export: SchoolExport, guard: GuardPolicy, allowed: int | None,
                **hooks) -> SchoolOutcome:
    """One school's first pass; whatever goes wrong in it fails that school only, never the run."""
    try:
        return provision_school(runtime.store, runtime.db, export, utc_now(), guard, allowed_deactivations=allowed,
                                clock=utc_now, defer_last_pass=True, **hooks)
    except Exception as exc:  # noqa: BLE001 - the other schools go on; this one is reported failed
        return SchoolOutcome(export.school, None, ProvisioningOutcome.FAILED,
                             message=f"{type(exc).__name__}: {exc}")


# A school's first pass: (its progress label, its outcome, possibly waiting for the last pass).
FirstPass = list[tuple[str, SchoolOutcome]]


def _last_pass(runtime, first_pass: FirstPass, guard: GuardPolicy) -> list[SchoolOutcome]:
    """Transfers complete in one run (M-6), whatever the order of the schools and --jobs.

    Every school's releases are applied in the first pass, so once it is over a learner a
    school left pending for another is released, if the other school's export released it at
    all, and a creation another school won is an account: the schools left waiting are planned
    again here, one at a time (two of them may wait on the same learner, so applying them at
    once would race for it), and finish their own workflow runs. A last pass rather than all
    releases before any admission: the releases of every school would need every export
    parsed twice or held in memory, where this keeps only the few waiting schools' exports."""
    outcomes: list[SchoolOutcome] = []
    for label, first in sorted(first_pass, key=lambda item: item[1].school):
        outcome = first
        if first.last_pass is not None:
            try:
                outcome = finish_last_pass(runtime.store, runtime.db, first, guard, clock=utc_now)
            except Exception as exc:  # noqa: BLE001 - the other schools go on; this one is reported failed
                outcome = replace(first, outcome=ProvisioningOutcome.FAILED, last_pass=None,
                                  message=f"{type(exc).__name__}: {exc}")
            _report(label, outcome)
        outcomes.append(_without_plan(outcome))
    return outcomes


def _provision_parallel(runtime, work, guard, jobs: int, bundles: int, interactive: bool) -> FirstPass:
    """Several schools at once: their new passwords are hashed on every core. Each school's
    plan is still applied by one worker, in order; at most 2 x jobs exports are
    held in memory, and those of the schools waiting for the last pass."""
    outcomes: FirstPass = []
    bar = click.progressbar(length=bundles, label="schools", show_pos=True) if interactive else None

    def finished(future: Future[tuple[str, SchoolOutcome]]) -> None:
        label, outcome = future.result()
        outcomes.append((label, _without_plan(outcome)))
        if bar is not None:
            bar.update(1)
        elif outcome.last_pass is None:  # a waiting school is reported after the last pass
            _report(label, outcome)

    def one(label: str, export: SchoolExport, allowed: int | None) -> tuple[str, SchoolOutcome]:
        return label, _one_school(runtime, export, guard, allowed)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending: set[Future[tuple[str, SchoolOutcome]]] = set()
        for label, export, allowed in work:
            if len(pending) >= 2 * jobs:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(future)
            pending.add(pool.submit(one, label, export, allowed))
        for future in as_completed(pending):
            finished(future)
    if bar is not None:
        bar.render_finish()
    return outcomes


def _without_plan(outcome: SchoolOutcome) -> SchoolOutcome:
    """What the summary needs of an applied school: its plan (every new account of an initial
    load) is dropped, or the whole nation's plans would stay in memory to the end of the run."""
    return replace(outcome, plan=None)


def _dry_run_one(runtime, export, guard, allowed) -> SchoolOutcome:
    """Print the school's plan; write nothing (the counts are what it plans)."""
    outcome = provision_school(runtime.store, runtime.db, export, utc_now(), guard, dry_run=True,
                               allowed_deactivations=allowed, clock=utc_now)
    if outcome.plan is not None:
        _print_plan(outcome.plan)
    return _without_plan(outcome)


def _provision_one(runtime, export, guard, allowed, label, interactive) -> tuple[str, SchoolOutcome]:
    if not interactive:
        outcome = _one_school(runtime, export, guard, allowed)
        if outcome.last_pass is None:
            _report(label, outcome)
        return label, _without_plan(outcome)
    bar: list[ProgressBar[int]] = []  # the one bar, made once the plan's size is known

    def on_plan(plan: Plan) -> None:
        bar.append(click.progressbar(length=max(1, len(plan.actions)), label=label, show_pos=True))
        bar[0].__enter__()

    try:
        outcome = _one_school(runtime, export, guard, allowed, on_plan=on_plan,
                              progress=lambda _action: bar[0].update(1))
    finally:
        for progress in bar:
            progress.update(max(0, (progress.length or 0) - progress.pos))  # an empty plan is done too
            progress.__exit__(None, None, None)
    if outcome.last_pass is None:
        _report(label, outcome)
    return label, _without_plan(outcome)


@click.command()
@click.option("--school", "only_school", metavar="DFES", help="Only this school.")
@click.pass_context
def status(ctx: click.Context, only_school: str | None) -> None:
    """Each school's last run of each workflow; flags schools without a success in 7 days (M-10)."""
    from entrypoints.runtime import build_runtime, directory_running

    settings = settings_of(ctx)
    with directory_running(settings), build_runtime(settings) as runtime:
        runtime.db.migrate()
        schools = [s for s in runtime.store.schools() if only_school in (None, s.dfes)]
        if only_school and not schools:
            raise click.ClickException(f"school {only_school} is not in the school register: add it with "
                                       "`porth schools import schools.csv`")
        stale = set(workflow_runs.schools_without_recent_success(runtime.db, [s.dfes for s in schools], utc_now()))
        for school in schools:
            flag = "  ** no successful run in the last 7 days **" if school.dfes in stale else ""
            click.echo(f"{school.dfes} {school.name}{flag}")
            last = workflow_runs.last_runs(runtime.db, school.dfes)
            for workflow in WORKFLOWS:
                run = last.get(workflow)
                if run is None:
                    click.echo(f"  {workflow:15} never run")
                    continue
                c = run.counts
                click.echo(
                    f"  {workflow:15} {run.outcome:10} {run.started_at:%Y-%m-%d %H:%M} run {run.id}: "
                    f"{c.created} created, {c.updated} updated, {c.moved} moved, {c.deactivated} deactivated, "
                    f"{counted(run.error_count, 'error')}"
                )
                if run.outcome is WorkflowOutcome.FAILED and run.note:
                    click.echo(f"  {'':15} {run.note}")
