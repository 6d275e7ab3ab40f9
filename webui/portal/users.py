"""View Users: the lists of a school's learners, staff, governors and non-MIS
accounts, one account's details, and revealing a password (SPEC A-4, R-2..R-5).

    GET  /portal/users/<list>                 ?school=&q=&year=&reg=&class=&consent=&status=&page=
    GET  /portal/accounts/<id>                View Details
    POST /portal/accounts/<id>/password       Show password (audited; JSON for the page's script)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from flask import abort, current_app, jsonify, render_template, request
from flask_login import current_user, login_required

from directory.model import Account, AccountKind, AccountState, Consent, Group, GroupKind, PasswordStatus
from operational import username_changes
from webui.portal.permissions import Action, Target, TargetKind
from directory.store import LIST_FIELDS, AccountQuery
from webui.portal import audit_log
from webui.portal.access import account_target, require
from webui.portal.views import _db, _register, _store, blueprint, chosen_school


@dataclass(frozen=True)
class UserList:
    name: str
    kinds: tuple[AccountKind, ...]


USER_LISTS = {
    "learners": UserList("learners", (AccountKind.LEARNER,)),
    "staff": UserList("staff", (AccountKind.STAFF,)),
    "governors": UserList("governors", (AccountKind.GOVERNOR,)),
    "non-mis": UserList("non-mis", (AccountKind.SCHOOL_NONMIS,)),
}
STATUS_FILTERS = {"active": (AccountState.ACTIVE,), "deactivated": (AccountState.DEACTIVATED,),
                  "all": (AccountState.ACTIVE, AccountState.DEACTIVATED)}


@dataclass(frozen=True)
class Page:
    items: list[Account]
    number: int
    count: int
    total: int


def by_name(accounts) -> list[Account]:
    """In register order: surname, then forename (then username, to be stable)."""
    return sorted(accounts, key=lambda a: (a.surname.casefold(), a.forename.casefold(), a.username.casefold()))


def active_staff(school: str) -> list[Account]:
    """A school's active staff, in register order (licences, digital champions)."""
    return by_name(_store().find_accounts(AccountQuery(school=school, kinds=(AccountKind.STAFF,),
                                                       states=(AccountState.ACTIVE,))))


def page_of(accounts: list[Account], number: int, size: int) -> Page:
    """Sorted as a register is, cut to one page."""
    ordered = by_name(accounts)
    count = max(1, ceil(len(ordered) / size))
    number = min(max(1, number), count)
    return Page(ordered[(number - 1) * size: number * size], number, count, len(ordered))


# National Curriculum years as MIS exports carry them (NCyearActual): nursery, reception, 1-14.
NC_YEARS = ("N1", "N2", "R") + tuple(str(n) for n in range(1, 15))


def year_choices(groups: list[Group]) -> list[Group]:
    """The school's year-group entries, or every NC year when provisioning made none."""
    years = [g for g in groups if g.kind is GroupKind.YEAR_GROUP]
    return years or [Group(id="", school="", kind=GroupKind.YEAR_GROUP, code=y, name=y) for y in NC_YEARS]


def query_words(text: str) -> tuple[str, ...]:
    # A pasted full address still finds the account: its local part is the username.
    return tuple(word.split("@", 1)[0] for word in text.split() if word.split("@", 1)[0])[:5]


GROUP_KINDS = {"reg": GroupKind.REGISTRATION_GROUP, "class": GroupKind.CLASS, "year": GroupKind.YEAR_GROUP}
_GROUP_FIELDS = {"reg": "registration_group", "class": "group_class", "year": "year_group"}


@dataclass(frozen=True)
class GroupChoice:
    """A registration group, class or year picked on a form (`reg:7A`, `class:7M1`, `year:7`)."""

    groups: list[Group]  # the school's, to choose from
    chosen: str
    group: Group | None  # None: nothing valid picked

    def learners(self, school: str) -> list[Account]:
        """The group's active learners, in register order."""
        kind_key, _sep, code = self.chosen.partition(":")
        return by_name(_store().find_accounts(AccountQuery(
            school=school, kinds=(AccountKind.LEARNER,), states=(AccountState.ACTIVE,),
            **{_GROUP_FIELDS[kind_key]: code})))


def group_choice(school: str) -> GroupChoice:
    groups = _store().groups(school)
    chosen = request.values.get("group", "")
    kind_key, _sep, code = chosen.partition(":")
    group = next((g for g in groups if GROUP_KINDS.get(kind_key) is g.kind and g.code == code), None)
    return GroupChoice(groups, chosen, group)


@blueprint.get("/users/<list_name>")
@login_required
def users(list_name: str):
    wanted = USER_LISTS.get(list_name)
    if wanted is None:
        abort(404)
    school = chosen_school(required=True)
    target = Target(TargetKind.of_account(wanted.kinds[0]), school=school.dfes)
    require(Action.VIEW_ACCOUNTS, target)
    args = request.args
    status = args.get("status") if args.get("status") in STATUS_FILTERS else "active"
    consent = args.get("consent") if args.get("consent") in {c.value for c in Consent} else None
    search = args.get("q", "").strip()[:100]
    query = AccountQuery(school=school.dfes, kinds=wanted.kinds, states=STATUS_FILTERS[status],
                         year_group=args.get("year") or None, registration_group=args.get("reg") or None,
                         group_class=args.get("class") or None, consent=Consent(consent) if consent else None,
                         words=query_words(search), fields=LIST_FIELDS)
    page = page_of(_store().find_accounts(query), args.get("page", 1, type=int),
                   current_app.extensions["porth"].settings.portal.page_size)
    groups = _store().groups(school.dfes) if wanted.kinds == (AccountKind.LEARNER,) else []
    filters = {"q": search, "year": query.year_group or "", "reg": query.registration_group or "",
               "class": query.group_class or "", "consent": consent or "", "status": status}
    return render_template(
        "portal/users.html", school=school, list_name=list_name, page=page, filters=filters,
        year_groups=year_choices(groups) if wanted.kinds == (AccountKind.LEARNER,) else [],
        registration_groups=[g for g in groups if g.kind is GroupKind.REGISTRATION_GROUP],
        classes=[g for g in groups if g.kind is GroupKind.CLASS],
        may_show=current_user.may(Action.SHOW_PASSWORD, target), may={
            "reset": current_user.may(Action.RESET_PASSWORD, target),
            "print": current_user.may(Action.PRINT_CREDENTIALS, target),
            "consent": current_user.may(Action.MANAGE_CONSENT, target),
            "create": list_name in ("governors", "non-mis") and current_user.may(Action.CREATE_ACCOUNT, target)})


def account_in_scope(account_id: str, action: Action) -> Account:
    """The account, if the signed-in person may do `action` to it (404 when out of scope or gone)."""
    account = _store().get_account(account_id)
    if account is None or account.state is AccountState.DELETED:
        abort(404)
    require(action, account_target(account))
    return account


@blueprint.get("/accounts/<account_id>")
@login_required
def account_details(account_id: str):
    account = account_in_scope(account_id, Action.VIEW_ACCOUNTS)
    offered = {action for action in Action if current_user.may(action, account_target(account))}
    return render_template("portal/account.html", account=account, offered=offered,
                           school=_register().school(account.school),
                           username_pending=bool(username_changes.pending_among(_db(), [account.id])))


@blueprint.post("/accounts/<account_id>/password")
@login_required
def show_password(account_id: str):
    """A-4: the reveal copy, only while the status is Show password; every reveal audited (R-7)."""
    account = account_in_scope(account_id, Action.SHOW_PASSWORD)
    password = _store().reveal_password(account.id) if account.password_status is PasswordStatus.AVAILABLE else None
    audit_log.record("show-password", account, outcome="success" if password else "refused")
    if request.accept_mimetypes.best == "application/json":  # the page's script
        response = jsonify({"password": password, "status": account.password_status.value})
        response.status_code = 200 if password else 409
    else:  # no script: the details page, with the password on it
        offered = {action for action in Action if current_user.may(action, account_target(account))}
        response = current_app.make_response(render_template(
            "portal/account.html", account=account, offered=offered, revealed=password,
            school=_register().school(account.school)))
    response.headers["Cache-Control"] = "no-store"
    return response
