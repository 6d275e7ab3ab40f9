"""What every portal operation works with: who asks (`Caller`), what it writes (`Records`),
how it says no (`Refused`), and the audit entry it leaves (SPEC R-7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from directory.model import Account
from directory.rules.register_order import register_key
from operational import audit
from operational.audit import AuditEntry
from operational.db import Database
from operational.statuses import AuditOutcome
from webui.portal.permissions import Action, Actor, Decision, Target, account_target, decide


@dataclass(frozen=True)
class Caller:
    """The signed-in person asking for a change, from which address, at what time."""

    account: Account
    actor: Actor
    address: str | None
    at: datetime

    @property
    def username(self) -> str:
        return self.account.username


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...

    def record_many(self, entries: list[AuditEntry]) -> None: ...


class OperationalAuditLog:
    """The audit log in the operational database (operational/audit.py)."""

    def __init__(self, db: Database):
        self.db = db

    def record(self, entry: AuditEntry) -> None:
        audit.record(self.db, entry)

    def record_many(self, entries: list[AuditEntry]) -> None:
        audit.record_many(self.db, entries)


class Sessions(Protocol):
    """The browser sessions people are signed in through (idp/browser_sessions.py)."""

    def end_sessions_of(self, account_id: str) -> int:
        """Sign the account out everywhere (single sign-on and portal, every browser), but the
        browser of the person asking; how many sessions ended."""
        ...


@dataclass(frozen=True)
class Records:
    """Where operations write: the directory (the system of record, a `DirectoryStore`), the
    audit log, the browser sessions (ended when a password changes or an account is
    deactivated) and the operational database's queues (new usernames, licence requests)."""

    directory: Any
    audit: AuditLog
    sessions: Sessions
    queues: Database | None = None

    def queue_database(self) -> Database:
        """The queues, for an operation that queues a change: records made without them (the
        unit tests' fakes) serve only the operations that write at once."""
        if self.queues is None:
            raise LookupError("these records have no operational database to queue the change in")
        return self.queues


class Refused(Exception):
    """The person may not do this; nothing was written."""

    def __init__(self, action: Action, target: Target):
        super().__init__(f"{action.value} on {target.kind.value} {target.account_id or target.school or ''}".strip())
        self.action = action
        self.target = target


class OutOfScope(Refused):
    """The target is outside the person's schools and organisations: answered as not found (R-5)."""


class NotPermitted(Refused):
    """In scope, but not this person's to do (answered 403)."""


def permit(by: Caller, action: Action, target: Target) -> None:
    """Raise unless the permission table allows `by` to do `action` to `target`."""
    decision = decide(by.actor, action, target)
    if decision is Decision.NOT_FOUND:
        raise OutOfScope(action, target)
    if decision is Decision.FORBIDDEN:
        raise NotPermitted(action, target)


def permit_each(by: Caller, action: Action, accounts: list[Account]) -> None:
    """Every account first: a refusal for one writes nothing for any."""
    for account in accounts:
        permit(by, action, account_target(account))


def acting_school(by: Caller, target: Account) -> str | None:
    """The school an action on the account is done at: its main school, or for a learner dual
    registered at a school of the caller's that is not the main school's scope, that school (so
    the unit's audit log shows what its own staff did)."""
    if target.school is None or by.actor.scope.covers_school(target.school):
        return target.school
    return next((s for s in target.subsidiary_schools if by.actor.scope.covers_school(s)), target.school)


def audit_entry(by: Caller, action: str, target: Account | None = None, *,
                outcome: AuditOutcome = AuditOutcome.SUCCESS,
                target_kind: str | None = None, target_id: str | None = None, target_label: str | None = None,
                school: str | None = None, organisation: str | None = None,
                detail: dict[str, Any] | None = None) -> AuditEntry:
    """Who, what, to whom, when and from where (R-7); an account target names itself, and the
    school it was acted on at (`acting_school`; a dual-registered learner's main school in the detail)."""
    at_school = acting_school(by, target) if target else None
    if target and at_school != target.school:
        detail = {**(detail or {}), "main_school": target.school}
    return AuditEntry(
        at=by.at, actor=by.username, actor_role=by.actor.role.value, action=action,
        target_kind=target_kind or (target.kind.value if target else "portal"),
        target_id=target_id or (target.id if target else None),
        target_label=target_label or (target.username if target else None),
        school=school or at_school,
        organisation=organisation or (target.organisation if target else None),
        source_address=by.address, outcome=outcome, detail=detail or {},
    )


def by_name(accounts) -> list[Account]:
    """In register order: surname, then forename (then username, to be stable)."""
    return sorted(accounts, key=register_key)
