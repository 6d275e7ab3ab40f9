"""Logs an operator can read (issue 17 point 5): a request id in every line of a request and in
its response, failed sign-ins naming the account id and nothing typed, a handled database
reconnect as one WARNING line, and JSON lines on request."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from directory.slapd import PrivateSlapd
from operational.db import Database, KeptConnections
from tests.conftest import ROOT, free_port, porth_env, wait_until_answering
from tests.integration.conftest import BASE_DN, ROOT_DN, make_store, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.integration.test_operational_store import POSTGRES_ADMIN, _postgres_database
from webui import logs


@pytest.fixture
def json_lines():
    """What Porth's own handler writes (webui/logs.py), as JSON objects, one a line."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_sane_incoming_request_id_is_kept_and_any_other_replaced(portal):
    client = portal.client
    assert client.get("/livez", headers={"X-Request-ID": "lb-7f3a.01:2"}).headers["X-Request-ID"] == "lb-7f3a.01:2"
    for forged in ("two words", "x" * 200, 'id" forged="1', "id\tforged", "", "<script>"):
        given = client.get("/livez", headers={"X-Request-ID": forged}).headers["X-Request-ID"]
        assert given != forged and len(given) == 32 and int(given, 16) >= 0  # one made here
    first, second = (client.get("/livez").headers["X-Request-ID"] for _ in range(2))
    assert first != second  # one per request
    assert client.get("/no-such-page").headers["X-Request-ID"]  # error pages carry one too


def test_a_failed_sign_in_is_logged_with_the_account_id_and_the_request_id_only(portal, now, json_lines):
    account = portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    form_page = portal.open("/portal/")
    answer = portal.porth.submit(form_page, account.username, "Wrong-Password-93")
    assert "The username or password is not right" in answer.get_data(as_text=True)
    request_id = answer.headers["X-Request-ID"]
    unknown = portal.porth.submit(form_page, "Typed-In-Error-Zz9", "Wrong-Password-93")
    unknown_id = unknown.headers["X-Request-ID"]

    lines = json_lines()
    failures = [line for line in lines if line["message"].startswith("sign-in failed")]
    assert [line["message"].split(",")[0] for line in failures] == [
        f"sign-in failed: account {account.id}", "sign-in failed: account (no account matched)"]
    assert [line["request_id"] for line in failures] == [request_id, unknown_id]
    # Every line written while the failed sign-in was handled carries its id.
    assert all(line.get("request_id") for line in lines if line["logger"].startswith(("porth", "idp")))
    written = "\n".join(json.dumps(line) for line in lines)
    for secret in ("Wrong-Password-93", "Typed-In-Error-Zz9", account.username):
        assert secret not in written


def test_a_handled_database_reconnect_is_one_warning_not_a_traceback(caplog):
    import psycopg

    for url in _postgres_database():
        db = Database(url)
        db.migrate()
        kept = KeptConnections(db)
        try:
            kept.run(lambda cursor: cursor.execute("SELECT 1"))
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:  # the server restarts, say
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                              (url.rsplit("/", 1)[1],))
            caplog.clear()
            with caplog.at_level(logging.INFO):
                assert kept.run(lambda cursor: cursor.execute("SELECT 2").fetchone()) == (2,)  # handled
            assert [(r.levelname, r.name) for r in caplog.records if r.levelno >= logging.WARNING] == [
                ("WARNING", "porth.database")]
            [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert "dropped a connection" in warning.getMessage() and warning.exc_info is None
        finally:
            kept.close()
            db.dispose()


def test_json_format_gives_one_object_per_line_from_porth_and_gunicorn_alike(tmp_path):
    port = free_port()
    env = porth_env(tmp_path / "var", PORTH_LDAP__EMBEDDED_PORT=str(free_port()), PORTH_LDAP__EMBEDDED_NO_SYNC="true",
                    PORTH_IDP__BASE_URL=f"http://127.0.0.1:{port}", PORTH_LOG_FORMAT="json")
    log_file, error_file = tmp_path / "serve.out", tmp_path / "serve.err"
    with log_file.open("w") as log, error_file.open("w") as error_log:
        server = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port),
                                   "--workers", "1"], cwd=ROOT, env=env, stdout=log, stderr=error_log,
                                  text=True, start_new_session=True)
        try:
            wait_until_answering(f"http://127.0.0.1:{port}/livez", server)
            request_id = f"probe-{uuid.uuid4().hex[:8]}"
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/no-such-page",
                                                              headers={"X-Request-ID": request_id}), timeout=10)
            # gunicorn writes the access line after the answer has gone: wait for it, not a time.
            deadline = time.monotonic() + 15
            while request_id not in log_file.read_text() + error_file.read_text():
                assert time.monotonic() < deadline, "no access log line for the request within 15 s"
                time.sleep(0.05)
        finally:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(timeout=30)
    errors = [line for line in error_file.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in errors]  # every line of stderr an object: none is plain text
    # stdout has the access log, and the command's own messages for the person who started it.
    said = [line for line in log_file.read_text().splitlines() if line.strip()]
    entries += [json.loads(line) for line in said if line.startswith("{")]
    assert any(line.startswith("Directory: private slapd") for line in said)
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    [access] = [entry for entry in entries if entry.get("request_id") == request_id]
    assert access["logger"] == "gunicorn.access" and '"GET /no-such-page HTTP/1.1" 404' in access["message"]
    assert any(entry["logger"] == "gunicorn.error" for entry in entries)  # gunicorn's own lines too


def test_a_traceback_in_json_stays_inside_its_line():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord("porth.test", logging.ERROR, __file__, 1, "it failed", (), sys.exc_info())
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "it failed" and "ValueError: boom" in parsed["exception"]


def test_a_handled_directory_reconnect_is_one_warning_not_a_traceback(tmp_path, now, caplog):
    server = PrivateSlapd(root=tmp_path / "slapd", host="127.0.0.1", port=free_port(), suffix=BASE_DN,
                          root_dn=ROOT_DN, root_password="reconnect-secret", no_sync=True)
    server.start()
    try:
        store = make_store(server)
        store.initialise()
        created = store.add_account(staff(), now)
        server.stop()
        server.start()  # the pooled connection died with the old slapd
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert store.find_by_username(created.username).id == created.id  # handled: read on a new one
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [(r.levelname, r.name) for r in warnings] == [("WARNING", "directory.ldap.connections")]
        assert "reconnected and done on a fresh connection" in warnings[0].getMessage() and warnings[0].exc_info is None
        store.close()
    finally:
        server.stop()
