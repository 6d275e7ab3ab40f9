"""The User Management Portal's sign-in, sign-out and dashboard (a Flask blueprint).

    GET  /portal/                      the School Administrator Dashboard (?school=DFES for LA/REC administrators)
    GET  /portal/runs/<id>             one workflow run and its error log (M-10)
    GET  /portal/sign-in               start a forced sign-in at Porth's IdP (R-6)
    POST /portal/saml/acs              the IdP's Response
    GET  /portal/saml/metadata         the portal's SAML metadata
    POST /portal/sign-out              end the portal session and the single sign-on session
    GET  /portal/saml/sls              the IdP's LogoutResponse (or LogoutRequest)
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from directory.model import AccountKind, AccountState
from operational import workflow_runs
from operational.tables import WORKFLOWS
from directory.rules.lifecycle import expires_within
from webui.portal.permissions import Action, Target, TargetKind
from webui.portal.access import (
    SIGN_IN_NAME,
    SIGN_IN_SESSION_INDEX,
    SIGNED_IN_AT,
    SchoolRegister,
    portal_user,
    require,
    school_target,
)
from webui.portal.saml_sp import PortalServiceProvider, PortalSignInRefused

log = logging.getLogger("porth.portal")
blueprint = Blueprint("portal", __name__, url_prefix="/portal")

PENDING_SIGN_IN = "portal_sign_in"  # the AuthnRequest ID and where to go after
PENDING_SIGN_OUT = "portal_sign_out"
EXPIRY_WARNING_WEEKS = 8  # SPEC L-2


def _sp() -> PortalServiceProvider:
    return current_app.extensions["porth.portal_sp"]


def _register() -> SchoolRegister:
    return current_app.extensions["porth.school_register"]


def _store():
    return current_app.extensions["porth"].store


def _db():
    return current_app.extensions["porth"].db


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _local_path(target: str | None) -> str:
    """Only a path of the portal itself is a place to go after signing in (no open redirect)."""
    if target and target.startswith("/portal/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("portal.dashboard")


@blueprint.context_processor
def _page_helpers() -> dict:
    def portal_menu() -> list[tuple[str, str, bool]]:
        """(address, label, is this the current area) for each area the person may use."""
        from flask_babel import gettext as _

        user = current_user
        school = request.args.get("school") or user.account.school
        items = [(url_for("portal.dashboard", school=school if school != user.account.school else None),
                  _("Dashboard"), request.endpoint == "portal.dashboard")]
        first_list = next((name for name in ("learners", "staff", "governors", "non-mis")
                           if school and list_allowed(name, school)), None)
        if first_list:
            items.append((url_for("portal.users", list_name=first_list,
                                  school=school if school != user.account.school else None),
                          _("View Users"), request.endpoint in ("portal.users", "portal.account_details")))
        if school and user.may(Action.PROMOTE, Target(TargetKind.DIGITAL_CHAMPION, school=school)):
            items.append((url_for("portal.champions", school=school if school != user.account.school else None),
                          _("Digital Champions"), request.endpoint == "portal.champions"))
        if school and user.may(Action.MANAGE_LICENCES, Target(TargetKind.SCHOOL, school=school)):
            items.append((url_for("portal.licences", school=school if school != user.account.school else None),
                          _("M365 Licences"), request.endpoint == "portal.licences"))
        if user.actor.scope.organisations is None or user.actor.scope.organisations:
            items.append((url_for("portal.administrators"), _("Administrators"),
                          request.endpoint == "portal.administrators"))
            items.append((url_for("portal.organisation_users"), _("Non-MIS Users"),
                          request.endpoint in ("portal.organisation_users", "portal.new_organisation_user")))
        if user.role.is_administrator:
            items.append((url_for("portal.audit_log_page"), _("Audit log"), request.endpoint == "portal.audit_log_page"))
        items.append((url_for("portal.profile"), _("My Profile"), request.endpoint == "portal.profile"))
        return items

    def list_allowed(list_name: str, dfes: str) -> bool:
        from webui.portal.users import USER_LISTS

        kind = TargetKind.of_account(USER_LISTS[list_name].kinds[0])
        return current_user.may(Action.VIEW_ACCOUNTS, Target(kind, school=dfes))

    def page_url(number: int) -> str:
        arguments = {**request.args.to_dict(), **(request.view_args or {}), "page": number}
        return url_for(request.endpoint, **arguments)

    return {"portal_menu": portal_menu, "list_allowed": list_allowed, "page_url": page_url,
            "current_user": current_user}


# -- signing in and out -----------------------------------------------------------------
@blueprint.get("/sign-in")
def sign_in():
    url, request_id = _sp().sign_in_url(return_to="")
    session[PENDING_SIGN_IN] = {"id": request_id, "next": _local_path(request.args.get("next"))}
    return redirect(url, 303)


@blueprint.post("/saml/acs")
def assertion_consumer():
    pending = session.pop(PENDING_SIGN_IN, None) or {}
    try:
        signed_in = _sp().accept(request.form.to_dict(), pending.get("id"))
    except PortalSignInRefused as exc:
        log.warning("portal sign-in refused: %s", exc)
        return render_template("portal/sign_in_failed.html"), 400
    account = _store().find_by_username(signed_in.username)
    if account is None or not account.is_active:
        return render_template("portal/sign_in_failed.html"), 403
    session[SIGNED_IN_AT] = _now().isoformat()
    session[SIGN_IN_NAME] = signed_in.name_id
    session[SIGN_IN_SESSION_INDEX] = signed_in.session_index
    login_user(portal_user(account, _register()))
    log.info("portal: %s signed in", account.username)
    return redirect(_local_path(pending.get("next")), 303)


@blueprint.get("/saml/metadata")
def metadata() -> Response:
    return Response(_sp().metadata(), mimetype="application/samlmetadata+xml")


def _forget_portal_session() -> None:
    logout_user()
    for key in (SIGNED_IN_AT, SIGN_IN_NAME, SIGN_IN_SESSION_INDEX):
        session.pop(key, None)


@blueprint.post("/sign-out")
def sign_out():
    name_id, session_index = session.get(SIGN_IN_NAME), session.get(SIGN_IN_SESSION_INDEX)
    _forget_portal_session()
    if not name_id:
        return redirect(url_for("portal.signed_out"), 303)
    url, request_id = _sp().sign_out_url(name_id, session_index)
    session[PENDING_SIGN_OUT] = request_id
    return redirect(url, 303)


@blueprint.get("/saml/sls")
def single_logout():
    errors, answer_url = _sp().accept_logout(request.args.to_dict(), session.pop(PENDING_SIGN_OUT, None))
    if errors:
        log.warning("portal single logout message refused: %s", ", ".join(errors))
    _forget_portal_session()
    if answer_url:  # signed out elsewhere: tell the IdP the portal has done so too
        return redirect(answer_url, 303)
    return redirect(url_for("portal.signed_out"), 303)


@blueprint.get("/signed-out")
def signed_out():
    return render_template("portal/signed_out.html")


# -- the dashboard ------------------------------------------------------------------------
def chosen_school(required: bool = False):
    """The school the page is about: the person's own, or one an administrator picked (in scope).
    None when there is none; with `required`, the page is not found instead."""
    dfes = request.args.get("school") or current_user.account.school
    if not dfes:
        if required:
            abort(404)
        return None
    require(Action.VIEW_SCHOOL, school_target(dfes))
    school = _register().school(dfes)
    if school is None:
        abort(404)
    return school


def _expiring_count(dfes: str, today: date) -> int:
    """L-2: the school's non-MIS accounts that expire within the next eight weeks."""
    count = 0
    for kind in (AccountKind.GOVERNOR, AccountKind.SCHOOL_NONMIS):
        for account in _store().iter_accounts(school=dfes, kind=kind, state=AccountState.ACTIVE):
            if account.expiry and expires_within(account.expiry.date(), today, EXPIRY_WARNING_WEEKS):
                count += 1
    return count


@blueprint.get("/")
@login_required
def dashboard():
    school = chosen_school()
    user = current_user
    choosable = []
    if user.actor.scope.schools is None or len(user.actor.scope.schools) > 1:
        in_scope = [s for s in _register().schools() if user.actor.scope.covers_school(s.dfes)]
        choosable = sorted(in_scope, key=lambda s: (s.la_code, s.name))
    runs, expiring = None, None
    if school is not None and user.may(Action.VIEW_PROVISIONING, school_target(school.dfes)):
        last = workflow_runs.last_runs(_db(), school.dfes)
        runs = [(workflow, last.get(workflow)) for workflow in WORKFLOWS]
        expiring = _expiring_count(school.dfes, _now().date())
    downloads = [which for which, kind in (("pupils", TargetKind.LEARNER), ("staff", TargetKind.STAFF))
                 if school is not None and user.may(Action.DOWNLOAD_CREDENTIALS, Target(kind, school=school.dfes))]
    stale = bool(runs) and workflow_runs.schools_without_recent_success(_db(), [school.dfes], _now()) == [school.dfes]
    return render_template("portal/dashboard.html", school=school, runs=runs, stale=stale, expiring=expiring,
                           choosable=choosable, downloads=downloads)


@blueprint.get("/runs/<int:run_id>")
@login_required
def workflow_run(run_id: int):
    run = workflow_runs.get_run(_db(), run_id)
    if run is None:
        abort(404)
    require(Action.VIEW_PROVISIONING, school_target(run.school))
    return render_template("portal/workflow_run.html", run=run, school=_register().school(run.school))
