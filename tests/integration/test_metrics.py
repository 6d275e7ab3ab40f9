"""Prometheus metrics as an LA's monitoring reads them (issue 17 point 5): a real `porth serve`
with two gunicorn workers sums both workers' sign-ins in one scrape, counts lock-outs, refuses a
scrape through a proxy; the operational database's gauges say what the jobs did and what waits,
and say so when the database is gone; the scheduler serves the Graph counters on its own port."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings, with_secrets
from connectors.graph.client import Step
from demo.fake_graph import FakeGraph, FakeTenantSettings
from directory.model import School, SchoolType
from entrypoints.runtime import build_runtime
from entrypoints.scheduler import serve_scheduler_metrics
from idp.metrics import OUTCOMES
from operational import job_runs, licence_requests, username_changes
from operational.metrics import OperationalCollector
from operational.statuses import JobOutcome
from tests.conftest import ROOT, free_port, porth_env, wait_until_answering
from tests.integration.conftest import SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD, porth  # noqa: F401 (fixture)
from tests.integration.test_graph_client import client_for, new_user
from tests.integration.test_operational_store import db  # noqa: F401 (fixture: SQLite and PostgreSQL)
from tests.saml_services import posted_form
from webui.app import create_app
from webui.metrics import scrape, scrape_registry

# -- reading a scrape ---------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, its labels): value} of a scrape in Prometheus' text format."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode("utf-8")


# -- a served Porth: two workers, an account to sign in as -----------------------------------------


class Served:
    def __init__(self, url: str, env: dict[str, str], var_dir, accounts: list):
        self.url, self.env, self.var_dir, self.accounts = url, env, var_dir, accounts

    def scrape(self) -> dict[tuple[str, frozenset], float]:
        status, text = get(self.url + "/metrics")
        assert status == 200, text
        return samples(text)

    def sign_in(self, username: str, password: str) -> tuple[int, str]:
        """A browser (cookies of its own) entering the portal: the redirect to the sign-in form, then its POST."""
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with opener.open(self.url + "/portal/", timeout=10) as page:
            form = page.read().decode("utf-8")
        fields = {name: html.unescape(re.search(rf'name="{name}" value="([^"]+)"', form).group(1))
                  for name in ("csrf_token", "pending")}
        body = urlencode({**fields, "username": username, "password": password}).encode()
        try:
            with opener.open(self.url + "/idp/sign-in", data=body, timeout=20) as answer:
                return answer.status, answer.read().decode("utf-8")
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read().decode("utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`porth serve --workers 2` on its private directory, locking a username at its third failure."""
    var_dir = tmp_path_factory.mktemp("metrics") / "var"
    port, ldap_port = free_port(), free_port()
    env = porth_env(var_dir, PORTH_LDAP__EMBEDDED_PORT=str(ldap_port), PORTH_LDAP__EMBEDDED_NO_SYNC="true",
                    PORTH_IDP__BASE_URL=f"http://127.0.0.1:{port}", PORTH_LOG_LEVEL="WARNING",
                    PORTH_IDP__FAILURES_BEFORE_DELAY="3", PORTH_IDP__FAILURES_BEFORE_LOCK="3")
    log = (var_dir.parent / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port),
                               "--workers", "2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/readyz", server)
        settings = with_secrets(load_settings(var_dir=var_dir, ldap={"embedded_port": ldap_port}))
        with build_runtime(settings) as runtime:
            runtime.store.add_school(School(SCHOOL, "Ysgol Brawf", SchoolType.PRIMARY, "661"))
            now = datetime.now(UTC)
            accounts = [runtime.store.add_account(staff(forename=f"Ann{n}", code=f"S{n:03d}", password=PASSWORD), now)
                        for n in range(7)]
        yield Served(f"http://127.0.0.1:{port}", env, var_dir, accounts)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
        log.close()


def per_worker_sign_ins(var_dir) -> dict[str, float]:
    """Each worker's own count of sign-in attempts, from its file in the multiprocess folder."""
    counts = {}
    for path in (var_dir / "run").glob("metrics-*/counter_*.db"):
        merged = MultiProcessCollector.merge([str(path)], accumulate=False)
        counts[path.name] = sum(s.value for family in merged if family.name == "porth_sign_ins" for s in family.samples
                                if s.name == "porth_sign_ins_total")
    return counts


def grew(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def sign_in_at_once(served: Served, attempts: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """Every attempt at the same moment, each from a browser of its own."""
    answers: list[tuple[int, str]] = []
    threads = [threading.Thread(target=lambda a=attempt: answers.append(served.sign_in(*a))) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_one_scrape_counts_every_workers_sign_ins_by_outcome(served):
    right, wrong = served.accounts[:4], served.accounts[4:6]
    attempts = ([(a.username, PASSWORD) for a in right] + [(a.username, "Wrong-Password-1") for a in wrong]
                + [("NobodyZ", "Wrong-Password-1")])
    # At once, as a school's morning is: a sync worker answers one at a time, so both take some. A
    # second round only if one worker happened to answer them all (the wrong passwords stay under
    # this server's lock at three).
    for _round in range(2):
        before = served.scrape()
        answers = sign_in_at_once(served, attempts)
        assert sorted(status for status, _page in answers) == [200] * len(attempts)
        assert sum('name="SAMLResponse"' in page for _status, page in answers) == len(right)
        after = served.scrape()
        assert grew(before, after, "porth_sign_ins_total", method="password", outcome="signed_in") == 4
        assert grew(before, after, "porth_sign_ins_total", method="password", outcome="wrong_password") == 2
        assert grew(before, after, "porth_sign_ins_total", method="password", outcome="unknown_username") == 1
        assert grew(before, after, "porth_sign_in_duration_seconds_count", method="password",
                    outcome="signed_in") == 4
        assert grew(before, after, "porth_http_request_duration_seconds_count", group="idp",
                    status="200") == 2 * len(attempts)  # the form's page and its POST
        shares = [count for count in per_worker_sign_ins(served.var_dir).values() if count]
        if len(shares) == 2:
            break
    # The scrape's count is the sum of both workers' own.
    assert len(shares) == 2
    assert sum(shares) == sum(value(after, "porth_sign_ins_total", method=method, outcome=outcome)
                              for method, outcomes in OUTCOMES.items() for outcome in outcomes)


def test_the_failure_that_locks_a_username_is_counted_once_and_the_lock_shows(served):
    """S-3 with the lock at the third failure (this server's settings)."""
    target = served.accounts[6]  # failed nowhere else
    before = served.scrape()
    statuses = [served.sign_in(target.username, f"Wrong-Password-{n}")[0] for n in range(3)]
    refused_status, refused = served.sign_in(target.username, PASSWORD)  # locked: even the right one waits
    assert statuses == [200, 200, 200] and refused_status == 429 and "Too many attempts" in refused
    after = served.scrape()
    assert grew(before, after, "porth_sign_in_lockouts_total", kind="username") == 1
    assert grew(before, after, "porth_sign_in_lockouts_total", kind="address") == 0
    assert grew(before, after, "porth_sign_ins_total", method="password", outcome="wrong_password") == 3
    assert grew(before, after, "porth_sign_ins_total", method="password", outcome="locked") == 1
    assert grew(before, after, "porth_sign_in_locks") == 1  # read from the database


def test_a_scrape_through_a_proxy_is_not_found(served):
    for header in ({"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"}, {"X-Real-IP": "127.0.0.1"}):
        status, page = get(served.url + "/metrics", header)
        assert status == 404 and "porth_" not in page
    assert get(served.url + "/metrics")[0] == 200


def test_the_scheduler_serves_its_own_metrics_port(served):
    port = free_port()
    env = {**served.env, "PORTH_METRICS__SCHEDULER_PORT": str(port)}
    scheduler = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "scheduler"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/metrics", scheduler)
        status, text = get(f"http://127.0.0.1:{port}/metrics")
        scraped = samples(text)
        assert status == 200 and ("porth_graph_throttled_total", frozenset()) in scraped
        assert any(name == "process_cpu_seconds_total" for name, _labels in scraped)  # the scheduler's own process
        assert get(f"http://127.0.0.1:{port}/metrics", {"X-Forwarded-For": "127.0.0.1"})[0] == 404
        assert get(f"http://127.0.0.1:{port}/")[0] == 404
    finally:
        os.killpg(scheduler.pid, signal.SIGTERM)
        output = scheduler.communicate(timeout=30)[0]
    assert f"Metrics for Prometheus at http://127.0.0.1:{port}/metrics" in output


# -- in one process: the Graph counters, the access rule, the database's gauges ---------------------


def test_graph_requests_and_throttling_are_counted_where_the_scheduler_serves_them(tmp_path):
    settings = load_settings(var_dir=tmp_path / "var", metrics={"scheduler_port": free_port()})
    server = serve_scheduler_metrics(settings)
    url = f"http://127.0.0.1:{settings.metrics.scheduler_port}/metrics"
    try:
        before = samples(get(url)[1])
        with FakeGraph(FakeTenantSettings(replication_lag_seconds=0)) as fake, client_for(fake) as graph:
            fake.refuse_next_batches(429, count=1, retry_after="0")
            answers = graph.batch([Step("1", "POST", "/users", new_user(1))])  # refused whole, then sent again
            assert answers["1"].status == 201
        after = samples(get(url)[1])
    finally:
        server.shutdown()
        server.server_close()
    assert grew(before, after, "porth_graph_throttled_total") == 1
    assert grew(before, after, "porth_graph_requests_total", status="429") == 1
    assert grew(before, after, "porth_graph_requests_total", status="200") == 1  # the batch sent again


def _app(tmp_path, slapd, **metrics):
    from tests.integration.conftest import BASE_DN, ROOT_DN

    settings = with_secrets(load_settings(
        var_dir=tmp_path / "var", database={"url": f"sqlite:///{tmp_path}/operational.sqlite3"},
        ldap={"url": slapd.url, "base_dn": BASE_DN, "bind_dn": ROOT_DN, "bind_password": slapd.root_password},
        idp={"base_url": "http://localhost", "services_dir": tmp_path / "services"}, metrics=metrics))
    (tmp_path / "services").mkdir(exist_ok=True)
    runtime = build_runtime(settings)
    runtime.db.migrate()
    return create_app(runtime), runtime


def test_by_default_only_this_machine_may_scrape(tmp_path, slapd, store):
    app, runtime = _app(tmp_path, slapd)
    try:
        client = app.test_client()
        for address, status in (("127.0.0.1", 200), ("::1", 200), ("192.0.2.10", 404), ("10.1.2.3", 404)):
            answer = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
            assert answer.status_code == status, address
            assert ("porth_database_up 1.0" in answer.get_data(as_text=True)) == (status == 200)
            assert "Set-Cookie" not in answer.headers  # a scrape every 30 s leaves no session behind
    finally:
        app.extensions["porth.idp"].close()
        runtime.close()


def test_metrics_switched_off_are_not_found(tmp_path, slapd, store):
    app, runtime = _app(tmp_path, slapd, enabled=False)
    try:
        assert app.test_client().get("/metrics").status_code == 404
    finally:
        app.extensions["porth.idp"].close()
        runtime.close()


def _gauges(db, now) -> dict[tuple[str, frozenset], float]:
    return samples(scrape(scrape_registry(OperationalCollector(db, timedelta(minutes=15), clock=lambda: now),
                                          None))[0].decode())


def _run(db, job, outcome, started, minutes=1):
    job_runs.take_lock(db, job, "test", started, timedelta(minutes=2))
    run = job_runs.start_run(db, job, started, "schedule", "test")
    job_runs.finish_run(db, run, outcome, started + timedelta(minutes=minutes), {}, [])
    job_runs.release_lock(db, job, "test")


def test_the_database_gauges_say_what_the_jobs_did_and_what_waits(db, now):
    _run(db, "non-mis-expiry", JobOutcome.SUCCEEDED, now - timedelta(days=3))  # outside the last day
    _run(db, "non-mis-expiry", JobOutcome.SUCCEEDED, now - timedelta(hours=2))
    _run(db, "non-mis-expiry", JobOutcome.FAILED, now - timedelta(hours=1))
    _run(db, "deletions", JobOutcome.HELD, now - timedelta(hours=3))
    # A licence allocated then revoked before the sync ran: one change waits, not two.
    licence_requests.request(db, SCHOOL, ["a1"], True, "champion", now - timedelta(minutes=50))
    licence_requests.request(db, SCHOOL, ["a1"], False, "champion", now - timedelta(minutes=40))
    licence_requests.request(db, SCHOOL, ["a2"], True, "champion", now - timedelta(minutes=30))
    username_changes.request_change(db, "a3", "champion", now - timedelta(minutes=4))

    gauges = _gauges(db, now)
    assert value(gauges, "porth_database_up") == 1
    assert value(gauges, "porth_job_runs_last_day", job="non-mis-expiry", outcome="succeeded") == 1
    assert value(gauges, "porth_job_runs_last_day", job="non-mis-expiry", outcome="failed") == 1
    assert value(gauges, "porth_job_last_outcome", job="non-mis-expiry", outcome="failed") == 1
    assert value(gauges, "porth_job_last_outcome", job="non-mis-expiry", outcome="succeeded") == 0
    assert value(gauges, "porth_job_last_outcome", job="deletions", outcome="held") == 1
    assert value(gauges, "porth_job_last_success_timestamp_seconds", job="non-mis-expiry") == (
        now - timedelta(hours=2) + timedelta(minutes=1)).timestamp()
    assert ("porth_job_last_success_timestamp_seconds", frozenset({("job", "deletions")})) not in gauges
    assert value(gauges, "porth_queue_pending", queue="licence_requests") == 2
    assert value(gauges, "porth_queue_oldest_pending_timestamp_seconds", queue="licence_requests") == (
        now - timedelta(minutes=40)).timestamp()
    assert value(gauges, "porth_queue_pending", queue="username_changes") == 1
    assert value(gauges, "porth_queue_pending", queue="cloud_accounts") == 0


def test_with_the_database_gone_a_scrape_still_answers_and_says_so(tmp_path, slapd, store, caplog):
    app, runtime = _app(tmp_path, slapd)
    try:
        client = app.test_client()
        assert "porth_database_up 1.0" in client.get("/metrics").get_data(as_text=True)
        runtime.db.engine.dispose()
        (tmp_path / "operational.sqlite3").unlink()  # what a lost volume looks like to SQLite: an empty file
        (tmp_path / "operational.sqlite3").write_bytes(b"not a database" * 100)
        answer = client.get("/metrics")
        text = answer.get_data(as_text=True)
        assert answer.status_code == 200 and "porth_database_up 0.0" in text
        assert "porth_http_request_duration_seconds_count" in text  # the node's own metrics are still read
        assert "porth_job_runs_last_day" not in text
        assert any("the operational database did not answer" in r.getMessage() for r in caplog.records)
    finally:
        app.extensions["porth.idp"].close()
        runtime.close()


def test_badge_sign_ins_are_counted_apart_from_passwords(porth, store, now):
    """Issue 18's badges: the LA sees how its youngest learners sign in, and refused badges."""
    from tests.integration.test_idp_badges import badges_on, print_badge, service, with_badge

    child = store.add_account(learner(year_group="1"), now)
    badges_on(porth)
    old, badge = print_badge(porth, child), print_badge(porth, child)  # a reprint: the old card signs no one in
    infants = service(porth)
    before = samples(porth.client.get("/metrics").get_data(as_text=True))
    refused, _request_id = with_badge(porth, infants, old.token)
    answer, _request_id = with_badge(porth, infants, badge.token)
    assert refused.status_code == 400 and posted_form(answer.get_data(as_text=True)) is not None
    after = samples(porth.client.get("/metrics").get_data(as_text=True))
    assert grew(before, after, "porth_sign_ins_total", method="badge", outcome="badge_refused") == 1
    assert grew(before, after, "porth_sign_ins_total", method="badge", outcome="signed_in") == 1
    assert grew(before, after, "porth_sign_ins_total", method="password", outcome="signed_in") == 0
