"""Liveness and readiness as a load balancer reads them (issue 17 point 4): a node is ready only
while the directory, the operational database and the signing key all work, and the answer names
the part that does not."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from directory.model import Role
from directory.slapd import PrivateSlapd
from idp.signing import generate_signing_pair, load_signing_key
from operational.db import CONNECT_TIMEOUT_SECONDS, Database
from tests.conftest import ROOT, free_port, porth_env
from tests.integration.conftest import BASE_DN, ROOT_DN, make_store, staff
from tests.integration.idp_fixtures import PASSWORD, make_porth
from tests.integration.portal_fixtures import PortalBrowser
from tests.integration.test_operational_store import POSTGRES_ADMIN, _postgres_database
from webui import health


@pytest.fixture
def own_slapd(tmp_path):
    """A slapd of this test's own: stopping it stops nobody else's directory."""
    server = PrivateSlapd(root=tmp_path / "slapd", host="127.0.0.1", port=free_port(), suffix=BASE_DN,
                          root_dn=ROOT_DN, root_password=secrets.token_urlsafe(16), no_sync=True)
    server.start()
    store = make_store(server)
    store.initialise()
    store.close()
    yield server
    server.stop()


@pytest.fixture
def postgres_url():
    yield from _postgres_database()


def _drop(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _porth(slapd, tmp_path, database_url):
    return make_porth(slapd, tmp_path, database_url=database_url)


def test_all_up_is_ready_and_names_every_part(own_slapd, tmp_path, postgres_url):
    made = _porth(own_slapd, tmp_path, postgres_url)
    try:
        for path in ("/readyz", "/healthz"):  # /healthz: readiness under the name `porth demo` polls
            answer = made.client.get(path)
            assert answer.status_code == 200
            assert answer.get_json() == {"status": "ok", "checks": {"directory": "ok", "database": "ok",
                                                                    "signing_key": "ok"}}
        assert made.client.get("/livez").get_json() == {"status": "ok"}
    finally:
        made.app.extensions["porth.idp"].close()
        made.runtime.close()


def test_database_gone_is_not_ready_and_says_database(own_slapd, tmp_path, postgres_url, caplog):
    made = _porth(own_slapd, tmp_path, postgres_url)
    try:
        assert made.client.get("/readyz").status_code == 200
        _drop(postgres_url)
        answer = made.client.get("/readyz")
        assert answer.status_code == 503
        body = answer.get_json()
        assert body["failing"] == ["database"] and body["checks"]["directory"] == "ok"
        assert made.client.get("/healthz").status_code == 503
        assert made.client.get("/livez").status_code == 200  # the process answers: no restart is due
        # The reason goes to the log, one WARNING line; the body, readable by anyone, carries none.
        assert any(r.levelname == "WARNING" and "database failing" in r.getMessage() for r in caplog.records)
        assert postgres_url.rsplit("/", 1)[1] not in answer.get_data(as_text=True)
    finally:
        made.app.extensions["porth.idp"].close()
        made.runtime.close()


def test_a_database_server_that_never_answers_fails_the_check_instead_of_hanging_it():
    """A PostgreSQL host that accepts the connection and then says nothing (a server hung, a
    firewall eating packets): the check fails within the connect timeout, while the load balancer
    is still asking, instead of waiting for as long as the operating system would."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever speaks PostgreSQL on it
    db = Database(f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/porth")
    outcome: list[BaseException | None] = []

    def check() -> None:
        try:
            health.check_database(db)
        except Exception as exc:  # noqa: BLE001 - what the readiness check would log
            outcome.append(exc)
        else:
            outcome.append(None)

    checking = threading.Thread(target=check, daemon=True)
    checking.start()
    checking.join(timeout=CONNECT_TIMEOUT_SECONDS * 3)
    try:
        assert outcome, f"the database check still waits {CONNECT_TIMEOUT_SECONDS * 3} s on a silent server"
        assert outcome[0] is not None and "timeout" in str(outcome[0]).lower()
    finally:
        silent.close()
        db.engine.dispose()


def test_directory_stopped_is_not_ready_and_says_directory(own_slapd, tmp_path):
    made = _porth(own_slapd, tmp_path, None)
    try:
        assert made.client.get("/readyz").status_code == 200
        own_slapd.stop()
        answer = made.client.get("/readyz")
        assert answer.status_code == 503
        assert answer.get_json() == {"status": "failing", "failing": ["directory"],
                                     "checks": {"directory": "failing", "database": "ok", "signing_key": "ok"}}
        assert own_slapd.root_password not in answer.get_data(as_text=True)
        own_slapd.start()
        # Ready again once it is back, with no restart of the web node: ldap3 retries an address it
        # found refusing after 5 s (its RESET_AVAILABILITY_TIMEOUT), so the answer may lag that long.
        deadline = time.monotonic() + 15
        while made.client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "still not ready 15 s after the directory came back"
            time.sleep(0.2)
    finally:
        made.app.extensions["porth.idp"].close()
        made.runtime.close()


def test_a_hung_directory_gets_a_503_within_two_timeouts_and_the_node_recovers_when_it_answers(own_slapd,
                                                                                              tmp_path):
    """A directory server that takes connections but answers nothing (stopped, overloaded): a page
    answers 503 after the reused connection's timeout and one fresh connection's (a connection a
    firewall forgot while idle is worth one retry), never after one timeout per question the page
    would ask (it took six: behind gunicorn's 30 s worker timeout, a killed worker, not a page)."""
    own_slapd_store = make_store(own_slapd)
    own_slapd_store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD,
                                      roles=frozenset({Role.DIGITAL_CHAMPION})), datetime.now(UTC))
    own_slapd_store.close()
    made = make_porth(own_slapd, tmp_path, ldap={"timeout_seconds": 1})
    try:
        portal = PortalBrowser(made)
        portal.sign_in("PriceN@hwbcymru.net")
        assert portal.client.get("/portal/profile").status_code == 200
        slapd_pid = int(own_slapd.pid_file.read_text())
        os.kill(slapd_pid, signal.SIGSTOP)
        try:
            for path, timeouts in (("/portal/profile", 2), ("/portal/profile", 1), ("/readyz", 1)):
                started = time.monotonic()
                answer = portal.client.get(path)
                waited = time.monotonic() - started
                assert answer.status_code == 503, path
                assert waited < timeouts + 1.5, f"{path} answered after {waited:.1f} s: more than {timeouts} timeouts"
                if path.startswith("/portal/"):
                    assert "the directory is not answering" in answer.get_data(as_text=True)
        finally:
            os.kill(slapd_pid, signal.SIGCONT)
        deadline = time.monotonic() + 15
        while portal.client.get("/portal/profile").status_code != 200:  # the same node, no restart
            assert time.monotonic() < deadline, "the portal still fails 15 s after the directory answers again"
            time.sleep(0.2)
    finally:
        made.app.extensions["porth.idp"].close()
        made.runtime.close()


def test_a_signing_key_whose_certificate_is_out_of_date_is_unusable(tmp_path):
    pair = tmp_path / "pair.pem"
    generate_signing_pair(pair, "https://idp.example")  # ten years from now
    key = load_signing_key(pair, pair)
    health.check_signing_key(key)  # signs, and its certificate verifies the signature
    with pytest.raises(health.SigningKeyUnusable, match="not now"):
        health.check_signing_key(key, now=datetime.now(UTC) + timedelta(days=3651))


def test_directory_run_exits_when_its_slapd_dies(tmp_path):
    """A container running `porth directory run` is restarted only if the command exits."""
    env = porth_env(tmp_path / "var", PORTH_LDAP__EMBEDDED_PORT=str(free_port()), PORTH_LDAP__EMBEDDED_NO_SYNC="true")
    process = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "directory", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        started = process.stdout.readline()  # blocks until the command says slapd runs (or exits)
        found = re.search(r"\(pid (\d+)\)", started)
        assert found, started + process.stderr.read()
        os.kill(int(found.group(1)), signal.SIGKILL)
        assert process.wait(timeout=10) == 1  # within seconds, not never
        assert process.stderr.read().strip().splitlines()[-1].endswith("exited; stopping so that it is restarted")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        PrivateSlapd(root=tmp_path / "var" / "slapd", host="127.0.0.1", port=0, suffix=BASE_DN,
                     root_dn=ROOT_DN, root_password="-").stop()  # should the test fail with slapd still up
