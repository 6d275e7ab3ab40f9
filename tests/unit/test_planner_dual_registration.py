"""Dual registration (issue 13, docs/architecture.md "How provisioning decides"): one account per
learner, main at one school, with a subsidiary membership and its own groups at each other school.

SCHOOL (6612001) is a mainstream secondary; PRU (6619001) a pupil referral unit where some of its
learners are also on roll. Records carry the enrolment status the parsers read (M, S, C)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from connectors.provisioning.plan import LEAVERS, CreateAccount, Deactivate, TransferIn, UpdateAccount
from directory.model import Account, AccountState, StateChange
from tests.unit.test_planner import SCHOOL, account, kinds, plan, record

PRU = "6619001"
HASH_1 = f"{1:064d}"


def at_pru(n: int, **fields) -> Account:
    """A learner whose main school is the PRU, in its group KS3."""
    base = dict(school=PRU, admission_number=f"P{n:05d}", registration_group="KS3", classes=("KS3", "KS3Ma"))
    return account(n, **(base | fields))


def dual_here(n: int, **fields) -> Account:
    """Main at the PRU and dual registered at SCHOOL in 7A."""
    base = dict(subsidiary_schools=(SCHOOL,),
                subsidiary_groups=(f"{SCHOOL}:class:7A", f"{SCHOOL}:registration-group:7A"))
    return at_pru(n, **(base | fields))


def applied(acc: Account, action) -> Account:
    """The account as the applier leaves it after an UpdateAccount or TransferIn."""
    return replace(acc, **dict(action.changes))


def updates(p) -> list[UpdateAccount]:
    return [a for a in p.actions if isinstance(a, UpdateAccount)]


def test_an_s_record_for_a_learner_main_elsewhere_joins_this_school_with_its_groups_and_no_error():
    p = plan([record(1, enrolment_status="S")], elsewhere={HASH_1: [at_pru(1)]})
    assert p.errors == () and kinds(p) == ["UpdateAccount"]
    [join] = updates(p)
    assert join.account_id == "id-1" and dict(join.changes) == {
        "subsidiary_schools": (SCHOOL,),
        "subsidiary_groups": (f"{SCHOOL}:class:7A", f"{SCHOOL}:registration-group:7A"),
    }
    # The main school's fields are the PRU's business: not one of them changes.
    assert not {"school", "admission_number", "registration_group", "classes"} & set(dict(join.changes))
    # Once joined, the same export plans nothing (M-1): the account is now on this school's roll.
    assert kinds(plan([record(1, enrolment_status="S")], [applied(at_pru(1), join)])) == []


def test_a_learner_without_a_status_active_elsewhere_is_still_a_pending_transfer():
    p = plan([record(1, enrolment_status="C")], elsewhere={HASH_1: [at_pru(1)]})
    assert [e.error for e in p.errors] == ["Pending transfer"] and kinds(p) == []


def test_an_s_record_with_no_account_anywhere_creates_it_here():
    p = plan([record(1, enrolment_status="S")])
    assert kinds(p) == ["CreateAccount"] and isinstance(p.actions[0], CreateAccount)


def test_a_subsidiary_learners_groups_here_follow_the_mis_and_the_main_schools_stay():
    other = "6613333:class:Art"  # a third school the learner is also dual registered at
    acc = dual_here(1, subsidiary_schools=(SCHOOL, "6613333"),
                    subsidiary_groups=(other, f"{SCHOOL}:class:7A", f"{SCHOOL}:registration-group:7A"))
    assert kinds(plan([record(1, enrolment_status="S")], [acc])) == []
    moved = plan([record(1, enrolment_status="S", registration_group="7B", classes=("7B", "7Sc2"))], [acc])
    [update] = updates(moved)
    assert dict(update.changes) == {"subsidiary_groups": (
        f"{SCHOOL}:class:7B", f"{SCHOOL}:class:7Sc2", f"{SCHOOL}:registration-group:7B", other)}


def test_a_subsidiary_learner_gone_from_the_export_loses_only_this_membership():
    present, gone = dual_here(1), dual_here(2, subsidiary_schools=(SCHOOL, "6613333"),
                                            subsidiary_groups=("6613333:class:Art", f"{SCHOOL}:class:7A"))
    p = plan([record(1, enrolment_status="S")], [present, gone])
    assert not [a for a in p.actions if isinstance(a, Deactivate)]
    [leave] = updates(p)
    assert leave.workflow == LEAVERS and leave.account_id == "id-2"
    assert dict(leave.changes) == {"subsidiary_schools": ("6613333",), "subsidiary_groups": ("6613333:class:Art",)}
    assert leave.reference == gone.username  # not the PRU's admission number


def test_a_pru_losing_every_dual_registered_learner_is_not_held():
    """Only accounts deactivated by their main school weigh on the guard (M-11)."""
    p = plan([record(1)], [account(1)] + [dual_here(n) for n in range(2, 40)])
    assert p.hold is None and len(updates(p)) == 38


def test_a_subsidiary_learners_leaving_date_ends_the_membership_not_the_account():
    p = plan([record(1, enrolment_status="S", leaving_date=date(2026, 11, 20))], [dual_here(1)])
    [leave] = updates(p)
    assert leave.workflow == LEAVERS and dict(leave.changes) == {"subsidiary_schools": (), "subsidiary_groups": ()}
    assert kinds(p) == ["UpdateAccount"]


def test_an_m_record_for_a_learner_main_elsewhere_moves_the_main_school_here_and_keeps_the_old_as_subsidiary():
    p = plan([record(1, enrolment_status="M", year_group="8", registration_group="8C", classes=("8C",))],
             elsewhere={HASH_1: [at_pru(1)]})
    assert p.errors == ()
    [move] = updates(p)
    changes = dict(move.changes)
    assert changes["school"] == SCHOOL and changes["admission_number"] == "000001"
    assert (changes["year_group"], changes["registration_group"], changes["classes"]) == ("8", "8C", ("8C",))
    assert changes["subsidiary_schools"] == (PRU,)
    assert changes["subsidiary_groups"] == (f"{PRU}:class:KS3", f"{PRU}:class:KS3Ma", f"{PRU}:registration-group:KS3")
    moved = applied(at_pru(1), move)
    assert moved.groups_at(PRU) == ("KS3", ("KS3", "KS3Ma"))
    assert kinds(plan([record(1, enrolment_status="M", year_group="8", registration_group="8C", classes=("8C",))],
                      [moved])) == []


def test_an_m_record_here_for_a_learner_dual_registered_here_drops_the_membership_as_it_becomes_main():
    p = plan([record(1, enrolment_status="M")], [dual_here(1)])
    [move] = updates(p)
    changes = dict(move.changes)
    assert changes["school"] == SCHOOL and changes["subsidiary_schools"] == (PRU,)
    assert not any(g.startswith(SCHOOL) for g in changes["subsidiary_groups"])


def test_an_m_record_waits_for_its_admission_date():
    p = plan([record(1, enrolment_status="M", admission_date=date(2027, 1, 4))], elsewhere={HASH_1: [at_pru(1)]})
    assert kinds(p) == [] and p.errors == ()


def test_a_transfer_in_takes_the_school_off_the_learners_subsidiary_schools():
    released = dual_here(1, state=AccountState.DEACTIVATED, subsidiary_schools=(SCHOOL, "6613333"),
                         subsidiary_groups=("6613333:class:Art", f"{SCHOOL}:class:7A"),
                         state_change=StateChange(AccountState.DEACTIVATED, datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
                                                  "provisioning", "no longer in the MIS export"))
    p = plan([record(1, enrolment_status="C")], [released])
    [move] = [a for a in p.actions if isinstance(a, TransferIn)]
    changes = dict(move.changes)
    assert move.from_school == PRU and changes["school"] == SCHOOL
    assert changes["subsidiary_schools"] == ("6613333",) and changes["subsidiary_groups"] == ("6613333:class:Art",)


def test_a_learner_dual_registered_here_is_recognised_even_when_looked_up_as_elsewhere():
    """Whichever list the directory puts a dual-registered learner in, it is this school's subsidiary one."""
    assert kinds(plan([record(1, enrolment_status="S")], [], {HASH_1: [dual_here(1)]})) == []
    p = plan([record(1, enrolment_status="C", registration_group="7B", classes=("7B",))], [], {HASH_1: [dual_here(1)]})
    assert p.errors == () and [dict(u.changes) for u in updates(p)] == [
        {"subsidiary_groups": (f"{SCHOOL}:class:7B", f"{SCHOOL}:registration-group:7B")}]


def test_a_main_and_a_subsidiary_account_of_one_learner_here_are_multiple_entries():
    p = plan([record(1)], [account(1), dual_here(1)])
    assert [e.error for e in p.errors] == ["Multiple entries for search"] and kinds(p) == []


def test_a_dual_registered_learner_an_administrator_deactivated_is_not_reactivated_here():
    stopped = dual_here(1, state=AccountState.DEACTIVATED,
                        state_change=StateChange(AccountState.DEACTIVATED, datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
                                                 "MorganR", "safeguarding"))
    for status in ("S", "M", "C"):
        p = plan([record(1, enrolment_status=status)], [stopped])
        assert [e.error for e in p.errors] == ["Deactivated by an administrator"] and kinds(p) == [], status
