"""`make demo` as a user sees it: the demo authority loaded once, served live from LDAP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections import Counter

from config.settings import load_settings, with_secrets
from directory.demo import DEMO_SCHOOLS
from directory.slapd import process_alive
from directory.model import AccountKind
from directory.store import store_for
from tests.conftest import ROOT, free_port, porth_env, run_porth, wait_until_answering


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def test_load_demo_is_idempotent(demo_server):
    first, second = demo_server.load_outputs
    planned = sum(d.learners + d.staff + d.governors + d.non_mis for d in DEMO_SCHOOLS) + 1  # + the LA administrator
    assert f"5 schools and {planned} accounts added" in first
    assert f"0 schools and 0 accounts added, {planned} accounts already present" in second


def test_page_shows_every_school_with_counts_read_live_from_ldap(demo_server):
    html = _page(demo_server.url + "/")
    for demo in DEMO_SCHOOLS:
        assert demo.school.dfes in html
    rows = dict(re.findall(r'<tr data-dfes="(\d+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {d.school.dfes for d in DEMO_SCHOOLS}
    learners = {dfes: int(re.search(r'data-kind="learners">(\d+)<', row).group(1)) for dfes, row in rows.items()}
    assert learners == {d.school.dfes: d.learners for d in DEMO_SCHOOLS}

    # Live: a change in LDAP shows on the next page load.
    settings = with_secrets(load_settings(var_dir=demo_server.var_dir,
                                          ldap={"embedded_port": int(demo_server.env["PORTH_LDAP__EMBEDDED_PORT"])}))
    store = store_for(settings)
    try:
        learner = next(store.iter_accounts(school="6612001", kind=AccountKind.LEARNER))
        from datetime import datetime, timezone
        from directory.model import AccountState

        store.set_state(learner.id, AccountState.DEACTIVATED, "test", "left", datetime.now(timezone.utc))
        html = _page(demo_server.url + "/")
        row = dict(re.findall(r'<tr data-dfes="(\d+)">(.*?)</tr>', html, re.S))["6612001"]
        assert int(re.search(r'data-kind="learners">(\d+)<', row).group(1)) == learners["6612001"] - 1
        store.set_state(learner.id, AccountState.ACTIVE, "test", "back", datetime.now(timezone.utc))
    finally:
        store.close()


def test_page_escapes_and_names_the_authority(demo_server):
    html = _page(demo_server.url + "/")
    assert "Gwynedd" in html and "GwE" in html
    assert "Ysgol Gynradd Glan y Môr" in html


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
