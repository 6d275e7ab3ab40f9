"""Digital champions and Hwb administrators: who they are, promoting and demoting
them (SPEC R-3, R-4, R-5), each after a confirmation and into the audit log.

    GET      /portal/champions                                  View Digital Champions (?school=)
    GET/POST /portal/champions/<id>/<promote|demote>
    GET      /portal/administrators                             Manage Administrators (?org=)
    GET/POST /portal/administrators/<id>/<promote|demote>
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from directory.model import Account, AccountKind, AccountState, OrganisationKind, Role
from webui.portal.permissions import Action, Target, TargetKind
from directory.store import AccountQuery
from webui.portal import audit_log
from webui.portal.access import require
from webui.portal.nonmis import _chosen_organisation, _organisation_choices
from webui.portal.users import account_in_scope, active_staff, by_name
from webui.portal.views import _store, blueprint, chosen_school


def _role_change(account: Account, role: Role, promote: bool, list_url: str):
    """Confirm, then add or remove the role in one modify."""
    if request.method == "GET":
        question = (_("Are you sure you want to promote %(address)s to %(role)s?", address=account.mail,
                      role=_role_name(role)) if promote else
                    _("Are you sure you want to remove %(role)s permissions from %(address)s?", address=account.mail,
                      role=_role_name(role)))
        return render_template("portal/confirm.html", title=question, accounts=[], warning=None,
                               confirm_label=_("Yes"), cancel_url=list_url, hidden={})
    roles = set(account.roles) | {role} if promote else set(account.roles) - {role}
    if roles != set(account.roles):
        _store().update_account(account.id, {"roles": frozenset(r.value for r in roles)})
        audit_log.record("promote" if promote else "demote", account, detail={"role": role.value})
    flash(_("%(address)s is now a %(role)s.", address=account.mail, role=_role_name(role)) if promote else
          _("%(address)s is no longer a %(role)s.", address=account.mail, role=_role_name(role)), "success")
    return redirect(list_url, 303)


def _role_name(role: Role) -> str:
    return {Role.DIGITAL_CHAMPION: _("Digital Champion"), Role.LA_ADMINISTRATOR: _("Hwb Administrator"),
            Role.REC_ADMINISTRATOR: _("Hwb Administrator"),
            Role.NATIONAL_ADMINISTRATOR: _("National Administrator")}[role]


# -- digital champions --------------------------------------------------------------------------
@blueprint.get("/champions")
@login_required
def champions():
    school = chosen_school(required=True)
    require(Action.PROMOTE, Target(TargetKind.DIGITAL_CHAMPION, school=school.dfes))
    staff = active_staff(school.dfes)
    return render_template("portal/role_holders.html", title=_("View Digital Champions"), caption=school.name,
                           holders=[a for a in staff if Role.DIGITAL_CHAMPION in a.roles],
                           others=[a for a in staff if Role.DIGITAL_CHAMPION not in a.roles],
                           change_endpoint="portal.change_champion")


@blueprint.route("/champions/<account_id>/<any(promote, demote):change>", methods=["GET", "POST"])
@login_required
def change_champion(account_id: str, change: str):
    account = _store().get_account(account_id)
    if account is None or account.kind is not AccountKind.STAFF or account.state is not AccountState.ACTIVE:
        abort(404)  # only a school's active staff can be its digital champions
    action = Action.PROMOTE if change == "promote" else Action.DEMOTE
    require(action, Target(TargetKind.DIGITAL_CHAMPION, account.id, account.school))
    return _role_change(account, Role.DIGITAL_CHAMPION, change == "promote",
                        url_for("portal.champions", school=account.school))


# -- Hwb administrators (LA and REC) -------------------------------------------------------------
def _administrator_role(kind: OrganisationKind) -> Role:
    return Role.REC_ADMINISTRATOR if kind is OrganisationKind.CONSORTIUM else Role.LA_ADMINISTRATOR


@blueprint.get("/administrators")
@login_required
def administrators():
    organisation, kind = _chosen_organisation()
    require(Action.PROMOTE, Target(TargetKind.ADMINISTRATOR, organisation=organisation.code))
    role = _administrator_role(organisation.kind)
    people = by_name(_store().find_accounts(AccountQuery(organisation=organisation.code, kinds=(kind,),
                                                          states=(AccountState.ACTIVE,))))
    return render_template("portal/role_holders.html", title=_("Manage Administrators"), caption=organisation.name,
                           holders=[a for a in people if role in a.roles],
                           others=[a for a in people if role not in a.roles],
                           change_endpoint="portal.change_administrator", choices=_organisation_choices(),
                           organisation=organisation)


@blueprint.route("/administrators/<account_id>/<any(promote, demote):change>", methods=["GET", "POST"])
@login_required
def change_administrator(account_id: str, change: str):
    account = account_in_scope(account_id, Action.VIEW_ACCOUNTS)
    organisation = next((o for o in _organisation_choices() if o.code == account.organisation), None)
    if organisation is None or account.kind not in (AccountKind.LA_NONMIS, AccountKind.REC_NONMIS):
        abort(404)
    action = Action.PROMOTE if change == "promote" else Action.DEMOTE
    require(action, Target(TargetKind.ADMINISTRATOR, account.id, organisation=organisation.code))
    return _role_change(account, _administrator_role(organisation.kind), change == "promote",
                        url_for("portal.administrators", org=organisation.code))
