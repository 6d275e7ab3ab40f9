"""The operational store on SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from operational import audit, workflow_runs
from operational.db import Database, OperationalStoreError
from operational.tables import Base

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_database() -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but PostgreSQL at 127.0.0.1:5432 does not answer: {exc}")
        pytest.skip(f"no PostgreSQL server answers at 127.0.0.1:5432 ({exc})")
    name = f"porth_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Iterator[Database]:
    if request.param == "sqlite":
        urls = iter([f"sqlite:///{tmp_path / 'var' / 'porth.sqlite3'}"])
    else:
        urls = _postgres_database()
    for url in urls:
        database = Database(url)
        database.migrate()
        yield database
        database.dispose()


def test_migrations_are_idempotent_and_match_the_models(db):
    db.migrate()
    assert db.current_revision() == db.head_revision() is not None
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_audit_events_are_recorded_and_filtered_by_scope(db, now):
    for school, action, minutes in (("6612001", "reset-password", 0), ("6612001", "reveal-password", 1),
                                    ("6614001", "deactivate", 2)):
        audit.record(db, audit.AuditEntry(
            at=now + timedelta(minutes=minutes), actor="JonesA", actor_role="digital-champion",
            action=action, target_kind="account", target_id=str(uuid.uuid4()), target_label="BloggsJ",
            school=school, source_address="192.0.2.10", detail={"reason": "forgotten"},
        ))
    in_scope = audit.events(db, audit.AuditFilter(schools=("6612001",)))
    assert [entry.action for _, entry in in_scope] == ["reveal-password", "reset-password"]  # newest first
    first_id, first = in_scope[0]
    assert first.at == now + timedelta(minutes=1) and first.at.tzinfo is not None
    assert first.source_address == "192.0.2.10" and first.detail == {"reason": "forgotten"}
    assert [e.action for _, e in audit.events(db, audit.AuditFilter(action="deactivate"))] == ["deactivate"]
    assert len(audit.events(db, audit.AuditFilter(since=now + timedelta(minutes=1)))) == 2
    older = audit.events(db, audit.AuditFilter(before_id=first_id, schools=("6612001",)))
    assert [e.action for _, e in older] == ["reset-password"]


def test_audit_refuses_a_password_in_details(db, now):
    with pytest.raises(ValueError, match="never carry a password"):
        audit.record(db, audit.AuditEntry(at=now, actor="a", action="reset-password", target_kind="account",
                                          detail={"Password": "Tiger4821"}))


def test_workflow_runs_record_counts_errors_and_the_seven_day_flag(db, now):
    run = workflow_runs.start_run(db, "6612001", "learners", now - timedelta(days=8), source="ctf.xml")
    workflow_runs.finish_run(db, run, "succeeded", now - timedelta(days=8), workflow_runs.RunCounts(created=40))
    run = workflow_runs.start_run(db, "6612001", "learners", now)
    assert workflow_runs.last_runs(db, "6612001")["learners"].outcome == "running"
    workflow_runs.finish_run(
        db, run, "failed", now + timedelta(minutes=2), workflow_runs.RunCounts(updated=3, deactivated=1),
        [workflow_runs.RecordError("001234", "Missing UPN", "UPN"),
         workflow_runs.RecordError("S017", "Duplicate staff code")],
    )
    workflow_runs.start_run(db, "6612001", "staff", now, dry_run=True)  # dry runs never count as "last run"
    last = workflow_runs.last_runs(db, "6612001")
    assert set(last) == {"learners"}
    assert last["learners"].outcome == "failed" and last["learners"].error_count == 2
    assert last["learners"].counts == workflow_runs.RunCounts(updated=3, deactivated=1)
    detail = workflow_runs.get_run(db, run)
    assert [(e.record, e.error) for e in detail.errors] == [("001234", "Missing UPN"), ("S017", "Duplicate staff code")]
    assert workflow_runs.schools_without_recent_success(db, ["6612001", "6614001"], now) == ["6612001", "6614001"]
    ok = workflow_runs.start_run(db, "6614001", "groups", now)
    workflow_runs.finish_run(db, ok, "succeeded", now, workflow_runs.RunCounts())
    assert workflow_runs.schools_without_recent_success(db, ["6612001", "6614001"], now) == ["6612001"]


def test_unknown_workflow_is_refused_by_code_and_by_the_database(db, now):
    with pytest.raises(ValueError, match="unknown workflow"):
        workflow_runs.start_run(db, "6612001", "payroll", now)
    with pytest.raises(DBAPIError), db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO workflow_runs (school, workflow, started_at, outcome, dry_run, created, updated, moved, "
            "deactivated, error_count) VALUES ('1', 'payroll', '2026-01-01', 'running', false, 0, 0, 0, 0, 0)"
        ))


def test_deleting_a_run_deletes_its_errors(db, now):
    run = workflow_runs.start_run(db, "6612001", "staff", now)
    workflow_runs.finish_run(db, run, "succeeded", now, workflow_runs.RunCounts(),
                             [workflow_runs.RecordError("S1", "Missing staff code")])
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM workflow_runs WHERE id = :id"), {"id": run})
        assert connection.execute(text("SELECT count(*) FROM workflow_errors")).scalar() == 0


def test_unreachable_database_is_one_line():
    database = Database("postgresql+psycopg://nobody:secretpw@127.0.0.1:1/porth?connect_timeout=2")
    with pytest.raises(OperationalStoreError) as error:
        database.migrate()
    message = str(error.value)
    assert message.startswith("cannot use the operational database postgresql+psycopg://nobody:***@127.0.0.1:1/porth")
    assert "secretpw" not in message and "\n" not in message


def test_licence_requests_keep_the_latest_wanted_state_and_never_pass_the_quota(db, now):
    """G-2 on both engines: two administrators allocating at once cannot both take the last licence."""
    import threading

    from directory.rules.licences import within_quota
    from operational import licence_requests
    from operational.licence_requests import OverQuota

    def quota_of(limit):
        return lambda projected: within_quota(sum(1 for s in projected.values() if s.wanted), limit)

    assert licence_requests.request(db, "6610001", ["a", "b"], True, "dc", now, quota_of(3)) == ["a", "b"]
    assert licence_requests.request(db, "6610001", ["a"], True, "dc", now, quota_of(3)) == []  # already wanted
    outcomes = []
    barrier = threading.Barrier(2)

    def allocate(account):
        barrier.wait()
        try:
            outcomes.append(licence_requests.request(db, "6610001", [account], True, "dc", now, quota_of(3)))
        except OverQuota:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - SQLite may refuse the second writer outright: also a refusal
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=allocate, args=(name,)) for name in ("c", "d")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = licence_requests.latest(db, "6610001")
    assert sum(1 for s in states.values() if s.wanted) == 3, outcomes
    assert licence_requests.request(db, "6610001", ["a"], False, "dc", now) == ["a"]
    assert licence_requests.latest(db, "6610001")["a"].wanted is False
    assert licence_requests.latest(db, "6610001")["a"].state == "pending"


def test_a_job_lock_is_held_by_one_scheduler_until_released_or_expired(db, now):
    """Issue 6: a second scheduler cannot take a job another holds; a dead holder's lease runs out."""
    from datetime import timedelta as minutes_from

    from operational import job_runs

    lease = minutes_from(minutes=30)
    assert job_runs.take_lock(db, "deletions", "host-a:1", now, lease)
    assert not job_runs.take_lock(db, "deletions", "host-b:2", now + minutes_from(minutes=5), lease)
    assert job_runs.lock_holder(db, "deletions", now) == "host-a:1"
    assert job_runs.take_lock(db, "deletions", "host-b:2", now + minutes_from(minutes=31), lease)  # A died
    job_runs.release_lock(db, "deletions", "host-a:1")  # A's late release frees nothing of B's
    assert job_runs.lock_holder(db, "deletions", now + minutes_from(minutes=32)) == "host-b:2"
    job_runs.release_lock(db, "deletions", "host-b:2")
    assert job_runs.take_lock(db, "deletions", "host-a:1", now + minutes_from(minutes=33), lease)


def test_housekeeping_forgets_old_job_runs_but_each_jobs_latest_and_latest_success(db, now):
    """A username-changes run every 5 minutes is 150,000 rows a year: runs older than the kept days go,
    except what `porth jobs list` and the "last success" metric read, and a run still running."""
    from jobs.framework import JobContext, JobSettings
    from jobs.housekeeping import forget_old_job_runs
    from operational import job_runs
    from operational.statuses import JobOutcome

    def ran(job: str, days_ago: int, outcome: JobOutcome) -> int:
        at = now - timedelta(days=days_ago)
        run_id = job_runs.start_run(db, job, at, "schedule", "host:1")
        if outcome is not JobOutcome.RUNNING:
            job_runs.finish_run(db, run_id, outcome, at + timedelta(minutes=1), {}, [])
        return run_id

    old_success = ran("graph-sync", 200, JobOutcome.SUCCEEDED)  # its latest success, however old
    forgotten = [ran("graph-sync", 150, JobOutcome.FAILED), ran("graph-sync", 100, JobOutcome.FAILED)]
    recent = [ran("graph-sync", 30, JobOutcome.FAILED), ran("graph-sync", 1, JobOutcome.FAILED)]
    stuck = ran("deletions", 120, JobOutcome.RUNNING)  # fail_dead_runs' to settle, not housekeeping's
    forgotten.append(ran("inactivity", 367, JobOutcome.SUCCEEDED))
    last_success = ran("inactivity", 366, JobOutcome.SUCCEEDED)
    latest = ran("inactivity", 365, JobOutcome.HELD)  # a job's latest run stays, however old
    result = forget_old_job_runs(JobContext(store=None, db=db, now=now,  # type: ignore[arg-type]
                                            settings=JobSettings(keep_job_runs_days=90)))

    kept = {run.id for job in ("graph-sync", "deletions", "inactivity") for run in job_runs.runs_of(db, job, 100)}
    assert kept == {old_success, *recent, stuck, last_success, latest}
    assert not kept & set(forgotten)
    assert result.counts == {"job_runs_forgotten": len(forgotten)}
    assert job_runs.last_runs(db)["graph-sync"].id == recent[-1]


def test_sign_ins_go_on_after_the_database_drops_their_kept_connection(db, now):
    """The replay ledger and failure counters keep one connection per thread (KeptConnections);
    a server restart or an idle timeout must cost nobody their sign-in."""
    from idp.guards import RequestLedger, SignInThrottle
    from idp.throttling import Limits
    from operational.db import KeptConnections

    connections = KeptConnections(db)
    ledger = RequestLedger(connections)
    throttle = SignInThrottle(connections, b"key", Limits(2, 4, timedelta(minutes=5)), 20)
    keep = now + timedelta(minutes=5)
    assert ledger.first_use("https://sp.example", "_one", keep, now)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as admin:  # what a server restart does to every open connection
            admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    else:
        connections._local.connection.dbapi_connection.close()  # a lost file handle
    assert ledger.first_use("https://sp.example", "_two", keep, now)
    assert not ledger.first_use("https://sp.example", "_one", keep, now)  # still a replay
    assert [throttle.attempt("JonesA", "192.0.2.1", now).wait_seconds for _ in range(3)] == [0, 0, 1]
    connections.close()


def test_stored_outcomes_and_states_read_back_as_their_enums_and_the_database_keeps_to_their_values(db, now):
    """Issue 12: the statuses became enums without a migration. A row holding the plain
    string (as every earlier release wrote it) reads back as the member; a value outside the
    enum is still refused by the CHECK constraint the migrations made."""
    from operational import job_runs, licence_requests
    from operational.statuses import ChangeState, JobOutcome, WorkflowOutcome

    run = workflow_runs.start_run(db, "6612001", "leavers", now)
    job = job_runs.start_run(db, "lifecycle", now, "schedule", "host:1")
    licence_requests.request(db, "6612001", ["a"], True, "dc", now)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE workflow_runs SET outcome = 'held', held_deactivations = 30 WHERE id = :id"),
                           {"id": run})
        connection.execute(text("UPDATE job_runs SET outcome = 'skipped' WHERE id = :id"), {"id": job})
        connection.execute(text("UPDATE licence_requests SET state = 'applied'"))
    assert workflow_runs.get_run(db, run).outcome is WorkflowOutcome.HELD
    assert workflow_runs.mark_released(db, run, now).released_at is not None  # M-11: a held run is released
    assert job_runs.get_run(db, job).outcome is JobOutcome.SKIPPED
    assert licence_requests.latest(db, "6612001")["a"].state is ChangeState.APPLIED
    for table, column in (("workflow_runs", "outcome"), ("job_runs", "outcome"), ("licence_requests", "state")):
        # SQLite says "CHECK constraint failed", PostgreSQL "violates check constraint".
        with pytest.raises(IntegrityError, match=r"(?i)check constraint"), db.engine.begin() as connection:
            # The names are the literals of the loop above, never input: nothing to inject.
            connection.execute(text(f"UPDATE {table} SET {column} = 'dry-run'"))  # noqa: S608 - literal names
