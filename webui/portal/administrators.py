"""Digital champions and Hwb administrators: who they are, promoting and demoting
them (SPEC R-3, R-4, R-5), each after a confirmation and into the audit log.

    GET      /portal/champions                                  View Digital Champions (?school=&q=&page=)
    GET/POST /portal/champions/<id>/<promote|demote>
    GET      /portal/administrators                             Manage Administrators (?org=&q=&active=&page=)
    GET/POST /portal/administrators/<id>/<promote|demote>
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from directory.model import Account, OrganisationKind, Role
from directory.store import AccountQuery
from webui.portal.access import require
from webui.portal.context import (
    account_in_scope,
    caller,
    chosen_organisation,
    chosen_school,
    directory,
    organisation_choices,
    page_size,
    records,
)
from webui.portal.lists import active_staff
from webui.portal.operations.core import by_name
from webui.portal.operations.roles import change_role, may_hold, role_target
from webui.portal.pages import ACTIVE_STATES, active_filter, asked_page, paginate, people_matching
from webui.portal.permissions import Action, Target, TargetKind

bp = Blueprint("administrators", __name__)


def role_change(account: Account, role: Role, promote: bool, list_url: str):
    """Confirm, then add or remove the role in one modify."""
    if request.method == "GET":
        question = (_("Are you sure you want to promote %(address)s to %(role)s?", address=account.mail,
                      role=role_name(role)) if promote else
                    _("Are you sure you want to remove %(role)s permissions from %(address)s?", address=account.mail,
                      role=role_name(role)))
        return render_template("portal/confirm.html", title=question, accounts=[], warning=None,
                               confirm_label=_("Yes"), cancel_url=list_url, hidden={})
    change_role(records(), caller(), account, role, holds=promote)
    flash(_("%(address)s is now a %(role)s.", address=account.mail, role=role_name(role)) if promote else
          _("%(address)s is no longer a %(role)s.", address=account.mail, role=role_name(role)), "success")
    return redirect(list_url, 303)


def kept_filters() -> dict[str, Any]:
    """The list's search, Active filter and page, carried through the confirmation and back."""
    return {name: request.args[name] for name in ("q", "active", "page") if request.args.get(name)}


def role_name(role: Role) -> str:
    return {Role.DIGITAL_CHAMPION: _("Digital Champion"), Role.LA_ADMINISTRATOR: _("Hwb Administrator"),
            Role.REC_ADMINISTRATOR: _("Hwb Administrator"),
            Role.NATIONAL_ADMINISTRATOR: _("National Administrator")}[role]


# -- digital champions --------------------------------------------------------------------------
def role_holders_page(people: list[Account], role: Role, search: str, **page_arguments):
    """Current holders first (all of them: they are few), then a page of everyone else."""
    found = people_matching(people, search)
    others = paginate([a for a in found if role not in a.roles], asked_page(), page_size())
    return render_template("portal/role_holders.html", holders=[a for a in found if role in a.roles], others=others,
                           search=search, **page_arguments)


@bp.get("/champions")
@login_required
def champions():
    school = chosen_school(required=True)
    require(Action.PROMOTE, Target(TargetKind.DIGITAL_CHAMPION, school=school.dfes))
    return role_holders_page(active_staff(school.dfes), Role.DIGITAL_CHAMPION, request.args.get("q", "").strip()[:100],
                             title=_("View Digital Champions"), caption=school.name, school=school,
                             change_endpoint="portal.administrators.change_champion")


@bp.route("/champions/<account_id>/<any(promote, demote):change>", methods=["GET", "POST"])
@login_required
def change_champion(account_id: str, change: str):
    account = directory().get_account(account_id)
    if account is None or not may_hold(account, Role.DIGITAL_CHAMPION):
        abort(404)  # only a school's active staff can be its digital champions
    require(Action.PROMOTE if change == "promote" else Action.DEMOTE, role_target(account, Role.DIGITAL_CHAMPION))
    return role_change(account, Role.DIGITAL_CHAMPION, change == "promote",
                       url_for("portal.administrators.champions", school=account.school, **kept_filters()))


# -- Hwb administrators (LA and REC) -------------------------------------------------------------
def administrator_role(kind: OrganisationKind) -> Role:
    return Role.REC_ADMINISTRATOR if kind is OrganisationKind.CONSORTIUM else Role.LA_ADMINISTRATOR


@bp.get("/administrators")
@login_required
def administrators():
    """Manage Administrators: searched, with the Active Y/N filter (a deactivated administrator
    keeps the role until demoted), everyone else a page at a time."""
    organisation, kind = chosen_organisation()
    require(Action.PROMOTE, Target(TargetKind.ADMINISTRATOR, organisation=organisation.code))
    active = active_filter()
    people = by_name(directory().find_accounts(AccountQuery(organisation=organisation.code, kinds=(kind,),
                                                            states=ACTIVE_STATES[active])))
    return role_holders_page(people, administrator_role(organisation.kind), request.args.get("q", "").strip()[:100],
                             title=_("Manage Administrators"), caption=organisation.name, active=active,
                             change_endpoint="portal.administrators.change_administrator",
                             choices=organisation_choices(), organisation=organisation)


@bp.route("/administrators/<account_id>/<any(promote, demote):change>", methods=["GET", "POST"])
@login_required
def change_administrator(account_id: str, change: str):
    account = account_in_scope(account_id, Action.VIEW_ACCOUNTS)
    organisation = next((o for o in organisation_choices() if o.code == account.organisation), None)
    role = administrator_role(organisation.kind) if organisation else None
    if organisation is None or role is None or not may_hold(account, role):
        abort(404)
    require(Action.PROMOTE if change == "promote" else Action.DEMOTE, role_target(account, role))
    return role_change(account, role, change == "promote",
                       url_for("portal.administrators.administrators", org=organisation.code, **kept_filters()))
