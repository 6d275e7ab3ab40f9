"""`make demo` as a user sees it: the demo authority loaded once, served live from LDAP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone

from config.settings import load_settings, with_secrets
from directory.model import AccountKind, AccountState
from directory.slapd import process_alive
from directory.store import store_for
from tests.conftest import ROOT, free_port, porth_env, run_porth, wait_until_answering
from webui.demo import DEMO_SCHOOLS


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def _store(demo_server):
    settings = with_secrets(load_settings(var_dir=demo_server.var_dir,
                                          ldap={"embedded_port": int(demo_server.env["PORTH_LDAP__EMBEDDED_PORT"])}))
    return store_for(settings)


def _learner_counts(html: str) -> dict[str, int]:
    rows = dict(re.findall(r'<tr[^>]*\sdata-dfes="(\d+)"[^>]*>(.*?)</tr>', html, re.S))
    return {dfes: int(re.search(r'data-kind="learners">(\d+)<', row).group(1)) for dfes, row in rows.items()}


def test_load_demo_provisions_generated_exports_and_is_idempotent(demo_server):
    first, second = demo_server.load_outputs
    assert f"Demo authority: {DEMO_SCHOOLS} schools added" in first
    assert "Generated MIS exports of 4 schools" in first
    created = int(re.search(r"(\d+) accounts created, \d+ MIS record errors", first).group(1))
    assert created > 1000  # realistic sizes: a secondary of ~1,000 and primaries of ~200
    assert "Demo authority: 0 schools added, 0 accounts created" in second
    # It says how to try the portal: a champion and the LA administrator with their demo passwords.
    logins = re.findall(r"User management \(\S+/portal/\) as the (.+?): (\S+@hwbcymru\.net) / (\S+)", second)
    assert [who.split(" of ")[0] for who, _u, _p in logins] == ["digital champion", "LA administrator"]
    assert all(len(password) >= 8 for _w, _u, password in logins)
    assert (demo_server.var_dir / "demo-exports" / "schools.csv").exists()


def test_page_shows_every_school_with_counts_read_live_from_ldap(demo_server):
    store = _store(demo_server)
    try:
        counts = store.account_counts()
        learners = _learner_counts(_page(demo_server.url + "/"))
        assert learners == {dfes: kinds[AccountKind.LEARNER] for dfes, kinds in counts.items()}
        assert len(learners) == DEMO_SCHOOLS
        # Live: a change in LDAP shows on the next page load.
        school = sorted(learners)[0]
        learner = next(store.iter_accounts(school=school, kind=AccountKind.LEARNER, state=AccountState.ACTIVE))
        store.set_state(learner.id, AccountState.DEACTIVATED, "test", "left", datetime.now(timezone.utc))
        assert _learner_counts(_page(demo_server.url + "/"))[school] == learners[school] - 1
        store.set_state(learner.id, AccountState.ACTIVE, "test", "back", datetime.now(timezone.utc))
    finally:
        store.close()


def test_page_escapes_and_names_the_authority(demo_server):
    html = _page(demo_server.url + "/")
    assert "Gwynedd" in html and "GwE" in html
    assert "Ysgol Gynradd" in html and "Ysgol Uwchradd" in html


def test_ctrl_c_stops_the_server_and_the_slapd_it_started(tmp_path):
    env = porth_env(tmp_path / "var", PORTH_LDAP__EMBEDDED_PORT=str(free_port()), PORTH_LDAP__EMBEDDED_NO_SYNC="true")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "webui.cli", "serve", "--port", str(port), "--workers", "1"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/", process)
        pid_file = tmp_path / "var" / "slapd" / "slapd.pid"
        slapd_pid = int(pid_file.read_text())
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not process_alive(slapd_pid), "slapd still runs after Ctrl-C"
    # Running it again reuses the data: the secrets and the directory are still there.
    again = run_porth(["directory", "start"], env)
    try:
        assert "started" in again.stdout, again.stderr
    finally:
        run_porth(["directory", "stop"], env)
