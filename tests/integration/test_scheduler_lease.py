"""A scheduler killed mid-job (issue 17 point 4): its lease, renewed by a heartbeat while the job
ran, runs out one lease after its last beat, another scheduler then takes the job, and the dead
run is marked failed instead of "running" for ever.

The lease is a setting (PORTH_JOBS__LEASE_SECONDS, at most 120 s); here it is shortened to 2 s so
that nothing waits out two minutes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from config.settings import load_settings
from jobs.framework import JobContext, JobResult, run_job
from operational import job_runs
from operational.db import Database
from operational.statuses import JobOutcome
from operational.tables import JobLock
from tests.conftest import ROOT

LEASE = timedelta(seconds=2)

# A scheduler process running one job that never ends (a directory read that hangs, say).
HANGING_SCHEDULER = textwrap.dedent("""
    import sys, threading
    from datetime import UTC, datetime, timedelta
    from jobs.framework import JobContext, JobResult, run_job
    from operational.db import Database

    def hangs(context):
        print("job started", flush=True)
        threading.Event().wait()
        return JobResult()

    run_job("username-changes", hangs, JobContext(store=None, db=Database(sys.argv[1]), now=datetime.now(UTC)),
            lease=timedelta(seconds=float(sys.argv[2])), clock=lambda: datetime.now(UTC))
""")


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


def _lock_expiry(db: Database, job: str) -> datetime | None:
    with db.session() as session:
        lock = session.get(JobLock, job)
        return lock.expires_at if lock else None


def _until(condition, timeout: float, what: str):
    """Poll until condition() is truthy (bounded, not a sleep); return its value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return value


def test_a_killed_scheduler_frees_its_job_one_lease_after_its_last_heartbeat_and_its_run_is_failed(db):
    scheduler = subprocess.Popen([sys.executable, "-c", HANGING_SCHEDULER, db.url, str(LEASE.total_seconds())],
                                 cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        assert scheduler.stdout.readline().strip() == "job started", scheduler.stderr.read()
        first_expiry = _lock_expiry(db, "username-changes")
        # The heartbeat renews the lease while the job runs: past its first expiry it is still held,
        # so a second scheduler skips the job rather than running it twice.
        _until(lambda: datetime.now(UTC) > first_expiry + LEASE / 2, 10, "the clock did not pass the first lease")
        assert _lock_expiry(db, "username-changes") > first_expiry
        assert run_job("username-changes", lambda _c: JobResult(), JobContext(store=None, db=db,
                       now=datetime.now(UTC)), lease=LEASE, clock=lambda: datetime.now(UTC)) is None
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(timeout=10)
        killed_at = time.monotonic()
        [dead] = job_runs.runs_of(db, "username-changes")
        assert dead.outcome is JobOutcome.RUNNING  # as it was left: nobody said it ended

        def another_scheduler_runs_it():
            return run_job("username-changes", lambda _c: JobResult(counts={"changed": 1}),
                           JobContext(store=None, db=db, now=datetime.now(UTC)), lease=LEASE,
                           clock=lambda: datetime.now(UTC))

        ran = _until(another_scheduler_runs_it, 10, "the dead scheduler's lease never ran out")
        assert time.monotonic() - killed_at <= LEASE.total_seconds() + 2  # one lease after its last beat at most
        assert ran.outcome is JobOutcome.SUCCEEDED and ran.counts == {"changed": 1}
        failed = next(run for run in job_runs.runs_of(db, "username-changes") if run.id == dead.id)
        assert failed.outcome is JobOutcome.FAILED and failed.note == "the scheduler stopped while it ran"
        assert failed.ended_at is not None
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait()


def test_a_running_run_whose_holder_still_holds_its_lease_is_not_failed(db):
    now = datetime.now(UTC)
    assert job_runs.take_lock(db, "inactivity", "host-a:1", now, LEASE)
    run_id = job_runs.start_run(db, "inactivity", now, "schedule", "host-a:1")
    assert job_runs.fail_dead_runs(db, now + LEASE / 2) == []  # within its lease: alive
    assert job_runs.renew_lock(db, "inactivity", "host-a:1", now + LEASE / 2, LEASE)  # a heartbeat
    assert job_runs.fail_dead_runs(db, now + LEASE) == []  # past the first lease, but renewed
    [dead] = job_runs.fail_dead_runs(db, now + LEASE * 2)  # no beat for a whole lease
    assert dead.id == run_id and dead.outcome is JobOutcome.FAILED


def test_the_lease_is_two_minutes_at_most_and_a_setting():
    assert load_settings().jobs.lease_seconds == 120
    assert load_settings(jobs={"lease_seconds": 5}).jobs.lease_seconds == 5
    with pytest.raises(Exception, match="PORTH_JOBS__LEASE_SECONDS"):
        load_settings(jobs={"lease_seconds": 1800})


def test_a_job_waiting_for_a_shared_lock_keeps_its_own_beyond_one_lease(db):
    """A Microsoft 365 job waits up to 20 minutes for the tenant's one writer (issue 14): its own
    lock, a 2-minute lease, must not run out meanwhile, or a second scheduler would start it too."""
    from jobs.framework import SharedWriter

    lease = LEASE
    assert job_runs.take_lock(db, "m365-writer", "other-host:7 graph-full-sync", datetime.now(UTC),
                              timedelta(hours=1))
    results: list = []
    waiting = threading.Thread(target=lambda: results.append(run_job(
        "graph-sync", SharedWriter("m365-writer", lambda _c: JobResult(counts={"synced": 1})),
        JobContext(store=None, db=db, now=datetime.now(UTC)), lease=lease, clock=lambda: datetime.now(UTC),
        sleep=lambda _seconds: time.sleep(0.05))))
    waiting.start()
    try:
        first_expiry = _until(lambda: _lock_expiry(db, "graph-sync"), 10, "the job never took its lock")
        _until(lambda: datetime.now(UTC) > first_expiry + lease, 10, "the clock did not pass the first lease")
        assert not job_runs.take_lock(db, "graph-sync", "other-host:7", datetime.now(UTC), lease)  # still its own
    finally:
        job_runs.release_lock(db, "m365-writer", "other-host:7 graph-full-sync")
        waiting.join(timeout=20)
    assert results[0].outcome is JobOutcome.SUCCEEDED and results[0].counts == {"synced": 1}
