"""Non-MIS accounts made by hand (SPEC A-1, L-1, L-2, R-3, R-4): governors and a
school's non-MIS users, LA and REC staff, their expiry and its extension.

    GET      /portal/users/<governors|non-mis>/new           the MIS warning, then the form (?understood=yes)
    POST     /portal/users/<governors|non-mis>/new
    GET      /portal/organisation-users                      Manage Local Authority / REC Non-MIS Users (?org=)
    GET/POST /portal/organisation-users/new                  Add New User, with the optional contact fields
    GET      /portal/expiring                                Manage Expiring Accounts (the next 8 weeks)
    POST     /portal/expiring                                extend the selected accounts
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required

from directory.model import AccountKind, AccountState, Contact, NewAccount, Organisation, OrganisationKind
from directory.rules.lifecycle import ExpiryChoice, expires_within, expiry_date
from webui.portal.permissions import Action, Target, TargetKind
from directory.store import AccountQuery
from webui.portal import audit_log
from webui.portal.access import account_target, require
from webui.portal.manage import MAX_SELECTED, _generated, _policy_errors
from webui.portal.users import page_of, query_words
from webui.portal.views import EXPIRY_WARNING_WEEKS, _register, _store, blueprint, chosen_school

SCHOOL_NON_MIS_LISTS = {"governors": AccountKind.GOVERNOR, "non-mis": AccountKind.SCHOOL_NONMIS}
EXPIRY_LABELS = {
    ExpiryChoice.ONE_MONTH: _l("1 month"),
    ExpiryChoice.THREE_MONTHS: _l("3 months"),
    ExpiryChoice.SIX_MONTHS: _l("6 months"),
    ExpiryChoice.END_OF_ACADEMIC_YEAR: _l("End of the academic year (31 August)"),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9 +()-]{6,20}$")


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _expiry_at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _read_form(with_contact: bool) -> tuple[dict, dict[str, str], str | None]:
    """The submitted fields, the errors by field, and a generated password when a Generate button was pressed."""
    form = {name: " ".join(request.form.get(name, "").split())
            for name in ("forename", "surname", "expiry", "organisation_name", "job_title", "work_email", "phone")}
    form["password"] = request.form.get("password", "")
    generated = _generated(request.form.get("generate"))
    if generated:
        form["password"] = generated
        return form, {}, generated
    errors: dict[str, str] = {}
    for field, message in (("forename", _("Enter a forename")), ("surname", _("Enter a surname"))):
        if not form[field]:
            errors[field] = message
        elif len(form[field]) > 64:
            errors[field] = _("Use at most 64 characters")
    problems = _policy_errors(form["password"])
    if problems:
        errors["password"] = problems[0]
    if form["expiry"] not in {c.value for c in ExpiryChoice}:
        errors["expiry"] = _("Select when the account expires")
    if with_contact:
        if form["work_email"] and not _EMAIL.match(form["work_email"]):
            errors["work_email"] = _("Enter a work email address like name@example.gov.uk")
        if form["phone"] and not _PHONE.match(form["phone"]):
            errors["phone"] = _("Enter a contact number using digits, spaces and + ( ) -")
        for field in ("organisation_name", "job_title"):
            if len(form[field]) > 128:
                errors[field] = _("Use at most 128 characters")
    return form, errors, None


def _create(kind: AccountKind, form: dict, school: str | None, organisation: str | None, with_contact: bool):
    contact = Contact(organisation_name=form["organisation_name"] or None, job_title=form["job_title"] or None,
                      work_email=form["work_email"] or None, phone=form["phone"] or None) if with_contact else None
    new = NewAccount(kind=kind, surname=form["surname"], forename=form["forename"],
                     created_by=current_user.account.username, school=school, organisation=organisation,
                     expiry=_expiry_at(expiry_date(form["expiry"], _today())), password=form["password"],
                     contact=contact if contact and any(vars(contact).values()) else None)
    account = _store().add_account(new, datetime.now(timezone.utc))  # exists at once: no hourly wait
    audit_log.record("create-account", account, detail={"expiry": form["expiry"]})
    flash(_("The account %(address)s has been created and can be used now.", address=account.mail), "success")
    return redirect(url_for("portal.account_details", account_id=account.id), 303)


@blueprint.route("/users/<any(governors, 'non-mis'):list_name>/new", methods=["GET", "POST"])
@login_required
def new_school_user(list_name: str):
    kind = SCHOOL_NON_MIS_LISTS[list_name]
    school = chosen_school(required=True)
    require(Action.CREATE_ACCOUNT, Target(TargetKind.of_account(kind), school=school.dfes))
    back = url_for("portal.users", list_name=list_name, school=school.dfes)
    if request.method == "GET" and request.args.get("understood") != "yes":
        return render_template("portal/new_user_warning.html", school=school, list_name=list_name, back=back)
    form, errors, _generated_now = _read_form(with_contact=False) if request.method == "POST" else ({}, {}, None)
    if request.method == "POST" and not errors and not _generated_now:
        return _create(kind, form, school.dfes, None, with_contact=False)
    return render_template("portal/new_user.html", kind=kind, school=school, organisation=None, form=form,
                           errors=errors, expiry_labels=EXPIRY_LABELS, back=back), 400 if errors else 200


# -- LA and REC non-MIS users ---------------------------------------------------------------
def _organisation_choices() -> list[Organisation]:
    scope = current_user.actor.scope
    return sorted((o for o in _register().organisations() if scope.covers_organisation(o.code)),
                  key=lambda o: (o.kind != OrganisationKind.CONSORTIUM, o.name))


def _chosen_organisation() -> tuple[Organisation, AccountKind]:
    code = request.args.get("org") or current_user.account.organisation
    if not code:
        choices = _organisation_choices()
        code = choices[0].code if choices else None
    organisation = next((o for o in _register().organisations() if o.code == code), None)
    if organisation is None:
        abort(404)
    kind = AccountKind.REC_NONMIS if organisation.kind is OrganisationKind.CONSORTIUM else AccountKind.LA_NONMIS
    require(Action.VIEW_ACCOUNTS, Target(TargetKind.of_account(kind), organisation=organisation.code))
    return organisation, kind


@blueprint.get("/organisation-users")
@login_required
def organisation_users():
    organisation, kind = _chosen_organisation()
    search = request.args.get("q", "").strip()[:100]
    accounts = _store().find_accounts(AccountQuery(
        organisation=organisation.code, kinds=(kind,), states=(AccountState.ACTIVE, AccountState.DEACTIVATED),
        words=query_words(search)))
    page = page_of(accounts, request.args.get("page", 1, type=int),
                   current_app.extensions["porth"].settings.portal.page_size)
    target = Target(TargetKind.of_account(kind), organisation=organisation.code)
    return render_template("portal/organisation_users.html", organisation=organisation, page=page, search=search,
                           choices=_organisation_choices(), may_create=current_user.may(Action.CREATE_ACCOUNT, target),
                           may_show=current_user.may(Action.SHOW_PASSWORD, target))


@blueprint.route("/organisation-users/new", methods=["GET", "POST"])
@login_required
def new_organisation_user():
    organisation, kind = _chosen_organisation()
    require(Action.CREATE_ACCOUNT, Target(TargetKind.of_account(kind), organisation=organisation.code))
    form, errors, generated = _read_form(with_contact=True) if request.method == "POST" else ({}, {}, None)
    if request.method == "POST" and not errors and not generated:
        return _create(kind, form, None, organisation.code, with_contact=True)
    return render_template("portal/new_user.html", kind=kind, school=None, organisation=organisation, form=form,
                           errors=errors, expiry_labels=EXPIRY_LABELS,
                           back=url_for("portal.organisation_users", org=organisation.code)), 400 if errors else 200


# -- expiring accounts (L-1, L-2) -------------------------------------------------------------
@blueprint.route("/expiring", methods=["GET", "POST"])
@login_required
def expiring():
    """The school's governors and non-MIS accounts expiring within 8 weeks; extend one or many."""
    school = chosen_school(required=True)
    require(Action.EXTEND_EXPIRY, Target(TargetKind.GOVERNOR, school=school.dfes))
    today = _today()
    soon = [a for a in _store().find_accounts(AccountQuery(
        school=school.dfes, kinds=(AccountKind.GOVERNOR, AccountKind.SCHOOL_NONMIS), states=(AccountState.ACTIVE,)))
        if a.expiry and expires_within(a.expiry.date(), today, EXPIRY_WARNING_WEEKS)]
    soon.sort(key=lambda a: (a.expiry, a.surname.casefold()))
    error = None
    if request.method == "POST":
        chosen_ids = set(request.form.getlist("account")[:MAX_SELECTED])
        choice = request.form.get("extend_by", "")
        picked = [a for a in soon if a.id in chosen_ids]
        if not picked:
            error = _("Select at least one account to extend")
        elif choice not in {c.value for c in ExpiryChoice}:
            error = _("Select how long to extend the accounts by")
        else:
            for account in picked:
                require(Action.EXTEND_EXPIRY, account_target(account))
                new_expiry = expiry_date(choice, max(today, account.expiry.date()))
                _store().update_account(account.id, {"expiry": _expiry_at(new_expiry)})
                audit_log.record("extend-expiry", account, detail={"from": account.expiry.date().isoformat(),
                                                                    "to": new_expiry.isoformat()})
            flash(ngettext("%(num)d account has been extended.", "%(num)d accounts have been extended.",
                           len(picked)), "success")
            return redirect(url_for("portal.expiring", school=school.dfes), 303)
    return render_template("portal/expiring.html", school=school, accounts=soon, error=error,
                           expiry_labels=EXPIRY_LABELS), 400 if error else 200
