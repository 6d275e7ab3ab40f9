"""What one record can do to a plan (issue 13): a refused record keeps its account and changes
nothing; an administrator's deactivation sticks (A-6); nothing a record holds stops the run (M-9);
a new account carries every field the MIS gives it at creation (M-1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from connectors.mis.records import RecordRefusal, Source
from connectors.provisioning import applier, planner
from connectors.provisioning.field_policy import FIELD_POLICIES, FieldPolicy, creation_values
from connectors.provisioning.plan import PROVISIONING, Reactivate, TransferIn, UpdateAccount
from directory.model import AccountKind, AccountState, NewAccount, StateChange
from tests.unit.test_planner import (
    SCHOOL,
    TODAY,
    account,
    kinds,
    plan,
    record,
    staff_account,
    staff_record,
)

HASH_1 = f"{1:064d}"


# -- refused records ---------------------------------------------------------------------------------
def test_a_refused_learner_is_logged_by_its_reference_and_its_account_is_not_a_leaver():
    """The parser refused it (a UPN in the admission-number column): the planner names the field, never
    a value, and the learner it names by UPN hash stays as they are."""
    refused = record(1, admission_number=None, refused=RecordRefusal("Invalid admission number", "admission number"))
    p = plan([refused, record(2)], [account(1), account(2)])
    assert kinds(p) == [] and p.hold is None
    [error] = p.errors
    assert (error.workflow, error.record, error.error, error.field, error.detail) == (
        "learners", "learners.csv, line 1", "Invalid admission number", "admission number", None)


def test_a_refused_learner_with_no_account_creates_nothing():
    refused = record(1, refused=RecordRefusal("Invalid legal name", "legal surname"))
    assert kinds(plan([refused])) == []


def test_a_refused_staff_record_keeps_its_account_and_changes_nothing():
    refused = staff_record(classes=("9Z",), refused=RecordRefusal("Invalid legal name", "legal surname"))
    p = plan(None, [staff_account()], staff=[refused, staff_record(staff_code="S9", legal_surname="Rees",
                                                                     classes=("7A", "8Ma1"))])
    assert kinds(p) == ["CreateAccount"]  # S9 only: Ann Evans (S1) keeps her classes and is not a leaver
    assert [(e.record, e.error, e.field) for e in p.errors] == [("S1", "Invalid legal name", "legal surname")]


def test_a_refused_staff_record_without_a_staff_code_keeps_its_account_by_name():
    refused = staff_record(staff_code=None, refused=RecordRefusal("Invalid staff code", "staff code"),
                           source=Source("staff.csv", "line 7"))
    p = plan(None, [staff_account()], staff=[refused])
    assert kinds(p) == [] and [(e.record, e.error) for e in p.errors] == [("staff.csv, line 7", "Invalid staff code")]


# -- administrators' decisions stick (A-6) ------------------------------------------------------------
def deactivated_by(who: str, **fields):
    change = StateChange(AccountState.DEACTIVATED, datetime(2026, 11, 2, 10, 15, tzinfo=UTC), who,
                         "misuse reported by the head teacher" if who != PROVISIONING else "left on 2026-10-30")
    return account(1, state=AccountState.DEACTIVATED, state_change=change, **fields)


def test_an_account_an_administrator_deactivated_is_not_reactivated_by_the_mis():
    p = plan([record(1)], [deactivated_by("PriceN")])
    assert not [a for a in p.actions if isinstance(a, Reactivate)]
    [note] = p.errors
    assert (note.workflow, note.record, note.error) == ("learners", "000001", "Deactivated by an administrator")
    assert note.detail == ("deactivated by PriceN on 2026-11-02; not reactivated from the MIS until an "
                           "administrator reactivates it")


def test_an_administrators_deactivated_learner_still_has_groups_that_follow_the_mis():
    p = plan([record(1, year_group="8", registration_group="8B", classes=("8B",))], [deactivated_by("PriceN")])
    [update] = [a for a in p.actions if isinstance(a, UpdateAccount)]
    assert dict(update.changes) == {"year_group": "8", "registration_group": "8B", "classes": ("8B",)}
    assert "state" not in dict(update.changes)


def test_an_account_a_provisioning_run_deactivated_is_reactivated_when_re_admitted():
    assert kinds(plan([record(1)], [deactivated_by(PROVISIONING)])) == ["Reactivate"]


def test_a_new_school_admitting_an_account_an_administrator_deactivated_elsewhere_moves_it():
    """Admission to a new school is that school's decision (docs/architecture.md)."""
    elsewhere = {HASH_1: [deactivated_by("PriceN", school="6619999")]}
    p = plan([record(1)], [], elsewhere)
    assert kinds(p) == ["TransferIn"] and isinstance(p.actions[0], TransferIn) and p.errors == ()


def test_the_planner_names_provisioning_as_the_applier_writes_it():
    assert PROVISIONING == applier.PROVISIONING


# -- nothing a record holds stops the run (M-9) --------------------------------------------------------
def test_an_exception_on_one_record_is_that_records_error_and_the_rest_is_planned(monkeypatch):
    real = planner.username_base

    def username_base(surname: str, forename: str) -> str:
        if surname == "Ap-Ŵŷn":
            raise IndexError("string index out of range: Ap-Ŵŷn")
        return real(surname, forename)

    monkeypatch.setattr(planner, "username_base", username_base)
    p = plan([record(1, legal_surname="Ap-Ŵŷn"), record(2)])
    assert kinds(p) == ["CreateAccount"] and p.actions[0].reference == "000002"
    [error] = p.errors
    assert (error.record, error.error) == ("000001", "Unreadable record")
    assert "IndexError" in error.detail and "Ŵŷn" not in error.detail  # the type, never the values


def test_a_record_that_fails_keeps_its_account_from_looking_like_a_leaver(monkeypatch):
    real = planner.forced_values

    def forced_values(kind, rec, today):
        if rec.admission_number == "000001":
            raise ValueError("unexpected year group")
        return real(kind, rec, today)

    monkeypatch.setattr(planner, "forced_values", forced_values)
    p = plan([record(1), record(2, year_group="8")], [account(1), account(2)])
    assert kinds(p) == ["UpdateAccount"] and p.actions[0].reference == "000002"  # 000001 is not deactivated
    assert [(e.record, e.error) for e in p.errors] == [("000001", "Unreadable record")]


def test_what_a_failing_record_planned_before_it_failed_is_dropped_with_it(monkeypatch):
    def membership_changes(*_args):
        raise KeyError("porthSubsidiaryGroup")

    monkeypatch.setattr(planner, "_membership_changes", membership_changes)
    dual = deactivated_by("PriceN", school="6619999", subsidiary_schools=(SCHOOL,))
    p = plan([record(1, enrolment_status="S")], [dual])
    # The administrator's note was planned before the failure: only the record's one error remains.
    assert [e.error for e in p.errors] == ["Unreadable record"] and kinds(p) == []


# -- a new account carries what the MIS gives it (M-1) -----------------------------------------------
@pytest.mark.parametrize("mis_record", [record(1, leaving_date=date(2027, 7, 21)),
                                        staff_record(leaving_date=date(2027, 7, 21))], ids=["learner", "staff"])
def test_creation_values_hold_every_at_creation_and_forced_field_including_a_leaving_date_to_come(mis_record):
    kind = AccountKind.LEARNER if mis_record.source.file == "learners.csv" else AccountKind.STAFF
    values = creation_values(kind, mis_record, TODAY)
    taken = {r.field for r in FIELD_POLICIES[kind] if r.policy is not FieldPolicy.NEVER_FROM_MIS}
    assert set(values) == taken and values["leaving_date"] == date(2027, 7, 21)
    new = NewAccount(kind=kind, created_by=PROVISIONING, school=SCHOOL, **values)
    assert new.leaving_date == date(2027, 7, 21) and new.classes == tuple(sorted(mis_record.classes))
    # A rerun on the account created from them changes nothing (M-1).
    made = replace(account(1) if kind is AccountKind.LEARNER else staff_account(), **values)
    again = plan([mis_record], [made]) if kind is AccountKind.LEARNER else plan(None, [made], staff=[mis_record])
    assert kinds(again) == []


def test_creation_values_leave_a_leaving_date_that_has_come_off():
    assert creation_values(AccountKind.LEARNER, record(1, leaving_date=TODAY), TODAY)["leaving_date"] is None
