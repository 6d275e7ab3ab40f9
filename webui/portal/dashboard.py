"""The School Administrator Dashboard and the workflow runs behind it (SPEC L-2, M-10).

    GET  /portal/                      the dashboard (?school=DFES for LA/REC administrators)
    GET  /portal/runs/<id>             one workflow run and its error log (M-10)
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from directory.model import AccountKind, AccountState
from operational import workflow_runs
from operational.tables import WORKFLOWS
from webui.portal.access import require
from webui.portal.context import chosen_school, directory, operational_db, school_register, utc_now
from webui.portal.lists import expiring_soon
from webui.portal.permissions import Action, Target, TargetKind, school_target

bp = Blueprint("dashboard", __name__)


def expiring_count(dfes: str) -> int:
    """L-2: the school's governors and non-MIS accounts that expire within the next eight weeks."""
    today = utc_now().date()
    return sum(len(expiring_soon(directory().iter_accounts(school=dfes, kind=kind, state=AccountState.ACTIVE), today))
               for kind in (AccountKind.GOVERNOR, AccountKind.SCHOOL_NONMIS))


@bp.get("/")
@login_required
def dashboard():
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
    return render_template("portal/dashboard.html", school=school, runs=runs, stale=stale, expiring=expiring,
                           choosable=choosable, downloads=downloads)


@bp.get("/runs/<int:run_id>")
@login_required
def workflow_run(run_id: int):
    run = workflow_runs.get_run(operational_db(), run_id)
    if run is None:
        abort(404)
    require(Action.VIEW_PROVISIONING, school_target(run.school))
    return render_template("portal/workflow_run.html", run=run, school=school_register().school(run.school))
