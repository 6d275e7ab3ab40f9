"""Digital champions and Hwb administrators: who they are, promoting and demoting
them (SPEC R-3, R-4, R-5), each after a confirmation and into the audit log.

    GET      /portal/champions                                  View Digital Champions (?school=)
    GET/POST /portal/champions/<id>/<promote|demote>
    GET      /portal/administrators                             Manage Administrators (?org=)
    GET/POST /portal/administrators/<id>/<promote|demote>
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from directory.model import Account, AccountState, OrganisationKind, Role
from directory.store import AccountQuery
from webui.portal.access import require
from webui.portal.context import (
    account_in_scope,
    caller,
    chosen_organisation,
    chosen_school,
    directory,
    organisation_choices,
    records,
)
from webui.portal.lists import active_staff
from webui.portal.operations.core import by_name
from webui.portal.operations.roles import change_role, may_hold, role_target
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


def role_name(role: Role) -> str:
    return {Role.DIGITAL_CHAMPION: _("Digital Champion"), Role.LA_ADMINISTRATOR: _("Hwb Administrator"),
            Role.REC_ADMINISTRATOR: _("Hwb Administrator"),
            Role.NATIONAL_ADMINISTRATOR: _("National Administrator")}[role]


# -- digital champions --------------------------------------------------------------------------
@bp.get("/champions")
@login_required
def champions():
    school = chosen_school(required=True)
    require(Action.PROMOTE, Target(TargetKind.DIGITAL_CHAMPION, school=school.dfes))
    staff = active_staff(school.dfes)
    return render_template("portal/role_holders.html", title=_("View Digital Champions"), caption=school.name,
                           holders=[a for a in staff if Role.DIGITAL_CHAMPION in a.roles],
                           others=[a for a in staff if Role.DIGITAL_CHAMPION not in a.roles],
                           change_endpoint="portal.administrators.change_champion")


@bp.route("/champions/<account_id>/<any(promote, demote):change>", methods=["GET", "POST"])
@login_required
def change_champion(account_id: str, change: str):
    account = directory().get_account(account_id)
    if account is None or not may_hold(account, Role.DIGITAL_CHAMPION):
        abort(404)  # only a school's active staff can be its digital champions
    require(Action.PROMOTE if change == "promote" else Action.DEMOTE, role_target(account, Role.DIGITAL_CHAMPION))
    return role_change(account, Role.DIGITAL_CHAMPION, change == "promote",
                       url_for("portal.administrators.champions", school=account.school))


# -- Hwb administrators (LA and REC) -------------------------------------------------------------
def administrator_role(kind: OrganisationKind) -> Role:
    return Role.REC_ADMINISTRATOR if kind is OrganisationKind.CONSORTIUM else Role.LA_ADMINISTRATOR


@bp.get("/administrators")
@login_required
def administrators():
    organisation, kind = chosen_organisation()
    require(Action.PROMOTE, Target(TargetKind.ADMINISTRATOR, organisation=organisation.code))
    role = administrator_role(organisation.kind)
    people = by_name(directory().find_accounts(AccountQuery(organisation=organisation.code, kinds=(kind,),
                                                            states=(AccountState.ACTIVE,))))
    return render_template("portal/role_holders.html", title=_("Manage Administrators"), caption=organisation.name,
                           holders=[a for a in people if role in a.roles],
                           others=[a for a in people if role not in a.roles],
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
                       url_for("portal.administrators.administrators", org=organisation.code))
