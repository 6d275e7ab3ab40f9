"""The scheduled jobs on a real slapd, with the clock passed in (issue 6; SPEC A-5, L-1, L-3, L-4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from directory.ldap.sign_in import SignInDirectory
from directory.model import AccountKind, AccountState, NewAccount, PasswordStatus
from jobs.framework import JobContext, JobSettings, run_job
from jobs.lifecycle import deactivate_inactive, delete_due, expire_non_mis
from jobs.username_changes import process_username_changes
from operational import username_changes
from operational.audit import AuditFilter, events
from tests.integration.conftest import SCHOOL, learner, staff
from tests.integration.idp_fixtures import porth  # noqa: F401 (fixture)


def context(store, db, now, **settings) -> JobContext:
    return JobContext(store=store, db=db, now=now, settings=JobSettings(**settings))


def real_now() -> datetime:
    return datetime.now(UTC)  # slapd stamps createTimestamp with the real clock


def governor(surname: str, expiry: datetime | None = None) -> NewAccount:
    return NewAccount(kind=AccountKind.GOVERNOR, surname=surname, forename="Gwen", created_by="test", school=SCHOOL,
                      expiry=expiry)


# -- username changes (A-5) ----------------------------------------------------------------------
def test_a_queued_username_change_renames_keeps_the_alias_and_sets_a_new_password(store, db, now):
    pupil = store.add_account(learner("Avery", "Ann", password="Tiger4821"), now)
    store.update_account(pupil.id, {"surname": "Bevan"})  # the portal: names at once
    assert username_changes.request_change(db, pupil.id, "PriceN", now)
    run = run_job("username-changes", process_username_changes, context(store, db, now))
    assert run.outcome == "succeeded" and run.counts == {"changed": 1}
    changed = store.get_account(pupil.id)
    assert changed.username == "BevanA" and changed.mail == "BevanA@hwbcymru.net"
    assert changed.aliases == ("AveryA",)
    assert store.find_by_username("AveryA@hwbcymru.net").id == pupil.id  # the old address still resolves
    assert changed.password_status is PasswordStatus.AVAILABLE
    new_password = store.reveal_password(pupil.id)
    assert new_password != "Tiger4821"
    assert SignInDirectory(store.config).authenticate("AveryA", new_password).id == pupil.id
    assert username_changes.pending(db) == []
    [entry] = [e for _i, e in events(db, AuditFilter(action="username-changed"))]
    assert entry.detail["from"] == "AveryA" and entry.detail["to"] == "BevanA" and entry.actor == "scheduler"
    # The old name is never given to anyone else.
    assert store.add_account(learner("Avery", "Alun"), now).username == "AveryA2"


def test_a_killed_run_is_finished_by_the_next_without_a_second_rename(store, db, now):
    pupil = store.add_account(learner("Avery", "Ann"), now)
    store.update_account(pupil.id, {"surname": "Bevan"})
    username_changes.request_change(db, pupil.id, "PriceN", now)
    [change] = username_changes.pending(db)
    username_changes.note_begun(db, change.id, "AveryA")  # the job got this far...
    store.change_username(pupil.id, "Bevan", "Ann")  # ...and renamed, then was killed
    run = run_job("username-changes", process_username_changes, context(store, db, now))
    assert run.counts == {"changed": 1}
    after = store.get_account(pupil.id)
    assert after.username == "BevanA" and after.aliases == ("AveryA",)  # no BevanA2
    assert store.reveal_password(pupil.id)


def test_a_change_for_a_deleted_account_fails_alone(store, db, now):
    gone = store.add_account(learner("Avery", "Ann"), now)
    kept = store.add_account(learner("Cole", "Cai"), now)
    store.update_account(kept.id, {"surname": "Davies"})
    for account in (gone, kept):
        username_changes.request_change(db, account.id, "PriceN", now)
    store.delete_account(gone.id, "test", "gone", now)
    run = run_job("username-changes", process_username_changes, context(store, db, now))
    assert run.counts == {"changed": 1} and run.error_count == 1
    assert store.get_account(kept.id).username == "DaviesC"


# -- lifecycle ----------------------------------------------------------------------------------
def test_expired_non_mis_accounts_are_deactivated_the_day_after_expiry(store, db):
    today = real_now()
    past = store.add_account(governor("Ifan", expiry=today - timedelta(days=1)), today)
    last_day = store.add_account(governor("Rees", expiry=today), today)
    teacher = store.add_account(staff(), today)
    run = run_job("non-mis-expiry", expire_non_mis, context(store, db, today))
    assert run.counts == {"deactivated": 1}
    expired = store.get_account(past.id)
    assert expired.state is AccountState.DEACTIVATED
    assert (expired.state_change.by, expired.state_change.reason) == ("scheduler", "expired")
    assert store.get_account(last_day.id).state is AccountState.ACTIVE  # L-1: past expiry means after the day
    assert store.get_account(teacher.id).state is AccountState.ACTIVE  # MIS accounts never expire


def test_non_mis_accounts_unused_for_90_days_are_deactivated_and_keep_their_expiry(store, db):
    created = real_now()
    expiry = created + timedelta(days=365)
    idle = store.add_account(governor("Ifan", expiry=expiry), created)
    used = store.add_account(governor("Rees", expiry=expiry), created)
    store.record_sign_in(used.id, created + timedelta(days=60))
    pupil = store.add_account(learner(), created)
    assert run_job("inactivity", deactivate_inactive, context(store, db, created + timedelta(days=89))).counts == {}
    run = run_job("inactivity", deactivate_inactive, context(store, db, created + timedelta(days=91)))
    assert run.counts == {"deactivated": 1}
    after = store.get_account(idle.id)
    assert after.state is AccountState.DEACTIVATED and after.expiry == expiry.replace(microsecond=0)
    assert store.get_account(used.id).state is AccountState.ACTIVE
    assert store.get_account(pupil.id).state is AccountState.ACTIVE  # learners are not non-MIS


def test_accounts_deactivated_twelve_months_ago_are_deleted_and_the_guard_holds_a_big_run(store, db):
    start = real_now()
    old = [store.add_account(learner(name), start) for name in ("Avery", "Bevan")]
    for account in old:
        store.set_state(account.id, AccountState.DEACTIVATED, "provisioning", "leaver", start)
    recent = store.add_account(learner("Cole"), start)
    store.set_state(recent.id, AccountState.DEACTIVATED, "provisioning", "leaver", start + timedelta(days=200))
    later = start + timedelta(days=370)
    held = run_job("deletions", delete_due, context(store, db, later, max_deletions_per_run=1))
    assert held.outcome == "held" and held.counts == {"due": 2} and "--confirm" in held.note
    assert all(store.get_account(a.id).state is AccountState.DEACTIVATED for a in old)  # nothing deleted
    confirmed = JobContext(store=store, db=db, now=later, settings=JobSettings(max_deletions_per_run=1),
                           confirmed=True)
    done = run_job("deletions", delete_due, confirmed)
    assert done.outcome == "succeeded" and done.counts == {"deleted": 2}
    assert all(store.get_account(a.id) is None or store.get_account(a.id).state is AccountState.DELETED
               for a in old)
    assert store.get_account(recent.id).state is AccountState.DEACTIVATED
    assert len(events(db, AuditFilter(action="delete"))) == 2


def test_a_failing_job_is_recorded_and_its_lock_released(store, db, now):
    def broken(_context):
        raise RuntimeError("the directory said no")

    run = run_job("non-mis-expiry", broken, context(store, db, now))
    assert run.outcome == "failed" and "the directory said no" in run.note
    assert run_job("non-mis-expiry", expire_non_mis, context(store, db, now)).outcome == "succeeded"


def test_after_the_change_the_old_address_signs_in_to_the_same_account(porth, now):
    """A-5 at the IdP: a service told the username sees the new one after a sign-in with the old address."""
    from tests.integration.test_idp_sso import answer_form, onelogin

    store, db = porth.runtime.store, porth.runtime.db
    pupil = store.add_account(learner("Avery", "Ann", password="Tiger4821"), now)
    store.update_account(pupil.id, {"surname": "Bevan"})
    username_changes.request_change(db, pupil.id, "PriceN", now)
    run_job("username-changes", process_username_changes, context(store, db, now))
    new_password = store.reveal_password(pupil.id)
    service = onelogin(porth)
    url, request_id = service.login_url()
    auth = service.accept(answer_form(porth.sign_in(url, "AveryA@hwbcymru.net", new_password)), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_attribute("urn:oid:0.9.2342.19200300.100.1.1") == ["BevanA"]


def test_a_reactivated_idle_account_gets_ninety_days_again(store, db):
    """L-3 with L-5: reactivation by an administrator restarts the inactivity clock."""
    created = real_now()
    idle = store.add_account(governor("Ifan", expiry=created + timedelta(days=365)), created)
    run_job("inactivity", deactivate_inactive, context(store, db, created + timedelta(days=91)))
    assert store.get_account(idle.id).state is AccountState.DEACTIVATED
    store.set_state(idle.id, AccountState.ACTIVE, "PriceN", "reactivated in the portal", created + timedelta(days=92))
    run = run_job("inactivity", deactivate_inactive, context(store, db, created + timedelta(days=93)))
    assert run.counts == {} and store.get_account(idle.id).state is AccountState.ACTIVE
    later = run_job("inactivity", deactivate_inactive, context(store, db, created + timedelta(days=183)))
    assert later.counts == {"deactivated": 1}


# -- one writer (issue 14) -------------------------------------------------------------------------


def test_a_job_sharing_a_lock_held_too_long_by_another_is_recorded_as_skipped_saying_who_held_it(db, now):
    from jobs.framework import WRITER_PATIENCE, WRITER_POLL, JobResult, SharedWriter
    from operational import job_runs

    assert job_runs.take_lock(db, "m365-writer", "other-host:7 graph-full-sync", now, timedelta(hours=2))
    ran, waits = [], []
    job = SharedWriter("m365-writer", lambda _context: ran.append(1) or JobResult())
    run = run_job("graph-sync", job, JobContext(store=None, db=db, now=now), sleep=waits.append)
    assert run.outcome == "skipped" and not ran
    assert "m365-writer still held by other-host:7 graph-full-sync" in run.note
    assert len(waits) == WRITER_PATIENCE.total_seconds() / WRITER_POLL  # it waited its patience, then gave up
    assert job_runs.lock_holder(db, "graph-sync", now) is None  # its own lock released
    job_runs.release_lock(db, "m365-writer", "other-host:7 graph-full-sync")
    assert run_job("graph-sync", job, JobContext(store=None, db=db, now=now)).outcome == "succeeded" and ran


def test_a_long_job_keeps_its_locks_while_it_runs(db, now):
    from jobs.framework import JobResult, SharedWriter
    from operational import job_runs

    clock = [now]

    def long_job(context):
        clock[0] = now + timedelta(minutes=25)  # most of its 30-minute lease gone
        context.keep_alive()
        clock[0] = now + timedelta(minutes=40)  # beyond the first lease: another scheduler looks
        assert not job_runs.take_lock(db, "m365-writer", "other-host:7 consent-propagation", clock[0],
                                      timedelta(minutes=30))
        assert not job_runs.take_lock(db, "graph-sync", "other-host:7", clock[0], timedelta(minutes=30))
        return JobResult()

    run = run_job("graph-sync", SharedWriter("m365-writer", long_job), JobContext(store=None, db=db, now=now),
                  clock=lambda: clock[0], lease=timedelta(minutes=30))
    assert run.outcome == "succeeded"
