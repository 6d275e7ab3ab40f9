"""What the portal's views share about the request they answer: the runtime's stores, the
signed-in person as a `Caller` of operations, and the school or organisation a page is about
(chosen, and checked against the person's scope)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, overload

from flask import abort, current_app, request
from flask_login import current_user

from directory.model import Account, AccountKind, AccountState, Organisation, OrganisationKind, School
from idp import browser_sessions
from webui.portal.access import SchoolRegister, require
from webui.portal.operations.core import Caller, OperationalAuditLog, Records
from webui.portal.permissions import Action, Target, TargetKind, account_target, school_target
from webui.portal.saml_sp import PortalServiceProvider


def directory():
    """The directory store (directory/store.py's `DirectoryStore`)."""
    return current_app.extensions["porth"].store


def operational_db():
    return current_app.extensions["porth"].db


def school_register() -> SchoolRegister:
    return current_app.extensions["porth.school_register"]


def service_provider() -> PortalServiceProvider:
    return current_app.extensions["porth.portal_sp"]


def page_size() -> int:
    return current_app.extensions["porth"].settings.portal.page_size


def utc_now() -> datetime:
    return datetime.now(UTC)


def caller() -> Caller:
    """The signed-in person, as operations see them."""
    return Caller(current_user.account, current_user.actor, request.remote_addr, utc_now())


class BrowserSessions:
    """The sessions of every browser and web node; the one of the request asking is kept."""

    def end_sessions_of(self, account_id: str) -> int:
        return browser_sessions.end_sessions_of(account_id, keep_this_browser=True)


def records() -> Records:
    """What operations write to: the directory, the audit log, the sessions, the operational queues."""
    db = operational_db()
    return Records(directory=directory(), audit=OperationalAuditLog(db), sessions=BrowserSessions(), queues=db)


@overload
def chosen_school(required: Literal[True]) -> School: ...
@overload
def chosen_school(required: bool = False) -> School | None: ...
def chosen_school(required: bool = False) -> School | None:
    """The school the page is about: the person's own, or one an administrator picked (in scope).
    None when there is none; with `required`, the page is not found instead."""
    dfes = request.args.get("school") or current_user.account.school
    if not dfes:
        if required:
            abort(404)
        return None
    require(Action.VIEW_SCHOOL, school_target(dfes))
    school = school_register().school(dfes)
    if school is None:
        abort(404)
    return school


def account_in_scope(account_id: str, action: Action) -> Account:
    """The account, if the signed-in person may do `action` to it (404 when out of scope or gone)."""
    account = directory().get_account(account_id)
    if account is None or account.state is AccountState.DELETED:
        abort(404)
    require(action, account_target(account))
    return account


def school_viewed(account: Account) -> School | None:
    """The school whose roll the page shows the account on: a dual-registered learner is on two
    (Account.belongs_to). The one asked for (?school=, from the list the person came from) when
    the account is on its roll and the person may see that school; else the main school when
    they may; else the first of the account's other schools that they may see."""
    scope = current_user.actor.scope
    asked = request.values.get("school")
    on_roll = [dfes for dfes in (account.school, *account.subsidiary_schools) if dfes]
    seen = [dfes for dfes in on_roll if scope.covers_school(dfes)]
    if asked and asked in seen:
        dfes: str | None = asked
    else:
        dfes = seen[0] if seen else account.school
    return school_register().school(dfes)


def organisation_choices() -> list[Organisation]:
    """The LAs and RECs in the person's scope, regions first."""
    scope = current_user.actor.scope
    return sorted((o for o in school_register().organisations() if scope.covers_organisation(o.code)),
                  key=lambda o: (o.kind != OrganisationKind.CONSORTIUM, o.name))


def chosen_organisation() -> tuple[Organisation, AccountKind]:
    """The LA or REC the page is about (?org=, or the person's own, or the first in scope), and
    the kind of its non-MIS accounts."""
    code = request.args.get("org") or current_user.account.organisation
    if not code:
        choices = organisation_choices()
        code = choices[0].code if choices else None
    organisation = next((o for o in school_register().organisations() if o.code == code), None)
    if organisation is None:
        abort(404)
    kind = AccountKind.REC_NONMIS if organisation.kind is OrganisationKind.CONSORTIUM else AccountKind.LA_NONMIS
    require(Action.VIEW_ACCOUNTS, Target(TargetKind.of_account(kind), organisation=organisation.code))
    return organisation, kind
