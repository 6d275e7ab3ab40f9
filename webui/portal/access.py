"""Who is using the portal, and may they do this? (flask-login + SPEC R-1..R-6)

The person is re-read from the directory on every request, so a demotion,
deactivation or move takes effect at once; their scope comes from the
school register, cached briefly per worker. `require(action, target)` is
what every view calls before acting: out of scope aborts with 404 (R-5),
in scope but not permitted with 403.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import abort, current_app, session
from flask_login import LoginManager, UserMixin, current_user

from directory.model import Account, Organisation, School
from webui.portal.permissions import (
    Action,
    Actor,
    Decision,
    PortalRole,
    Target,
    decide,
    portal_role,
    scope_for,
)

SIGNED_IN_AT = "portal_signed_in_at"  # when the forced sign-in happened
SIGN_IN_NAME = "portal_name_id"  # the NameID and SessionIndex, for Single Logout
SIGN_IN_SESSION_INDEX = "portal_session_index"
SIGNED_IN_WITH_SECOND_FACTOR = "portal_second_factor"  # the IdP's Response said MFA (issue 18)


@dataclass(eq=False)
class PortalUser(UserMixin):
    account: Account
    school: School | None
    actor: Actor

    def get_id(self) -> str:
        return self.account.id

    @property
    def role(self) -> PortalRole:
        return self.actor.role

    def may(self, action: Action, target: Target) -> bool:
        return decide(self.actor, action, target) is Decision.ALLOWED


class SchoolRegister:
    """Schools and organisations, re-read from the directory at most once a minute per worker:
    scope checks need them on every request, and they change a few times a year."""

    def __init__(self, store, max_age_seconds: float = 60.0):
        self.store = store
        self.max_age = max_age_seconds
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._schools: dict[str, School] = {}
        self._organisations: list[Organisation] = []

    def _fresh(self) -> None:
        if time.monotonic() - self._read_at < self.max_age:
            return
        with self._lock:
            if time.monotonic() - self._read_at < self.max_age:
                return
            self._schools = {s.dfes: s for s in self.store.schools()}
            self._organisations = self.store.organisations()
            self._read_at = time.monotonic()

    def school(self, dfes: str | None) -> School | None:
        self._fresh()
        return self._schools.get(dfes) if dfes else None

    def schools(self) -> list[School]:
        self._fresh()
        return list(self._schools.values())

    def organisations(self) -> list[Organisation]:
        self._fresh()
        return list(self._organisations)


def portal_user(account: Account, register: SchoolRegister) -> PortalUser:
    school = register.school(account.school)
    role = portal_role(account, school.type if school else None)
    scope = scope_for(account, role, register.schools(), register.organisations())
    return PortalUser(account, school, Actor(account.id, role, scope, account.school))


def signed_in_recently(now: datetime) -> bool:
    """R-6: the portal session is only as old as the forced sign-in that opened it."""
    raw = session.get(SIGNED_IN_AT)
    if not raw:
        return False
    minutes = current_app.extensions["porth"].settings.portal.session_minutes
    return now - datetime.fromisoformat(raw) < timedelta(minutes=minutes)


def init_login(app, register: SchoolRegister) -> LoginManager:
    # current_user reaches the portal's templates through the portal blueprint alone
    # (webui/portal/menu.py): the sign-in pages must not load a portal user on every render.
    manager = LoginManager(app, add_context_processor=False)
    # Off: the session is a server-side row (idp/browser_sessions.py) whose id is renewed at sign-in,
    # ended at sign-out, password change and deactivation, and bound by the short portal lifetime.
    manager.session_protection = None

    @manager.user_loader
    def load(account_id: str) -> PortalUser | None:
        if not signed_in_recently(datetime.now(UTC)):
            return None
        account = app.extensions["porth"].store.get_account(account_id)
        if account is None or not account.is_active:
            return None  # deactivated or deleted since signing in: signed out
        return portal_user(account, register)

    return manager


def require(action: Action, target: Target) -> None:
    """Stop the request unless the signed-in person may do this (404 outside their scope, R-5)."""
    decision = decide(current_user.actor, action, target)
    if decision is Decision.NOT_FOUND:
        abort(404)
    if decision is Decision.FORBIDDEN:
        abort(403)
