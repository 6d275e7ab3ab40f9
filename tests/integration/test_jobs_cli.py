"""`porth scheduler` and `porth jobs` as processes, on PostgreSQL (the production engine)
and a real slapd: two schedulers never run a job at once, every change is made once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from operational import job_runs, username_changes
from operational.db import Database
from tests.conftest import ROOT, run_porth
from tests.integration.conftest import BASE_DN, ROOT_DN, learner
from tests.integration.test_operational_store import _postgres_database


@pytest.fixture
def production(slapd, store, tmp_path):
    """The environment of a Porth on an existing directory and PostgreSQL, and that database."""
    for url in _postgres_database():
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTH_")}
        env.update(PORTH_VAR_DIR=str(tmp_path / "var"), PORTH_LDAP__URL=slapd.url, PORTH_LDAP__BASE_DN=BASE_DN,
                   PORTH_LDAP__BIND_DN=ROOT_DN, PORTH_LDAP__BIND_PASSWORD=slapd.root_password,
                   PORTH_DATABASE__URL=url)
        db = Database(url)
        db.migrate()
        yield env, db
        db.dispose()


def queue_renames(store, db, count: int) -> list[str]:
    now = datetime.now(UTC)
    ids = []
    for n in range(count):
        account = store.add_account(learner("Avery" + "abcdefghijklmnopqrstuvwxyz"[n], "Ann"), now)
        store.update_account(account.id, {"surname": "Bevan" + "abcdefghijklmnopqrstuvwxyz"[n]})
        username_changes.request_change(db, account.id, "PriceN", now)
        ids.append(account.id)
    return ids


def test_a_job_held_by_another_scheduler_is_skipped_then_runs(production, store):
    env, db = production
    [account_id] = queue_renames(store, db, 1)
    now = datetime.now(UTC)
    assert job_runs.take_lock(db, "username-changes", "other-host:4242", now, timedelta(minutes=30))
    skipped = run_porth(["jobs", "run", "username-changes"], env)
    assert skipped.returncode == 0, skipped.stderr
    assert "another scheduler is running it now; nothing done" in skipped.stdout
    assert store.get_account(account_id).username == "AveryaA"
    job_runs.release_lock(db, "username-changes", "other-host:4242")
    done = run_porth(["jobs", "run", "username-changes"], env)
    assert "username-changes: succeeded (changed 1; 0 errors)" in done.stdout, done.stdout + done.stderr
    assert store.get_account(account_id).username == "BevanaA"


def test_two_processes_running_the_same_job_make_each_change_once(production, store):
    env, db = production
    ids = queue_renames(store, db, 12)
    command = [sys.executable, "-m", "entrypoints.cli", "jobs", "run", "username-changes"]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    for account_id in ids:
        account = store.get_account(account_id)
        assert account.username.startswith("Bevan") and len(account.aliases) == 1, account  # renamed once
    changed = sum(run.counts.get("changed", 0) for run in job_runs.runs_of(db, "username-changes"))
    assert changed == 12


def test_the_scheduler_stores_its_jobs_and_jobs_list_shows_them(production, store):
    env, db = production
    scheduler = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "scheduler"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # readiness: the job store has the five jobs
            with db.engine.connect() as connection:
                if connection.exec_driver_sql("SELECT count(*) FROM apscheduler_jobs").scalar() == 5:
                    break
            assert scheduler.poll() is None, scheduler.stdout.read()
            time.sleep(0.2)
        else:
            raise TimeoutError("the scheduler did not store its jobs")
        listed = run_porth(["jobs", "list"], env)
        assert listed.returncode == 0, listed.stderr
        lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line.strip()}
        assert set(lines) >= {"username-changes", "non-mis-expiry", "inactivity", "deletions", "housekeeping"}
        assert "interval[0:05:00]" in lines["username-changes"] and "not scheduled" not in lines["username-changes"]
        ran = run_porth(["jobs", "run", "non-mis-expiry"], env)
        assert "non-mis-expiry: succeeded" in ran.stdout, ran.stdout + ran.stderr
        relisted = run_porth(["jobs", "list"], env).stdout
        assert "succeeded" in next(line for line in relisted.splitlines() if line.startswith("non-mis-expiry"))
    finally:
        stopping = time.monotonic()
        os.killpg(scheduler.pid, signal.SIGINT)
        try:
            output, _ = scheduler.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # never left running after the test, whatever failed
            os.killpg(scheduler.pid, signal.SIGKILL)
            scheduler.communicate()
            raise
        stopped_in = time.monotonic() - stopping
    assert scheduler.returncode == 0
    # Ctrl-C says it is stopping and does not wait for jobs still running (issue 16 point 9).
    assert "Scheduler stopping" in output and stopped_in < 5, (stopped_in, output)


def test_a_scheduler_stopping_ends_its_runs_and_frees_its_locks_at_once(production):
    """What a Ctrl-C'd scheduler leaves: its running runs end as failed, saying why, and the next
    scheduler takes its jobs at once, not when the 30-minute lease runs out."""
    _env, db = production
    now = datetime.now(UTC)
    lease = timedelta(minutes=30)
    run_id = job_runs.start_run(db, "graph-sync", now, "schedule", "host:1")
    assert job_runs.take_lock(db, "graph-sync", "host:1", now, lease)
    assert job_runs.take_lock(db, "m365-writer", "host:1 graph-sync", now, lease)  # a shared lock, held per job
    assert job_runs.take_lock(db, "username-changes", "host:12", now, lease)  # another process, not a prefix
    assert job_runs.abandon_runs_of(db, "host:1", now, "stopped with the scheduler") == 1
    run = job_runs.get_run(db, run_id)
    assert run.outcome == "failed" and run.ended_at is not None and run.note == "stopped with the scheduler"
    assert job_runs.take_lock(db, "graph-sync", "host:2", now, lease)
    assert job_runs.take_lock(db, "m365-writer", "host:2 graph-sync", now, lease)
    assert not job_runs.take_lock(db, "username-changes", "host:2", now, lease)


def test_an_unknown_job_is_one_clear_line(production):
    env, _db = production
    refused = run_porth(["jobs", "run", "tidy-up"], env)
    assert refused.returncode == 2 and "no job 'tidy-up'; the jobs are username-changes" in refused.stderr


def test_the_tenant_sync_runs_as_a_job_against_a_fake_graph(production, store):
    """Issue 6: with Graph configured, `porth jobs run graph-sync` brings the tenant in step."""
    from demo.fake_graph import STUDENT_SKU, FakeGraph
    from directory.model import Consent

    env, _db = production
    now = datetime.now(UTC)
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    with FakeGraph() as fake:
        graph_env = {**env, "PORTH_GRAPH__ENABLED": "true", "PORTH_GRAPH__TENANT_ID": fake.settings.tenant,
                     "PORTH_GRAPH__CLIENT_ID": fake.settings.client_id,
                     "PORTH_GRAPH__CLIENT_SECRET": fake.settings.client_secret,
                     "PORTH_GRAPH__AUTHORITY": fake.authority, "PORTH_GRAPH__AUTHORITY_SERVER": fake.url,
                     "PORTH_GRAPH__GRAPH_URL": fake.graph_url}
        ran = run_porth(["jobs", "run", "graph-sync"], graph_env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        # Issue 14: how many accounts reached the tenant and how many did not come first.
        assert "graph-sync: succeeded (applied 1, failed 0, considered 1, licensed 1, created 1" in ran.stdout
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        listed = run_porth(["jobs", "list"], graph_env).stdout
        assert "graph-sync" in listed and "consent-propagation" in listed and "graph-full-sync" in listed
        assert "applied 1, failed 0" in next(line for line in listed.splitlines() if line.startswith("graph-sync"))

        # A failure is a failure: one account the tenant refuses makes the run "partly failed", exit 1.
        from tests.integration.test_graph_sync import make_cloud_user

        classmate = store.add_account(learner("Bevan", consent=Consent.EXPLICIT), now)
        store.add_account(learner("Cadwgan", consent=Consent.EXPLICIT), now)
        make_cloud_user(fake, classmate.mail, onPremisesImmutableId="c29tZW9uZS1lbHNl")
        partly = run_porth(["jobs", "run", "graph-sync"], graph_env)
        assert partly.returncode == 1, partly.stdout + partly.stderr
        assert "graph-sync: partly failed (applied 1, failed 1" in partly.stdout
        assert "ImmutableIdConflict" in partly.stdout
        listed = run_porth(["jobs", "list"], graph_env).stdout
        assert "partly failed" in next(line for line in listed.splitlines() if line.startswith("graph-sync"))
    incomplete = run_porth(["jobs", "list"], {**env, "PORTH_GRAPH__ENABLED": "true"})
    assert incomplete.returncode == 2
    assert "graph.enabled needs tenant_id, client_id, client_secret" in incomplete.stderr
