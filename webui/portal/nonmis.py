"""Non-MIS accounts made by hand (SPEC A-1, L-1, L-2, R-3, R-4): governors and a
school's non-MIS users, LA and REC staff, their expiry and its extension.

    GET      /portal/users/<governors|non-mis>/new           the MIS warning, then the form (?understood=yes)
    POST     /portal/users/<governors|non-mis>/new
    GET      /portal/organisation-users                      Manage Local Authority / REC Non-MIS Users
                                                             (?org=&q=&active=Y|N|all&page=)
    GET/POST /portal/organisation-users/new                  Add New User, with the optional contact fields
    GET      /portal/expiring                                Manage Expiring Accounts (the next 8 weeks) of a
                                                             school (?school=) or an LA / REC (?org=)
    POST     /portal/expiring                                extend the selected accounts
"""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required

from directory.model import AccountKind, AccountState, Contact
from directory.rules import names
from directory.store import AccountQuery
from webui.portal.access import require
from webui.portal.context import (
    caller,
    chosen_organisation,
    chosen_school,
    directory,
    organisation_choices,
    page_size,
    records,
    utc_now,
)
from webui.portal.forms import (
    EXPIRY_LABELS,
    MAX_SELECTED,
    expiry_choice,
    generated_password,
    name_errors,
    policy_errors,
)
from webui.portal.lists import expiring_soon, page_of, query_words
from webui.portal.operations import accounts as account_operations
from webui.portal.pages import ACTIVE_STATES, active_filter, asked_page, paginate
from webui.portal.permissions import Action, Target, TargetKind

bp = Blueprint("nonmis", __name__)

SCHOOL_NON_MIS_LISTS = {"governors": AccountKind.GOVERNOR, "non-mis": AccountKind.SCHOOL_NONMIS}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^[0-9 +()-]{6,20}$")


# The contact details are stored, shown and printed like names (issue 15 point 4): the same characters are refused.
CONTACT_MESSAGES = {
    "organisation_name": {
        names.CONTROL_CHARACTERS: _l("The organisation must not contain control characters"),
        names.NONCHARACTERS: _l("The organisation contains code points that are not characters, such as U+FFFE: "
                                "type it again"),
    },
    "job_title": {
        names.CONTROL_CHARACTERS: _l("The job title must not contain control characters"),
        names.NONCHARACTERS: _l("The job title contains code points that are not characters, such as U+FFFE: "
                                "type it again"),
    },
}


def read_form(with_contact: bool) -> tuple[dict, dict[str, str], str | None]:
    """The submitted fields, the errors by field, and a generated password when a Generate button was pressed."""
    form = {name: " ".join(request.form.get(name, "").split())
            for name in ("forename", "surname", "expiry", "organisation_name", "job_title", "work_email", "phone")}
    form["password"] = request.form.get("password", "")
    generated = generated_password(request.form.get("generate"))
    if generated:
        form["password"] = generated
        return form, {}, generated
    errors = name_errors(form, makes_username=True)
    problems = policy_errors(form["password"])
    if problems:
        errors["password"] = problems[0]
    if expiry_choice(form["expiry"]) is None:
        errors["expiry"] = _("Select when the account expires")
    if with_contact:
        if form["work_email"] and not EMAIL.match(form["work_email"]):
            errors["work_email"] = _("Enter a work email address like name@example.gov.uk")
        if form["phone"] and not PHONE.match(form["phone"]):
            errors["phone"] = _("Enter a contact number using digits, spaces and + ( ) -")
        for field in ("organisation_name", "job_title"):
            problem = names.text_problem(form[field])
            if problem:
                errors[field] = str(CONTACT_MESSAGES[field][problem])
            elif len(form[field]) > 128:
                errors[field] = _("Use at most 128 characters")
    return form, errors, None


def create(kind: AccountKind, form: dict, school: str | None, organisation: str | None, with_contact: bool):
    contact = Contact(organisation_name=form["organisation_name"] or None, job_title=form["job_title"] or None,
                      work_email=form["work_email"] or None, phone=form["phone"] or None) if with_contact else None
    expiry = expiry_choice(form["expiry"])
    if expiry is None:  # read_form refuses a form without one
        raise ValueError("a new account needs an expiry (L-1)")
    account = account_operations.create_account(
        records(), caller(), kind, forename=form["forename"], surname=form["surname"], password=form["password"],
        expiry=expiry, school=school, organisation=organisation, contact=contact)
    flash(_("The account %(address)s has been created and can be used now.", address=account.mail), "success")
    return redirect(url_for("portal.users.account_details", account_id=account.id), 303)


@bp.route("/users/<any(governors, 'non-mis'):list_name>/new", methods=["GET", "POST"])
@login_required
def new_school_user(list_name: str):
    kind = SCHOOL_NON_MIS_LISTS[list_name]
    school = chosen_school(required=True)
    require(Action.CREATE_ACCOUNT, Target(TargetKind.of_account(kind), school=school.dfes))
    back = url_for("portal.users.users", list_name=list_name, school=school.dfes)
    if request.method == "GET" and request.args.get("understood") != "yes":
        return render_template("portal/new_user_warning.html", school=school, list_name=list_name, back=back)
    form, errors, generated = read_form(with_contact=False) if request.method == "POST" else ({}, {}, None)
    if request.method == "POST" and not errors and not generated:
        return create(kind, form, school.dfes, None, with_contact=False)
    return render_template("portal/new_user.html", kind=kind, school=school, organisation=None, form=form,
                           errors=errors, expiry_labels=EXPIRY_LABELS, back=back), 400 if errors else 200


# -- LA and REC non-MIS users ---------------------------------------------------------------
@bp.get("/organisation-users")
@login_required
def organisation_users():
    """Manage LA / REC Non-MIS Users: searched, filtered by the seed's Active Y/N (003: N lists the
    expired and deactivated accounts to reactivate), a page at a time; page links keep the filters."""
    organisation, kind = chosen_organisation()
    search = request.args.get("q", "").strip()[:100]
    active = active_filter()
    query = AccountQuery(organisation=organisation.code, kinds=(kind,), states=ACTIVE_STATES[active],
                         words=query_words(search))
    page = page_of(query, request.args.get("page", 1, type=int), page_size())
    target = Target(TargetKind.of_account(kind), organisation=organisation.code)
    return render_template("portal/organisation_users.html", organisation=organisation, page=page, search=search,
                           active=active, choices=organisation_choices(),
                           may_create=current_user.may(Action.CREATE_ACCOUNT, target),
                           may_show=current_user.may(Action.SHOW_PASSWORD, target))


@bp.route("/organisation-users/new", methods=["GET", "POST"])
@login_required
def new_organisation_user():
    organisation, kind = chosen_organisation()
    require(Action.CREATE_ACCOUNT, Target(TargetKind.of_account(kind), organisation=organisation.code))
    form, errors, generated = read_form(with_contact=True) if request.method == "POST" else ({}, {}, None)
    if request.method == "POST" and not errors and not generated:
        return create(kind, form, None, organisation.code, with_contact=True)
    return render_template("portal/new_user.html", kind=kind, school=None, organisation=organisation, form=form,
                           errors=errors, expiry_labels=EXPIRY_LABELS,
                           back=url_for("portal.nonmis.organisation_users", org=organisation.code)), \
        400 if errors else 200


# -- expiring accounts (L-1, L-2) -------------------------------------------------------------
def expiring_of_school_or_organisation():
    """Whose expiring accounts the page lists: a school's governors and non-MIS users (?school=, or
    the person's own school), or an LA's or REC's own non-MIS users (?org=, or the person's own
    organisation); with the address that comes back to this list and the dashboard it belongs to."""
    if request.args.get("school") or (current_user.account.school and not request.args.get("org")):
        school = chosen_school(required=True)
        require(Action.EXTEND_EXPIRY, Target(TargetKind.GOVERNOR, school=school.dfes))
        query = AccountQuery(school=school.dfes, kinds=(AccountKind.GOVERNOR, AccountKind.SCHOOL_NONMIS),
                             states=(AccountState.ACTIVE,))
        return school, None, query, {"school": school.dfes}
    organisation, kind = chosen_organisation()
    require(Action.EXTEND_EXPIRY, Target(TargetKind.of_account(kind), organisation=organisation.code))
    query = AccountQuery(organisation=organisation.code, kinds=(kind,), states=(AccountState.ACTIVE,))
    return None, organisation, query, {"org": organisation.code}


@bp.route("/expiring", methods=["GET", "POST"])
@login_required
def expiring():
    """The accounts expiring within 8 weeks, soonest first, a page at a time; extend one or many."""
    school, organisation, query, whose = expiring_of_school_or_organisation()
    soon = expiring_soon(directory().find_accounts(query), utc_now().date())
    soon.sort(key=lambda a: (a.expiry, a.surname.casefold(), a.username.casefold()))
    error = None
    if request.method == "POST":
        chosen_ids = set(request.form.getlist("account")[:MAX_SELECTED])
        extend_by = expiry_choice(request.form.get("extend_by"))
        picked = [a for a in soon if a.id in chosen_ids]
        if not picked:
            error = _("Select at least one account to extend")
        elif extend_by is None:
            error = _("Select how long to extend the accounts by")
        else:
            account_operations.extend_expiry(records(), caller(), picked, extend_by)
            flash(ngettext("%(num)d account has been extended.", "%(num)d accounts have been extended.",
                           len(picked)), "success")
            return redirect(url_for("portal.nonmis.expiring", **whose), 303)
    return render_template("portal/expiring.html", school=school, organisation=organisation,
                           page=paginate(soon, asked_page(), page_size()), error=error,
                           expiry_labels=EXPIRY_LABELS, back=url_for("portal.dashboard.dashboard", **whose)), \
        400 if error else 200
