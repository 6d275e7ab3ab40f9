"""A provisioning run as the operational store records it, on a real slapd: real start and end
times, counts written as the run goes (so a killed run's row says what it had done), record-level
faults kept to their record, and the directory's refusals of a second account for one learner."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.provisioning import service
from connectors.provisioning.applier import COULD_NOT_APPLY, apply_plan
from connectors.provisioning.plan import LEARNERS, Plan, UpdateAccount
from connectors.provisioning.service import provision_school
from directory.model import AccountKind
from operational import workflow_runs
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL
from tests.integration.test_provisioning import NOW, TODAY, accounts, errors, export, learner_row, run, upn


def test_any_fault_on_one_record_is_that_records_error_and_the_rest_go_on(store, db):
    """M-9: not only the directory's refusals: whatever one change raises stays with its record."""
    run(store, db, export([learner_row(1), learner_row(2)]))
    first, second = accounts(store)["000001"], accounts(store)["000002"]
    plan = Plan(SCHOOL, (
        UpdateAccount(LEARNERS, first.id, "000001", (("no_such_field", "x"),)),  # the store raises ValueError
        UpdateAccount(LEARNERS, second.id, "000002", (("year_group", "9"),)),
    ))
    result = apply_plan(store, plan, NOW)
    assert [(e.record, e.error) for e in result.errors] == [("000001", COULD_NOT_APPLY)]
    assert "ValueError" in (result.errors[0].detail or "")
    assert result.counts[LEARNERS]["updated"] == 1
    assert store.get_account(second.id).year_group == "9"


def test_a_new_learner_keeps_a_leaving_date_still_to_come_so_the_next_run_changes_nothing(store, db):
    """M-1, M-5: an account is created as the field-policy table says, not bare and fixed next run."""
    leaving = TODAY + timedelta(days=40)
    school = export([learner_row(1, left=leaving.isoformat())])
    run(store, db, school)
    assert accounts(store)["000001"].leaving_date == leaving
    assert run(store, db, school).plan.actions == ()


def test_a_run_records_progress_and_the_run_after_a_killed_one_says_what_it_had_done(store, db, monkeypatch):
    """M-10: the counts are written while the run goes; a run killed mid-way (here its progress
    callback dies as a killed process would) keeps them, and the next run closes it saying so."""
    monkeypatch.setattr(service, "PROGRESS_EVERY_ACTIONS", 5)
    school = export([learner_row(n) for n in range(1, 31)])
    applied = []

    def dies_after_twelve(action) -> None:
        applied.append(action)
        if len(applied) == 12:
            raise KeyboardInterrupt  # not an Exception: nothing in the run may swallow it

    with pytest.raises(KeyboardInterrupt):
        provision_school(store, db, school, NOW, progress=dies_after_twelve)
    killed = workflow_runs.last_runs(db, SCHOOL)["learners"]
    assert killed.outcome == "running" and killed.counts.created == 10  # the last write, at 10 actions

    later = NOW + timedelta(hours=1)
    rerun = run(store, db, school, now=later, clock=lambda: later)
    assert rerun.counts == {"created": 30 - 12}
    assert len(accounts(store)) == 30
    assert rerun.notices == (
        ("the run of 2026-11-23 09:00 UTC was interrupted and is closed as failed; "
         "it had done: 10 created; this run carries on from there"),
    )
    closed = workflow_runs.get_run(db, killed.id)
    assert closed.outcome == "failed" and closed.ended_at == later
    assert closed.note == ("interrupted: the run started 2026-11-23 09:00 UTC stopped before it finished; "
                           "abandoned after 10 created")


def test_a_pending_transfer_resolved_by_the_last_pass_leaves_no_error_in_the_same_run(store, db):
    """M-6: the new school is applied first (its learner still active at the old school), the old
    school releases him later in the run; the last pass moves him within the new school's runs."""
    run(store, db, export([learner_row(1, "Price", "Huw"), learner_row(2)]))
    new = export([learner_row(501, "Price", "Huw", upn_value=upn(1), admitted="2026-11-16", school=OTHER_SCHOOL)],
                 school=OTHER_SCHOOL)
    waiting = provision_school(store, db, new, NOW, defer_last_pass=True)
    assert errors(waiting) == {"000501": "Pending transfer"} and waiting.last_pass is not None
    assert workflow_runs.get_run(db, waiting.run_ids["learners"]).outcome == "running"
    run(store, db, export([learner_row(1, "Price", "Huw", left="2026-11-13"), learner_row(2)]))

    done = service.finish_last_pass(store, db, waiting)
    assert done.counts == {"moved": 1} and done.errors == []
    learners_run = workflow_runs.get_run(db, waiting.run_ids["learners"])
    assert (learners_run.outcome, learners_run.counts.moved, learners_run.errors) == ("succeeded", 1, ())
    assert set(accounts(store, OTHER_SCHOOL)) == {"000501"}


def test_a_learner_another_school_created_meanwhile_is_planned_again_not_duplicated(store, db):
    """One learner, one account (issue 13 point 1): school B planned a new account for Gwen, but
    before B applied, school A created hers. The directory refuses B's creation; B does not log it
    as an error but plans Gwen again, and finds her account at A (here: a pending transfer, her
    record at B being a single registration)."""
    gwen_at_a = export([learner_row(1, "Llŵyd", "Gwen")])
    gwen_at_b = export([learner_row(801, "Llŵyd", "Gwen", upn_value=upn(1), school=OTHER_SCHOOL)],
                       school=OTHER_SCHOOL)
    at_b = provision_school(store, db, gwen_at_b, NOW,
                            on_plan=lambda _plan: run(store, db, gwen_at_a))  # A wins the race, B's plan is stale
    assert at_b.outcome == "succeeded" and at_b.counts == {}
    assert errors(at_b) == {"000801": "Pending transfer"}
    gwen = [a for a in store.iter_accounts(kind=AccountKind.LEARNER) if a.forename == "Gwen"]
    assert len(gwen) == 1 and gwen[0].school == SCHOOL
    log = workflow_runs.get_run(db, at_b.run_ids["learners"]).errors
    assert [(e.record, e.error) for e in log] == [("000801", "Pending transfer")]

