"""Issue 15 point 4 through provisioning (SPEC M-1, M-9, A-5): a name that is no name is never stored.

On main a surname with a control character was written to LDAP by the run, and every later sign-in to a
service releasing it answered 500. Now the reader refuses the record; the run logs `Invalid name` naming the
record (admission number or staff code) and the field, never the value, and creates nothing for it."""

from __future__ import annotations

from directory.model import AccountState
from tests.integration.test_provisioning import accounts, export, learner_row, run, staff_row


def test_records_with_control_characters_or_no_letter_are_logged_and_not_created(store, db):
    outcome = run(store, db, export(
        learners=[learner_row(1, surname="Jo\x01nes"), learner_row(2, forename="\U0001f600"),
                  learner_row(3, surname="Ev\ufffeans"), learner_row(4)],
        staff=[staff_row("T1", forename="123"), staff_row("T2", surname="Ll\x1bwyd"), staff_row("T3")]))
    made = accounts(store)
    assert set(made) == {"000004", "T3"}
    refused = {e.record: e for e in outcome.errors if e.error == "Invalid name"}
    assert set(refused) == {"000001", "000002", "000003", "T1", "T2"}
    assert (refused["000001"].field, refused["T1"].field) == ("legal_surname", "legal_forename")
    assert "control characters" in refused["000001"].detail and "letter" in refused["T1"].detail
    for error in refused.values():
        text = f"{error}"
        assert "\x01" not in text and "\ufffe" not in text and "\x1b" not in text and "123" not in text


def test_a_record_refused_for_its_name_does_not_make_its_account_a_leaver(store, db):
    run(store, db, export(learners=[learner_row(1)], staff=[staff_row("T1")]))
    outcome = run(store, db, export(learners=[learner_row(1, surname="Jo\tnes")],
                                    staff=[staff_row("T1", surname="Ev\x85ans")]))
    assert {e.record for e in outcome.errors if e.error == "Invalid name"} == {"000001", "T1"}
    assert all(a.state is AccountState.ACTIVE for a in accounts(store).values())
    assert accounts(store)["000001"].surname == "Jones"
