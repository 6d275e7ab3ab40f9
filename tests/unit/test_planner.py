"""The planner is pure: its decisions test in milliseconds (the real-slapd tests
in tests/integration/test_provisioning.py prove the same rules end to end)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from connectors.mis.records import LearnerRecord, SchoolExport, Source, StaffRecord, UpnField
from connectors.provisioning.plan import CreateAccount, Deactivate, TransferIn, UpdateAccount
from connectors.provisioning.planner import GuardPolicy, hashes_to_look_up, plan_school
from directory.model import Account, AccountKind, AccountState

TODAY = date(2026, 11, 23)
SCHOOL = "6612001"


def record(n: int, **fields) -> LearnerRecord:
    base = dict(source=Source("learners.csv", f"line {n}"), school=SCHOOL, admission_number=f"{n:06d}",
                upn=UpnField(hash=f"{n:064d}"), legal_surname="Jones", legal_forename="Megan",
                admission_date=date(2024, 9, 2), year_group="7", registration_group="7A", classes=("7A",))
    return LearnerRecord(**(base | fields))


def account(n: int, school: str = SCHOOL, **fields) -> Account:
    base = dict(id=f"id-{n}", username=f"JonesM{n}", kind=AccountKind.LEARNER, state=AccountState.ACTIVE,
                surname="Jones", forename="Megan", display_name="Megan Jones", mail="", school=school,
                upn_hash=f"{n:064d}", admission_number=f"{n:06d}", year_group="7", registration_group="7A",
                classes=("7A",))
    return Account(**(base | fields))


def plan(records=None, accounts=(), elsewhere=None, staff=None, **kwargs):
    export = SchoolExport(SCHOOL, "csv", ("learners.csv",), learners=tuple(records or ()),
                          staff=tuple(staff or ()), has_learners=records is not None, has_staff=staff is not None)
    return plan_school(export, list(accounts), elsewhere or {}, [], None, TODAY, **kwargs)


def kinds(p):
    return [type(a).__name__ for a in p.actions if a.workflow != "groups"]


def test_unchanged_school_plans_nothing():
    assert kinds(plan([record(1)], [account(1)])) == []


def test_new_learner_is_created_and_names_are_never_updated():
    assert kinds(plan([record(1)])) == ["CreateAccount"]
    renamed = plan([record(1, legal_surname="Price", year_group="8")], [account(1)])
    [update] = [a for a in renamed.actions if isinstance(a, UpdateAccount)]
    assert update.changes == (("year_group", "8"),)


def test_transfer_needs_the_old_school_to_release_first():
    elsewhere_active = {f"{1:064d}": [account(1, school="6619999")]}
    pending = plan([record(1)], [], elsewhere_active)
    assert [e.error for e in pending.errors] == ["Pending transfer"] and kinds(pending) == []
    released = {f"{1:064d}": [account(1, school="6619999", state=AccountState.DEACTIVATED)]}
    [move] = plan([record(1)], [], released).actions[:1]
    assert isinstance(move, TransferIn) and move.from_school == "6619999" and ("school", SCHOOL) in move.changes


def test_a_learner_with_a_upn_error_keeps_their_account():
    """A UPN deleted by mistake in the MIS must not make the learner a leaver."""
    p = plan([record(1, upn=UpnField(error="Missing UPN"))], [account(1)])
    assert kinds(p) == [] and [e.error for e in p.errors] == ["Missing UPN"]


def test_duplicate_upn_records_both_refused():
    p = plan([record(1), record(2, upn=UpnField(hash=f"{1:064d}"))])
    assert [e.error for e in p.errors] == ["Duplicate UPN", "Duplicate UPN"] and kinds(p) == []


def test_a_staff_only_export_never_touches_learners():
    p = plan(None, [account(1)], staff=[StaffRecord(Source("staff.csv", "line 2"), SCHOOL, "S1", "Evans", "Ann",
                                                  start_date=date(2020, 9, 1))])
    assert kinds(p) == ["CreateAccount"]
    assert isinstance(p.actions[0], CreateAccount) and isinstance(p.actions[0].record, StaffRecord)


def test_absent_learners_are_leavers():
    p = plan([record(1)], [account(1), account(2)])
    [leaver] = [a for a in p.actions if isinstance(a, Deactivate)]
    assert leaver.account_id == "id-2" and leaver.reason == "no longer in the MIS export"


@pytest.mark.parametrize(("active", "limit"), [(10, 24), (100, 24), (249, 24), (250, 25), (1000, 100)])
def test_guard_limit_is_ten_percent_but_never_below_twenty_five(active, limit):
    assert GuardPolicy().limit(active) == limit


def test_guard_holds_a_mass_deactivation_and_a_release_lets_it_through():
    accounts = [account(n) for n in range(1, 101)]
    held = plan([record(1)], accounts)
    assert held.hold is not None and held.hold.deactivations == 99 and held.hold.limit == 24
    assert plan([record(1)], accounts, allowed_deactivations=99).hold is None


def test_hashes_to_look_up_are_only_those_unknown_here():
    export = SchoolExport(SCHOOL, "csv", (), learners=(record(1), record(2), record(3, upn=UpnField(error="x"))))
    assert hashes_to_look_up(export, [account(1)]) == {f"{2:064d}"}


def test_future_leaving_date_is_kept_and_past_one_deactivates():
    future = plan([record(1, leaving_date=date(2027, 7, 20))], [account(1)])
    [update] = [a for a in future.actions if isinstance(a, UpdateAccount)]
    assert update.changes == (("leaving_date", date(2027, 7, 20)),)
    past = plan([record(1, leaving_date=TODAY)], [account(1)])
    assert kinds(past) == ["Deactivate"]
    assert kinds(plan([record(1, leaving_date=TODAY)], [replace(account(1), state=AccountState.DEACTIVATED)])) == []
