"""The guard knows the calendar (SPEC M-11, issue 13 point 6): it counts accounts that disappear
from a full export, protects small schools, holds what a wrong UPN-hash key looks like, and lets
the August rollover through."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from connectors.mis.records import LearnerRecord, SchoolExport, Source, UpnField
from connectors.provisioning.guard import GuardCounts, GuardPolicy, hold_for
from connectors.provisioning.plan import (
    GUARD_DISAPPEARANCES,
    GUARD_REPLACEMENT,
    CreateAccount,
    Deactivate,
    TransferIn,
    UpdateAccount,
)
from connectors.provisioning.planner import plan_school
from directory.model import Account, AccountKind, AccountState, StateChange
from tests.unit.test_planner import account, plan, record

ROLLOVER = date(2026, 9, 1)  # the first day of the autumn term
PRIMARY, SECONDARY = "6612001", "6614001"
SURNAMES = ("Jones", "Williams", "Davies", "Evans", "Thomas", "Roberts", "Hughes", "Lewis", "Morgan", "Griffiths")
FORENAMES = ("Megan", "Osian", "Ffion", "Dylan", "Seren", "Gruffydd", "Cerys", "Ioan", "Alaw", "Llŷr")


def upn_hash(n: int) -> str:
    return f"{n:064x}"


def learner(n: int, school: str, year: str, **fields) -> LearnerRecord:
    base = dict(source=Source("learners.csv", f"line {n + 1}"), school=school, admission_number=f"{n:06d}",
                upn=UpnField(hash=upn_hash(n)), legal_surname=SURNAMES[n % 10], legal_forename=FORENAMES[n % 7],
                admission_date=date(2019, 9, 3), year_group=year, registration_group=f"{year}{'AB'[n % 2]}",
                classes=(f"{year}{'AB'[n % 2]}",), enrolment_status="C")
    return LearnerRecord(**(base | fields))


def on_roll(rec: LearnerRecord, year: str, **fields) -> Account:
    """The account a record of last year made."""
    base = dict(id=f"id-{rec.admission_number}", username=f"{rec.legal_surname}{rec.admission_number}",
                kind=AccountKind.LEARNER, state=AccountState.ACTIVE, surname=rec.legal_surname or "",
                forename=rec.legal_forename or "", display_name="", mail="", school=rec.school,
                upn_hash=rec.upn.hash, admission_number=rec.admission_number, year_group=year,
                registration_group=f"{year}{rec.registration_group[-1] if rec.registration_group else ''}",
                classes=tuple(f"{year}{c[-1]}" for c in rec.classes))
    return Account(**(base | fields))


def rollover_plan(school: str, records: list[LearnerRecord], accounts: list[Account], elsewhere=None):
    export = SchoolExport(school, "ctf", (f"{school}.xml",), learners=tuple(records), has_staff=False)
    return plan_school(export, accounts, elsewhere or {}, [], None, ROLLOVER)


def count(p, kind) -> int:
    return sum(1 for a in p.actions if isinstance(a, kind))


def test_the_august_rollover_of_a_180_pupil_primary_applies_without_a_hold():
    """30 Y6 leavers marked with a leaving date, 150 year moves, 30 new Reception: nothing held."""
    moves = {"R": "1", "1": "2", "2": "3", "3": "4", "4": "5", "5": "6"}
    records, accounts, n = [], [], 0
    for last_year, this_year in moves.items():
        for _ in range(25):
            n += 1
            rec = learner(n, PRIMARY, this_year)
            records.append(rec)
            accounts.append(on_roll(rec, last_year))
    for _ in range(30):  # Y6 leavers: still in the export, with the leaving date the school set in July
        n += 1
        rec = learner(n, PRIMARY, "6", leaving_date=date(2026, 7, 22))
        records.append(rec)
        accounts.append(on_roll(rec, "6"))
    for _ in range(30):  # the new Reception class, admitted on the first day of term
        n += 1
        records.append(learner(n, PRIMARY, "R", admission_date=ROLLOVER))
    assert len(accounts) == 180

    p = rollover_plan(PRIMARY, records, accounts)
    assert p.hold is None and p.errors == ()
    assert count(p, Deactivate) == 30 and all(a.reason == "left on 2026-07-22" for a in p.actions
                                               if isinstance(a, Deactivate))
    assert count(p, UpdateAccount) == 150 and count(p, CreateAccount) == 30


def test_the_secondary_receiving_the_primarys_year_6_applies_without_a_hold():
    """500 on roll, 100 Y11 leavers with leaving dates, 30 transfers in from the primary, 90 new Y7."""
    records, accounts, n = [], [], 1000
    for last_year, this_year in {"7": "8", "8": "9", "9": "10", "10": "11"}.items():
        for _ in range(100):
            n += 1
            rec = learner(n, SECONDARY, this_year)
            records.append(rec)
            accounts.append(on_roll(rec, last_year))
    for _ in range(100):
        n += 1
        rec = learner(n, SECONDARY, "11", leaving_date=date(2026, 6, 26))
        records.append(rec)
        accounts.append(on_roll(rec, "11"))
    elsewhere = {}
    released = StateChange(AccountState.DEACTIVATED, datetime(2026, 9, 1, 1, 0, tzinfo=UTC), "provisioning",
                           "left on 2026-07-22")
    for m in range(151, 181):  # the primary's Y6, released by the primary's run
        rec = learner(m, SECONDARY, "7", admission_date=ROLLOVER, admission_number=f"S{m:05d}")
        records.append(rec)
        elsewhere[rec.upn.hash] = [on_roll(learner(m, PRIMARY, "6"), "6", state=AccountState.DEACTIVATED,
                                           state_change=released)]
    for _ in range(90):
        n += 1
        records.append(learner(n, SECONDARY, "7", admission_date=ROLLOVER))

    p = rollover_plan(SECONDARY, records, accounts, elsewhere)
    assert p.hold is None and p.errors == ()
    assert count(p, TransferIn) == 30 and count(p, CreateAccount) == 90 and count(p, Deactivate) == 100


def test_a_20_account_school_losing_15_is_held_and_losing_3_is_not():
    accounts = [account(n) for n in range(1, 21)]
    held = plan([record(n) for n in range(1, 6)], accounts)
    assert held.hold is not None and held.hold.rule == GUARD_DISAPPEARANCES
    assert (held.hold.deactivations, held.hold.active_accounts, held.hold.limit) == (15, 20, 10)
    assert "15 of 20 active accounts would disappear" in held.hold.reason
    assert plan([record(n) for n in range(1, 18)], accounts).hold is None


def test_leavers_the_export_marks_with_a_leaving_date_are_not_counted():
    accounts = [account(n) for n in range(1, 101)]
    records = [record(n, leaving_date=date(2026, 11, 20) if n > 40 else None) for n in range(1, 101)]
    p = plan(records, accounts)
    assert p.hold is None and count(p, Deactivate) == 60


def test_a_wrong_upn_hash_key_is_held_though_nobody_disappears():
    """A restore without var/secrets: every record's hash is new, its admission number the old one."""
    accounts = [account(n) for n in range(1, 41)]
    rekeyed = [record(n, upn=UpnField(hash=f"{n + 500:064d}")) for n in range(1, 41)]
    p = plan(rekeyed, accounts)
    assert count(p, Deactivate) == 0 and count(p, CreateAccount) == 40
    assert p.hold is not None and p.hold.rule == GUARD_REPLACEMENT
    assert "40 new learner accounts while 40 of 40 active learners" in p.hold.reason


def test_a_few_learners_swapped_in_a_small_school_are_not_held():
    accounts = [account(n) for n in range(1, 13)]
    p = plan([record(n) for n in range(1, 11)] + [record(n) for n in (101, 102)], accounts)
    assert p.hold is None and count(p, Deactivate) == 2 and count(p, CreateAccount) == 2


def test_a_release_lets_the_held_plan_through_but_not_a_bigger_one():
    accounts = [account(n) for n in range(1, 21)]
    held = plan([record(n) for n in range(1, 6)], accounts)
    assert plan([record(n) for n in range(1, 6)], accounts, allowed_deactivations=held.hold.deactivations).hold is None
    bigger = plan([record(n) for n in range(1, 3)], accounts, allowed_deactivations=held.hold.deactivations)
    assert bigger.hold is not None and "more than the 15 an administrator released" in bigger.hold.reason
    rekeyed = [record(n, upn=UpnField(hash=f"{n + 500:064d}")) for n in range(1, 21)]
    assert plan(rekeyed, accounts, allowed_deactivations=0).hold is None  # the replacement, confirmed


@pytest.mark.parametrize(("active_learners", "threshold"), [(8, 5), (20, 5), (40, 10), (180, 45), (1000, 250)])
def test_replacement_needs_a_quarter_of_the_learners_and_at_least_five(active_learners, threshold):
    policy = GuardPolicy()
    assert policy.replacement_threshold(active_learners) == threshold
    below = GuardCounts(active_learners, active_learners, 0, threshold - 1, active_learners)
    at = GuardCounts(active_learners, active_learners, 0, threshold, threshold)
    assert hold_for(below, policy) is None and hold_for(at, policy) is not None
