"""The dashboards and the workflow runs behind them (SPEC L-2, M-10, R-4).

    GET  /portal/                      a school's dashboard (?school=DFES for LA/REC administrators), or,
                                       for LA, REC and national administrators, their organisation's
                                       overview (?org=CODE; a national administrator: all of Wales)
    GET  /portal/runs/<id>             one workflow run and its error log (M-10)

The overview lists the organisation's schools, each with the last run of its five workflows and
what needs attention there, its own non-MIS accounts and those expiring within eight weeks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from directory.model import AccountKind, AccountState, Organisation, OrganisationKind, School, SchoolState
from directory.rules.lifecycle import expires_within
from directory.store import AccountQuery
from operational import workflow_runs
from operational.statuses import WorkflowOutcome
from operational.tables import WORKFLOWS
from operational.workflow_runs import RunSummary
from webui.portal.access import require
from webui.portal.context import (
    chosen_organisation,
    chosen_school,
    directory,
    operational_db,
    organisation_choices,
    page_size,
    school_register,
    utc_now,
)
from webui.portal.lists import EXPIRY_WARNING_WEEKS, expiring_soon
from webui.portal.pages import asked_page, paginate
from webui.portal.permissions import Action, PortalRole, Target, TargetKind, account_target, school_target

bp = Blueprint("dashboard", __name__)

ORGANISATION_ROLES = frozenset({PortalRole.LA_ADMINISTRATOR, PortalRole.REC_ADMINISTRATOR,
                                PortalRole.NATIONAL_ADMINISTRATOR})


class Flag(StrEnum):
    """What makes a school need an administrator's attention on the overview."""

    FAILED = "failed"  # the last run of a workflow failed
    HELD = "held"  # a run waits for an administrator to release it (M-11)
    RECORD_ERRORS = "record-errors"  # the last runs logged errors against records (M-9)
    STALE = "stale"  # no workflow succeeded in the last 7 days: the export is stale or never came (M-10)


def provisioning_flags(last: Mapping[str, RunSummary], stale: bool) -> tuple[Flag, ...]:
    """Pure: the flags of a school from the last run of each of its workflows."""
    outcomes = {run.outcome for run in last.values()}
    flags = [flag for flag, outcome in ((Flag.FAILED, WorkflowOutcome.FAILED), (Flag.HELD, WorkflowOutcome.HELD))
             if outcome in outcomes]
    if any(run.error_count for run in last.values()):
        flags.append(Flag.RECORD_ERRORS)
    if stale:
        flags.append(Flag.STALE)
    return tuple(flags)


@dataclass(frozen=True)
class SchoolStatus:
    school: School
    runs: list[tuple[str, RunSummary | None]]  # each of the five workflows, in order
    flags: tuple[Flag, ...]

    @property
    def record_errors(self) -> int:
        return sum(run.error_count for _workflow, run in self.runs if run)


def schools_of(organisation: Organisation | None, organisations: list[Organisation]) -> list[School]:
    """The open schools an organisation's overview lists: an LA's, a region's LAs' (REC), or every
    one (None: a national administrator's all of Wales), in the person's scope, by name."""
    if organisation is None:
        las = None
    elif organisation.kind is OrganisationKind.CONSORTIUM:
        las = {o.code for o in organisations if o.parent == organisation.code}
    else:
        las = {organisation.code}
    scope = current_user.actor.scope
    listed = (s for s in school_register().schools() if s.state is SchoolState.OPEN
              and (las is None or s.la_code in las) and scope.covers_school(s.dfes))
    return sorted(listed, key=lambda s: (s.name.casefold(), s.dfes))


def statuses(schools: list[School]) -> list[SchoolStatus]:
    """Every school's last runs and flags, from two queries whatever the number of schools."""
    dfes_numbers = [s.dfes for s in schools]
    last = workflow_runs.last_runs_of_schools(operational_db(), dfes_numbers)
    stale = set(workflow_runs.schools_without_recent_success(operational_db(), dfes_numbers, utc_now()))
    return [SchoolStatus(s, [(w, last[s.dfes].get(w)) for w in WORKFLOWS], provisioning_flags(last[s.dfes],
                                                                                               s.dfes in stale))
            for s in schools]


def own_expiry():
    """L-2 for the signed-in person: their own account's expiry when it falls in the next eight
    weeks (None otherwise), and whether they may extend it themselves."""
    account = current_user.account
    if not account.expiry or not expires_within(account.expiry.date(), utc_now().date(), EXPIRY_WARNING_WEEKS):
        return None
    return {"date": account.expiry, "may_extend": current_user.may(Action.EXTEND_EXPIRY, account_target(account)),
            "organisation": account.organisation, "school": account.school}


def expiring_count(dfes: str) -> int:
    """L-2: the school's governors and non-MIS accounts that expire within the next eight weeks."""
    today = utc_now().date()
    return sum(len(expiring_soon(directory().iter_accounts(school=dfes, kind=kind, state=AccountState.ACTIVE), today))
               for kind in (AccountKind.GOVERNOR, AccountKind.SCHOOL_NONMIS))


def lands_on_overview() -> bool:
    """LA, REC and national administrators land on their organisation; ?school= opens a school."""
    return current_user.role in ORGANISATION_ROLES and not request.args.get("school")


@bp.get("/")
@login_required
def dashboard():
    if lands_on_overview():
        return organisation_overview()
    school = chosen_school()
    user = current_user
    choosable = []
    if user.actor.scope.schools is None or len(user.actor.scope.schools) > 1:
        in_scope = [s for s in school_register().schools() if user.actor.scope.covers_school(s.dfes)]
        choosable = sorted(in_scope, key=lambda s: (s.la_code, s.name))
    runs, expiring = None, None
    if school is not None and user.may(Action.VIEW_PROVISIONING, school_target(school.dfes)):
        last = workflow_runs.last_runs(operational_db(), school.dfes)
        runs = [(workflow, last.get(workflow)) for workflow in WORKFLOWS]
        expiring = expiring_count(school.dfes)
    downloads = [which for which, kind in (("pupils", TargetKind.LEARNER), ("staff", TargetKind.STAFF))
                 if school is not None and user.may(Action.DOWNLOAD_CREDENTIALS, Target(kind, school=school.dfes))]
    stale = bool(runs) and workflow_runs.schools_without_recent_success(
        operational_db(), [school.dfes], utc_now()) == [school.dfes]
    overview = user.role in ORGANISATION_ROLES
    return render_template("portal/dashboard.html", school=school, runs=runs, stale=stale, expiring=expiring,
                           choosable=choosable, downloads=downloads, own=own_expiry(), overview=overview)


def overview_organisation(organisations: list[Organisation]) -> tuple[Organisation, AccountKind | None]:
    """The organisation the overview is about (context.chosen_organisation). An LA administrator
    whose LA is not in the register yet (schools are, by their LA number) still lands on its
    schools, under the LA's number: the page the administrator needs to notice what is missing."""
    code = request.args.get("org") or current_user.account.organisation
    if code and not request.args.get("org") and current_user.actor.scope.covers_organisation(code) \
            and all(o.code != code for o in organisations):
        return Organisation(code, code, OrganisationKind.LOCAL_AUTHORITY), None
    return chosen_organisation()


def organisation_overview():
    """R-4: what an LA or REC administrator looks after, at a glance; a national administrator
    starts from all of Wales (no ?org=) and may narrow it to one organisation."""
    national = current_user.actor.scope.organisations is None
    organisations = school_register().organisations()
    organisation, kind = (None, None) if national and not request.args.get("org") else overview_organisation(
        organisations)
    search = request.args.get("q", "").strip()[:100]
    attention_only = request.args.get("attention") == "yes"
    listed = statuses(schools_of(organisation, organisations))
    flagged = sum(1 for s in listed if s.flags)
    shown = [s for s in listed if (not attention_only or s.flags) and
             (not search or search.casefold() in s.school.name.casefold() or search == s.school.dfes)]
    accounts = None  # all of Wales, or an LA not in the register: no one organisation's accounts to count
    may_extend = False
    if organisation is not None and kind is not None:
        target = Target(TargetKind.of_account(kind), organisation=organisation.code)
        may_extend = current_user.may(Action.EXTEND_EXPIRY, target)
        people = directory().find_accounts(AccountQuery(
            organisation=organisation.code, kinds=(kind,), states=(AccountState.ACTIVE, AccountState.DEACTIVATED),
            fields=("id", "username", "kind", "state", "surname", "forename", "organisation", "expiry")))
        active = [a for a in people if a.state is AccountState.ACTIVE]
        accounts = {"active": len(active), "deactivated": len(people) - len(active),
                    "expiring": len(expiring_soon(active, utc_now().date()))}
    la_names = {o.code: o.name for o in organisations}
    return render_template(
        "portal/organisation_dashboard.html", organisation=organisation, choices=organisation_choices(),
        national=national, page=paginate(shown, asked_page(), page_size()), total=len(listed), flagged=flagged,
        search=search, attention_only=attention_only, accounts=accounts, may_extend=may_extend,
        show_la=organisation is None or organisation.kind is OrganisationKind.CONSORTIUM, la_names=la_names,
        own=own_expiry())


@bp.get("/runs/<int:run_id>")
@login_required
def workflow_run(run_id: int):
    run = workflow_runs.get_run(operational_db(), run_id)
    if run is None:
        abort(404)
    require(Action.VIEW_PROVISIONING, school_target(run.school))
    return render_template("portal/workflow_run.html", run=run, school=school_register().school(run.school))
