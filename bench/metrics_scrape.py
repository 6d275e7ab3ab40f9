"""How long a scrape of /metrics spends in the operational database, at a national size.

    .venv/bin/python bench/metrics_scrape.py [--schools 1470] [--days 90] [--scrapes 30]
    .venv/bin/python bench/metrics_scrape.py --postgres [ADMIN_URL]

Fills a scratch operational database (SQLite, Porth's default, or a scratch PostgreSQL database,
dropped afterwards) with what a year of a national Porth leaves behind: every job's runs (the
username changes every 5 minutes, the Graph sync every 15...), `--days` of nightly workflow runs
for every school, a cloud account per learner and member of staff, licence and username requests,
and the sign-in failure rows of every mistyped username. Then it times (a) one raw indexed query
(the pending cloud accounts, the cheapest question a gauge asks: the limit), (b) a whole scrape of
the operational gauges (operational/metrics.py, what each web node does per scrape) and each of
its parts, (c) what a naive gauge would cost: a count of the workflow runs table; and (d) what
counting and timing one sign-in costs a web worker, in multiprocess mode. Not a test: figures go
in bench/README.md.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import generate_latest
from sqlalchemy import insert, text

from operational import metrics
from operational.db import Database
from operational.metrics import OperationalCollector
from operational.statuses import ChangeState, JobOutcome, WorkflowOutcome
from operational.tables import (
    WORKFLOWS,
    CloudAccount,
    JobLock,
    JobRun,
    LicenceRequest,
    SignInFailures,
    UsernameChange,
    WorkflowRun,
)
from webui.metrics import scrape_registry

# Each job and how often it runs (the scheduler's defaults, with the Graph jobs on).
JOB_EVERY_MINUTES = {"username-changes": 5, "graph-sync": 15, "consent-propagation": 60, "non-mis-expiry": 1440,
                     "inactivity": 1440, "deletions": 1440, "graph-full-sync": 1440}
ACCOUNTS_PER_SCHOOL = 350  # Wales: ~510,000 accounts over ~1,470 schools
CHUNK = 5000


def _insert(db: Database, table, rows) -> int:
    count = 0
    batch: list[dict] = []
    with db.engine.begin() as connection:
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK:
                connection.execute(insert(table), batch)
                count += len(batch)
                batch = []
        if batch:
            connection.execute(insert(table), batch)
            count += len(batch)
    return count


def fill(db: Database, schools: int, days: int, now: datetime, rng: random.Random) -> dict[str, int]:
    year = timedelta(days=365)
    sizes = {}
    sizes["job_locks"] = _insert(db, JobLock, ({"job": job} for job in JOB_EVERY_MINUTES))

    def job_runs():
        for job, every in JOB_EVERY_MINUTES.items():
            at = now - year
            while at < now:
                outcome = JobOutcome.FAILED if rng.random() < 0.01 else JobOutcome.SUCCEEDED
                yield {"job": job, "started_at": at, "ended_at": at + timedelta(seconds=20), "outcome": outcome.value,
                       "trigger": "schedule", "holder": "bench", "error_count": 0}
                at += timedelta(minutes=every)

    sizes["job_runs"] = _insert(db, JobRun, job_runs())

    def workflow_runs():
        for day in range(days, 0, -1):
            night = (now - timedelta(days=day)).replace(hour=1, minute=0, second=0, microsecond=0)
            for school in range(schools):
                for workflow in WORKFLOWS:
                    failed = rng.random() < 0.005
                    yield {"school": f"{6600000 + school}", "workflow": workflow, "started_at": night,
                           "ended_at": night + timedelta(seconds=30), "dry_run": False,
                           "outcome": (WorkflowOutcome.FAILED if failed else WorkflowOutcome.SUCCEEDED).value,
                           "created": 0, "updated": rng.randrange(5), "moved": 0, "deactivated": 0,
                           "error_count": rng.randrange(3) if workflow == "learners" else 0}

    sizes["workflow_runs"] = _insert(db, WorkflowRun, workflow_runs())
    accounts = schools * ACCOUNTS_PER_SCHOOL

    def cloud_accounts():
        for n in range(accounts):
            roll = rng.random()
            state = (ChangeState.PENDING if roll < 0.0005 else ChangeState.FAILED if roll < 0.0006
                     else ChangeState.APPLIED)
            yield {"account_id": f"acct-{n:07d}", "cloud_id": secrets.token_hex(8), "state": state.value,
                   "updated_at": now - timedelta(minutes=rng.randrange(60 * 24 * 30)), "error_permanent": False}

    sizes["cloud_accounts"] = _insert(db, CloudAccount, cloud_accounts())

    def licence_requests():
        for n in range(accounts // 20):
            pending = rng.random() < 0.003
            yield {"account_id": f"acct-{rng.randrange(accounts):07d}", "school": f"{6600000 + n % schools}",
                   "wanted": True, "requested_by": "bench", "requested_at": now - timedelta(minutes=rng.randrange(
                       60 if pending else 525_600)),
                   "state": (ChangeState.PENDING if pending else ChangeState.APPLIED).value}

    sizes["licence_requests"] = _insert(db, LicenceRequest, licence_requests())

    def username_changes():
        for n in range(accounts // 25):
            pending = n % 4000 == 0
            yield {"account_id": f"acct-{n:07d}", "requested_by": "bench",
                   "requested_at": now - timedelta(minutes=rng.randrange(5 if pending else 525_600)),
                   "state": (ChangeState.PENDING if pending else ChangeState.APPLIED).value}

    sizes["username_changes"] = _insert(db, UsernameChange, username_changes())

    def failures():
        for n in range(accounts // 2):  # every username ever mistyped, and the schools' addresses
            last = now - timedelta(seconds=rng.randrange(365 * 24 * 3600))
            locked = n % 10_000 == 0
            if locked:
                last = now - timedelta(minutes=rng.randrange(1, 14))
            yield {"key": secrets.token_hex(32), "failures": 10 if locked else rng.randrange(1, 4),
                   "last_failure_at": last, "locked_until": last + timedelta(minutes=15) if locked else None}

    sizes["sign_in_failures"] = _insert(db, SignInFailures, failures())
    return sizes


def median_ms(work, times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent) * 1000


HOT_PATH = """
import time
from idp import metrics
from webui.metrics import http_seconds
def one_sign_in():  # what a sign-in adds: the form's GET and the POST timed, the attempt counted and timed
    http_seconds.labels("idp", "200").observe(0.004)
    metrics.sign_ins.labels(metrics.SIGNED_IN).inc()
    metrics.sign_in_seconds.labels(metrics.SIGNED_IN).observe(0.03)
    http_seconds.labels("idp", "200").observe(0.03)
for _ in range(1000):
    one_sign_in()
count = 20000
started = time.process_time()
for _ in range(count):
    one_sign_in()
print((time.process_time() - started) / count * 1e6)
"""


def hot_path_microseconds(folder: Path) -> float:
    """CPU a sign-in's metrics cost a gunicorn worker: measured in a process of its own, in
    multiprocess mode (each value written to its mmap file), as under `porth serve`."""
    import os
    import subprocess

    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", HOT_PATH], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=1470)
    parser.add_argument("--days", type=int, default=90, help="nights of workflow runs kept")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--postgres", metavar="ADMIN_URL", nargs="?", const="postgresql://postgres@127.0.0.1:5432/test",
                        help="a scratch database on this PostgreSQL server, dropped afterwards (default: SQLite)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="porth-metrics-bench-") as scratch:
        scratch_name = None
        if args.postgres:
            import psycopg

            scratch_name = f"porth_bench_{secrets.token_hex(6)}"
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{scratch_name}"')
            url = "postgresql+psycopg://" + args.postgres.split("://", 1)[1].rsplit("/", 1)[0] + f"/{scratch_name}"
        else:
            url = f"sqlite:///{scratch}/porth.sqlite3"
        db = Database(url)
        try:
            db.migrate()
            started = time.perf_counter()
            sizes = fill(db, args.schools, args.days, now, rng)
            if db.engine.dialect.name == "postgresql":
                with db.engine.connect() as connection:
                    connection.execute(text("ANALYZE"))
                    connection.commit()
            print(f"filled in {time.perf_counter() - started:.0f} s: "
                  + ", ".join(f"{table} {count:,}" for table, count in sizes.items()), flush=True)
            report(db, now, args.scrapes)
            spent = hot_path_microseconds(Path(scratch) / "multiprocess")
            print(f"(d) a sign-in's metrics in a worker (multiprocess mode): {spent:.1f} us of CPU "
                  f"({spent / 10_000:.2%} of the ~10 ms a sign-in costs porth serve, bench/login.py)")
        finally:
            db.dispose()
            if scratch_name:
                import psycopg

                with psycopg.connect(args.postgres, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')


def report(db: Database, now: datetime, scrapes: int) -> None:
    collector = OperationalCollector(db, timedelta(minutes=15), clock=lambda: now)
    registry = scrape_registry(collector, None)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()

        def raw_query() -> None:
            cursor.execute("SELECT count(*) FROM cloud_accounts WHERE state = 'pending'")
            cursor.fetchall()

        def naive() -> None:
            cursor.execute("SELECT count(*) FROM workflow_runs")
            cursor.fetchall()

        limit = median_ms(raw_query, scrapes)
        whole = median_ms(lambda: generate_latest(registry), scrapes)
        naive_ms = median_ms(naive, max(3, scrapes // 5))
    finally:
        raw.close()
    lines = generate_latest(registry).decode().count("\n")
    print(f"{db.engine.dialect.name}, medians of {scrapes} scrapes:")
    print(f"(a) one raw indexed query (pending cloud accounts): {limit:8.2f} ms")
    print(f"(b) a whole scrape of the operational gauges:     {whole:8.2f} ms   "
          f"({lines} lines; {whole / limit:.0f} x (a))")
    with db.engine.connect() as connection:
        parts = {
            "jobs (7 jobs x 3 queries)": lambda: list(metrics._jobs(connection, now)),
            "queues (3 queues + failed accounts)": lambda: list(metrics._queues(connection)),
            "sign-in locks": lambda: metrics._sign_in_locks(connection, now, timedelta(minutes=15)),
            "provisioning runs of the last day": lambda: list(metrics._provisioning(connection, now)),
        }
        for name, part in parts.items():
            print(f"      {name:36} {median_ms(part, scrapes):8.2f} ms")
    print(f"(c) a naive gauge, count(*) of workflow_runs:     {naive_ms:8.2f} ms")


if __name__ == "__main__":
    main()
