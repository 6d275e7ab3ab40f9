"""The private slapd's life cycle and the one-line errors an operator sees."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from directory import errors
from directory.rules.vault import PasswordVault
from directory.slapd import PrivateSlapd, process_alive
from directory.store import DirectoryConfig, DirectoryStore
from tests.conftest import free_port
from tests.integration.conftest import BASE_DN, ROOT_DN, SCHOOL, learner, make_store

ROOT = Path(__file__).parents[2]


def _store_at(url: str, password: str = "x") -> DirectoryStore:
    return DirectoryStore(
        DirectoryConfig(url=url, base_dn=BASE_DN, bind_dn=ROOT_DN, bind_password=password,
                        mail_domain="hwbcymru.net", timeout_seconds=2),
        PasswordVault(PasswordVault.new_key()),
    )


def test_data_survives_a_restart(tmp_path, now):
    server = PrivateSlapd(root=tmp_path / "s", host="127.0.0.1", port=free_port(), suffix=BASE_DN,
                          root_dn=ROOT_DN, root_password="restart-secret", no_sync=False)
    assert server.start() is True
    assert server.start() is False  # already running: reused, not started twice
    assert server.add_missing_schema() == [] and server.add_missing_config() == []  # a new instance: up to date
    try:
        store = make_store(server)
        store.initialise()
        created = store.add_account(learner(school=SCHOOL), now)
        assert server.stop() is True and not server.is_running
        server.start()
        # The pooled connection died with the old process: a read is retried
        # once on a fresh connection, so a restart is invisible to callers.
        assert store.find_by_username("BloggsJ").id == created.id
        store.close()
    finally:
        server.stop()
    assert server.stop() is False


# A process whose first thread has ended while another still runs: what a killed slapd is for a
# moment while the kernel tears its threads down, its sockets still open. (The second thread
# sleeps; the first ends through pthread_exit, which Python never calls itself.)
_FIRST_THREAD_ENDS = """
import ctypes, threading, time
threading.Thread(target=time.sleep, args=(60,)).start()
ctypes.CDLL(None).pthread_exit(None)
"""


def _first_thread_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_process_counts_as_running_while_any_of_its_threads_runs():
    child = subprocess.Popen([sys.executable, "-c", _FIRST_THREAD_ENDS])
    try:
        deadline = time.monotonic() + 10
        while _first_thread_state(child.pid) != "Z":
            assert time.monotonic() < deadline, "the child's first thread never ended"
            time.sleep(0.01)
        assert process_alive(child.pid), "a process with a live thread was taken for dead"
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)


def test_a_killed_slapd_can_be_started_again_at_once_on_its_port(tmp_path):
    server = PrivateSlapd(root=tmp_path / "s", host="127.0.0.1", port=free_port(), suffix=BASE_DN,
                          root_dn=ROOT_DN, root_password="restart-secret", no_sync=True)
    server.start()
    try:
        for _ in range(5):  # its threads' teardown races the check: a few rounds to meet the race
            pid = server.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            assert server.wait_released(pid), "the killed slapd's port still accepts connections"
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", server.port)) != 0, "a dead slapd's port accepted a connection"
            assert server.start() is True
    finally:
        server.stop()


def test_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = PrivateSlapd(root=tmp_path / "s", host="127.0.0.1", port=port, suffix=BASE_DN,
                              root_dn=ROOT_DN, root_password="pw")
        with pytest.raises(errors.SlapdError) as error:
            server.start()
    assert f"127.0.0.1:{port} is already in use" in str(error.value)
    assert "PORTH_LDAP__EMBEDDED_PORT" in str(error.value)


def test_slapd_counts_as_started_only_once_its_ldapi_socket_listens_too(tmp_path):
    # slapd binds every URL before it forks and listens on each in turn afterwards; CI once
    # caught the TCP port answering while the ldapi socket still refused the schema upgrade.
    tmp_path.mkdir(exist_ok=True)
    with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as unix_socket:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        server = PrivateSlapd(root=tmp_path, host="127.0.0.1", port=tcp.getsockname()[1], suffix=BASE_DN,
                              root_dn=ROOT_DN, root_password="pw")
        unix_socket.bind(str(server.socket_path))  # bound, not listening yet: as slapd just after its fork
        assert not server._answers()
        unix_socket.listen()
        assert server._answers()


def test_unreachable_directory_is_one_line(now):
    store = _store_at(f"ldap://127.0.0.1:{free_port()}")
    with pytest.raises(errors.DirectoryUnavailable) as error:
        store.check()
    assert "cannot reach the directory at ldap://127.0.0.1:" in str(error.value)
    assert "\n" not in str(error.value)


# What a web server answers to bytes it cannot read as HTTP (an LDAP bind request, say).
_WEB_SERVER_ANSWER = (b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nDate: Mon, 07 Dec 2026 14:25:05 GMT\r\n"
                      b"Content-Type: text/html\r\nContent-Length: 55\r\nConnection: close\r\n\r\n"
                      b"<html><head><title>400 Bad Request</title></head></html>")


@contextmanager
def _web_server_port() -> Iterator[int]:
    """A port where something that is not a directory answers (a web server: the URL's port mistyped)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                with suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(_WEB_SERVER_ANSWER)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_url_where_something_else_answers_is_one_line():
    with _web_server_port() as port, pytest.raises(errors.DirectoryUnavailable) as error:
        _store_at(f"ldap://127.0.0.1:{port}").check()
    message = str(error.value)
    assert message.startswith(f"cannot reach the directory at ldap://127.0.0.1:{port} ")
    assert "does not answer in LDAP" in message and "\n" not in message


def test_wrong_bind_password_names_the_settings(slapd):
    with pytest.raises(errors.DirectoryMisconfigured) as error:
        _store_at(slapd.url, password="wrong").check()
    assert "PORTH_LDAP__BIND_PASSWORD" in str(error.value)


def _porth(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTH_")}
    env.update(extra)
    return env


def test_cli_reports_an_unreachable_directory_without_a_traceback(tmp_path):
    env = _clean_env(PORTH_VAR_DIR=str(tmp_path), PORTH_LDAP__URL=f"ldap://127.0.0.1:{free_port()}",
                     PORTH_LDAP__BIND_DN=ROOT_DN, PORTH_LDAP__BIND_PASSWORD="pw", PORTH_LDAP__TIMEOUT_SECONDS="2")
    result = _porth(["directory", "status"], env)
    assert result.returncode == 1
    assert result.stderr.startswith("porth: cannot reach the directory at ldap://127.0.0.1:")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_reports_a_bad_setting_in_one_line(tmp_path):
    result = _porth(["directory", "status"], _clean_env(PORTH_VAR_DIR=str(tmp_path), PORTH_LDAP__URL="http://x"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        ("porth: configuration error: PORTH_LDAP__URL: must be an ldap://host:port, ldaps://host:port "
         "or ldapi:// URL (got 'http://x')")
    ]


def test_cli_uses_an_existing_directory_and_postgresql_when_configured(slapd, store, tmp_path):
    """PORTH_LDAP__URL / PORTH_DATABASE__URL: no private slapd, no SQLite."""
    from tests.integration.test_operational_store import _postgres_database

    for database_url in _postgres_database():
        env = _clean_env(PORTH_VAR_DIR=str(tmp_path / "var"), PORTH_LDAP__URL=slapd.url,
                         PORTH_LDAP__BASE_DN=BASE_DN, PORTH_LDAP__BIND_DN=ROOT_DN,
                         PORTH_LDAP__BIND_PASSWORD=slapd.root_password, PORTH_DATABASE__URL=database_url)
        status = _porth(["directory", "status"], env)
        assert status.returncode == 0, status.stderr
        assert f"directory at {slapd.url} answers as {ROOT_DN}" in status.stdout
        upgraded = _porth(["db", "upgrade"], env)
        assert upgraded.returncode == 0, upgraded.stderr
        from operational.db import Database

        newest = Database(database_url).head_revision()
        assert f"operational database at revision {newest}" in upgraded.stdout
        refused = _porth(["directory", "start"], env)
        assert refused.returncode != 0 and "the directory is external" in refused.stderr
        assert not (tmp_path / "var" / "slapd").exists()
        assert not (tmp_path / "var" / "porth.sqlite3").exists()


def test_serve_stops_at_once_with_one_line_when_the_idp_signing_key_is_unusable(tmp_path):
    junk = tmp_path / "signing.pem"
    junk.write_text("not a key\n")
    served = _porth(["serve", "--port", "1"], _clean_env(PORTH_VAR_DIR=str(tmp_path / "var"),
                                                          PORTH_IDP__SIGNING_KEY_FILE=str(junk),
                                                          PORTH_IDP__SIGNING_CERTIFICATE_FILE=str(junk)))
    assert served.returncode == 2
    assert served.stderr.count("\n") == 1 and "PORTH_IDP__SIGNING_KEY_FILE" in served.stderr
    assert "Traceback" not in served.stderr
    assert not (tmp_path / "var" / "slapd").exists()  # stopped before starting anything


def test_a_slapd_configured_with_an_older_schema_gains_the_new_elements_at_start(tmp_path, now, monkeypatch):
    """An instance made by an earlier Porth (without porthContactInfo) is brought up to date, additions only."""
    import importlib.resources

    current = importlib.resources.files("config").joinpath("ldap/porth-schema.ldif").read_text("utf-8")
    older = current.split("olcAttributeTypes: ( PorthAttr:34", 1)[0] + "olcObjectClasses: ( PorthClass:1" + \
        current.split("olcObjectClasses: ( PorthClass:1", 1)[1].split("olcObjectClasses: ( PorthClass:5", 1)[0]
    older = older.replace(" $ porthSubsidiarySchool $ porthSubsidiaryGroup", "")  # PorthAttr:35-36 came later
    assert "porthWorkEmail" not in older and "porthGroup" in older and "porthSubsidiary" not in older
    (tmp_path / "old-schema.ldif").write_text(older)
    server = PrivateSlapd(root=tmp_path / "s", host="127.0.0.1", port=free_port(), suffix=BASE_DN,
                          root_dn=ROOT_DN, root_password="upgrade-secret", no_sync=True)
    rendered = server.render_config()
    rendered = "\n".join(line for line in rendered.splitlines() if "porthSubsidiary" not in line)  # their indexes
    monkeypatch.setattr(server, "render_config", lambda: rendered.replace(
        str(importlib.resources.files("config").joinpath("ldap/porth-schema.ldif")), str(tmp_path / "old-schema.ldif")))
    server.configure()
    from directory.model import AccountKind, Contact, NewAccount
    new = NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw", created_by="test",
                     organisation="661", contact=Contact(work_email="huw.evans@cardiff.gov.uk"))
    monkeypatch.setattr(server, "add_missing_schema", list)  # as an older Porth started it
    monkeypatch.setattr(server, "add_missing_config", list)
    server.start()
    try:
        store = make_store(server)
        store.initialise()
        with pytest.raises(errors.InvalidEntry):
            store.add_account(new, now)
        server.stop()
        monkeypatch.undo()  # this Porth (its own render_config, upgrades at start)
        server.start()  # this Porth: the missing elements are added
        assert server.add_missing_schema() == []  # and only once
        store.close()
        store = make_store(server)
        made = store.add_account(new, now)
        assert store.get_account(made.id).contact.work_email == "huw.evans@cardiff.gov.uk"
        store.close()
    finally:
        server.stop()
