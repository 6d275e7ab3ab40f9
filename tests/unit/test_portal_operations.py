"""The portal's operations (webui/portal/operations/) with a fake directory and audit log
(cosmicpython style): a change the person may not make writes nothing and audits nothing; a
change they may make is written to the directory AND to the audit log (SPEC R-5, R-7)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from directory.model import Account, AccountKind, AccountState, PasswordStatus, Role
from webui.portal.operations import accounts, passwords, roles
from webui.portal.operations.core import Caller, NotPermitted, OutOfScope, Records
from webui.portal.permissions import Actor, PortalRole, Scope

NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def account(account_id: str, kind: AccountKind = AccountKind.LEARNER, school: str = "6610001", **more) -> Account:
    return Account(id=account_id, username=account_id, kind=kind, state=AccountState.ACTIVE, surname="Jones",
                   forename="Ann", display_name="Ann Jones", mail=f"{account_id}@hwbcymru.net", school=school, **more)


class FakeDirectory:
    def __init__(self, revealable: dict[str, str] | None = None):
        self.writes: list[tuple] = []
        self.revealable = revealable or {}

    def set_password(self, account_id, password, set_by_user=False):
        self.writes.append(("password", account_id, password, set_by_user))

    def update_account(self, account_id, changes):
        self.writes.append(("update", account_id, dict(changes)))

    def set_state(self, account_id, state, by, reason, now, changes=None):
        self.writes.append(("state", account_id, state, by))

    def reveal_password(self, account_id):
        return self.revealable.get(account_id)


class FakeAuditLog:
    def __init__(self):
        self.entries = []

    def record(self, entry):
        self.entries.append(entry)

    def record_many(self, entries):
        self.entries.extend(entries)


class FakeSessions:
    def __init__(self):
        self.ended: list[str] = []

    def end_sessions_of(self, account_id):
        self.ended.append(account_id)
        return 1


@pytest.fixture
def records():
    return Records(directory=FakeDirectory({"learner": "Blue-Kite-42"}), audit=FakeAuditLog(),
                   sessions=FakeSessions())


def caller(role: PortalRole, me: Account) -> Caller:
    return Caller(me, Actor(me.id, role, Scope(frozenset({"6610001"})), me.school), "192.0.2.7", NOW)


CHAMPION = account("champion", AccountKind.STAFF, roles=frozenset({Role.DIGITAL_CHAMPION}))
TEACHER = account("teacher", AccountKind.STAFF)


def test_a_reset_is_written_and_audited_with_who_whom_when_and_from_where(records):
    passwords.reset_password(records, caller(PortalRole.DIGITAL_CHAMPION, CHAMPION), account("learner"), "Ab3!efgh")
    assert records.directory.writes == [("password", "learner", "Ab3!efgh", False)]
    [entry] = records.audit.entries
    assert (entry.action, entry.actor, entry.actor_role, entry.target_id, entry.school, entry.source_address,
            entry.at) == ("reset-password", "champion", "digital-champion", "learner", "6610001", "192.0.2.7", NOW)


def test_an_account_of_another_school_is_not_found_and_nothing_is_written(records):
    with pytest.raises(OutOfScope):
        passwords.reset_password(records, caller(PortalRole.DIGITAL_CHAMPION, CHAMPION),
                                 account("elsewhere", school="6620002"), "Ab3!efgh")
    assert records.directory.writes == [] and records.audit.entries == []


def test_school_staff_may_not_deactivate_a_learner(records):
    with pytest.raises(NotPermitted):
        accounts.change_state(records, caller(PortalRole.SCHOOL_STAFF, TEACHER), account("learner"),
                              AccountState.DEACTIVATED, "deactivated in the portal")
    assert records.directory.writes == [] and records.audit.entries == []


def test_nobody_deactivates_themselves(records):
    """A digital champion may deactivate a colleague, never their own account (R-5's spirit, A-6)."""
    me = caller(PortalRole.DIGITAL_CHAMPION, CHAMPION)
    with pytest.raises(NotPermitted):
        accounts.change_state(records, me, CHAMPION, AccountState.DEACTIVATED, "deactivated in the portal")
    assert records.directory.writes == [] and records.audit.entries == []
    accounts.change_state(records, me, TEACHER, AccountState.DEACTIVATED, "deactivated in the portal")
    assert records.directory.writes == [("state", "teacher", AccountState.DEACTIVATED, "champion")]
    assert [e.action for e in records.audit.entries] == ["deactivate"]


def test_nobody_demotes_themselves(records):
    with pytest.raises(NotPermitted):
        roles.change_role(records, caller(PortalRole.DIGITAL_CHAMPION, CHAMPION), CHAMPION, Role.DIGITAL_CHAMPION,
                          holds=False)
    assert records.directory.writes == [] and records.audit.entries == []


def test_one_refused_account_in_a_bulk_reset_resets_none(records):
    ticked = [account("learner"), account("elsewhere", school="6620002")]
    with pytest.raises(OutOfScope):
        passwords.reset_passwords(records, caller(PortalRole.DIGITAL_CHAMPION, CHAMPION), ticked, learner_words=True)
    assert records.directory.writes == [] and records.audit.entries == []


def test_every_reveal_is_audited_and_one_with_no_password_to_show_as_refused(records):
    me = caller(PortalRole.SCHOOL_STAFF, TEACHER)
    shown = passwords.show_password(records, me, account("learner", password_status=PasswordStatus.AVAILABLE))
    hidden = passwords.show_password(records, me, account("learner", password_status=PasswordStatus.USER_CHANGED))
    assert (shown, hidden) == ("Blue-Kite-42", None)
    assert [(e.action, e.outcome) for e in records.audit.entries] == [("show-password", "success"),
                                                                     ("show-password", "refused")]


def test_a_password_change_and_a_deactivation_end_the_accounts_sessions(records):
    """Issue 15 point 1: whoever knew the old password, or used the account, is signed out
    everywhere; a refused change ends nothing, a reactivation ends nothing."""
    champion = caller(PortalRole.DIGITAL_CHAMPION, CHAMPION)
    with pytest.raises(OutOfScope):
        passwords.reset_password(records, champion, account("elsewhere", school="6620002"), "Ab3!efgh")
    assert records.sessions.ended == []
    passwords.reset_password(records, champion, account("learner"), "Ab3!efgh")
    passwords.reset_passwords(records, champion, [account("pupil1"), account("pupil2")], learner_words=True)
    passwords.change_own_password(records, champion, "Cd4!efgh")
    accounts.change_state(records, champion, TEACHER, AccountState.DEACTIVATED, "left")
    assert records.sessions.ended == ["learner", "pupil1", "pupil2", "champion", "teacher"]
    gone = dataclasses.replace(TEACHER, state=AccountState.DEACTIVATED)
    accounts.change_state(records, champion, gone, AccountState.ACTIVE, "back")
    assert records.sessions.ended[-1] == "teacher" and len(records.sessions.ended) == 5
