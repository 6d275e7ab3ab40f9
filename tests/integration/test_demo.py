"""`make demo` as a user sees it: the demo authority loaded once, served live from LDAP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime

import pytest

from config.settings import load_settings, with_secrets
from demo.loader import DEMO_SCHOOLS
from demo.people import DEMO_LA, LEAVER, la_people
from directory.model import AccountKind, AccountState, PasswordStatus, SchoolType
from directory.rules.lifecycle import expires_within
from directory.slapd import process_alive
from directory.store import store_for
from tests.conftest import ROOT, free_port, porth_env, run_porth, wait_until_answering
from webui.portal.lists import EXPIRY_WARNING_WEEKS


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def _store(demo_server):
    settings = with_secrets(load_settings(var_dir=demo_server.var_dir,
                                          ldap={"embedded_port": int(demo_server.env["PORTH_LDAP__EMBEDDED_PORT"])}))
    return store_for(settings)


def _learner_counts(html: str) -> dict[str, int]:
    rows = dict(re.findall(r'<tr[^>]*\sdata-dfes="(\d+)"[^>]*>(.*?)</tr>', html, re.DOTALL))
    return {dfes: int(re.search(r'data-kind="learners">(\d+)<', row).group(1)) for dfes, row in rows.items()}


def test_load_demo_provisions_generated_exports_and_is_idempotent(demo_server):
    first, second = demo_server.load_outputs
    assert f"Demo authority: {DEMO_SCHOOLS} schools added" in first
    assert "Generated MIS exports of 4 schools" in first
    created = int(re.search(r"(\d+) accounts created, \d+ MIS record errors", first).group(1))
    assert created > 1000  # realistic sizes: a secondary of ~1,000 and primaries of ~200
    assert "Demo authority: 0 schools added, 0 accounts created" in second
    # It says how to try the portal: one of each role with their demo passwords.
    logins = re.findall(r"User management \(\S+/portal/\) as the (.+?): (\S+@hwbcymru\.net) / (\S+)", second)
    assert [who.split(" of ")[0] for who, _u, _p in logins] == ["digital champion", "teacher",
                                                               "LA administrator (Hwb administrator"]
    assert all(len(password) >= 8 for _w, _u, password in logins)
    assert (demo_server.var_dir / "demo-exports" / "schools.csv").exists()


def test_the_demo_shows_a_newcomer_every_state_an_account_can_be_in(demo_server):
    """A leaver, a "-" password, a dual-registered learner and LA accounts near expiry, each once
    although the demo was loaded twice (issue 16 point 9; SPEC M-5, A-4, L-2)."""
    store = _store(demo_server)
    try:
        secondary = next(s for s in store.schools() if s.type is SchoolType.SECONDARY)
        special = next(s for s in store.schools() if s.type is SchoolType.SPECIAL)
        learners = list(store.iter_accounts(school=secondary.dfes, kind=AccountKind.LEARNER))
        (leaver,) = [a for a in learners if a.admission_number == LEAVER[2]]
        assert leaver.state is AccountState.DEACTIVATED and leaver.leaving_date is not None
        assert leaver.leaving_date < datetime.now(UTC).date()
        dashes = [a for a in learners if a.is_active and a.password_status is PasswordStatus.UNAVAILABLE]
        assert len(dashes) == 1 and PasswordStatus.UNAVAILABLE.label == "-"
        # (The browser tests make a dual-registered learner of their own, at a primary.)
        (dual,) = [a for a in store.iter_accounts(kind=AccountKind.LEARNER) if special.dfes in a.subsidiary_schools]
        assert (dual.school, dual.subsidiary_schools) == (secondary.dfes, (special.dfes,)) and dual.is_active
        today = datetime.now(UTC).date()
        expiring = Counter((a.forename, a.surname) for a in store.iter_accounts(organisation=DEMO_LA,
                                                                                kind=AccountKind.LA_NONMIS)
                           if a.expiry and expires_within(a.expiry.date(), today, EXPIRY_WARNING_WEEKS))
        # Each of the demo's officers near expiry, once (the browser tests add LA accounts of their own).
        officers = [(p.forename, p.surname) for p in la_people(datetime.now(UTC)) if p.expiry]
        assert len(officers) == 2 and all(expiring[officer] == 1 for officer in officers)
    finally:
        store.close()


def test_the_home_page_links_to_user_management(demo_server):
    html = _page(demo_server.url + "/")
    link = re.search(r'<a href="([^"]+)"[^>]*class="govuk-button govuk-button--start"[^>]*>\s*([^<]+?)\s*<', html)
    assert link and link.groups() == ("/portal/", "Sign in to user management")


def test_page_shows_every_school_with_counts_read_from_ldap_and_refreshed(demo_server):
    store = _store(demo_server)
    try:
        counts = store.account_counts()
        learners = _learner_counts(_page(demo_server.url + "/"))
        # A dual-registered learner is on two schools' rolls and counted at both (the browser tests
        # make one in the demo).
        expected = Counter({dfes: kinds[AccountKind.LEARNER] for dfes, kinds in counts.items()})
        expected.update(dfes for account in store.iter_accounts(kind=AccountKind.LEARNER) if account.is_active
                        for dfes in account.subsidiary_schools)
        assert learners == dict(expected)
        assert len(learners) == DEMO_SCHOOLS
        # A change in LDAP shows once the counts are refreshed behind the page (issue 15 point 6:
        # each second here, PORTH_WEB__SCHOOL_COUNTS_SECONDS): a page starts the refresh, a later one shows it.
        school = min(learners)
        learner = next(store.iter_accounts(school=school, kind=AccountKind.LEARNER, state=AccountState.ACTIVE))
        store.set_state(learner.id, AccountState.DEACTIVATED, "test", "left", datetime.now(UTC))
        deadline = time.monotonic() + 30
        while _learner_counts(_page(demo_server.url + "/"))[school] != learners[school] - 1:
            assert time.monotonic() < deadline, "the counts were never refreshed"
            time.sleep(0.2)
        store.set_state(learner.id, AccountState.ACTIVE, "test", "back", datetime.now(UTC))
    finally:
        store.close()


def test_page_escapes_and_names_the_authority(demo_server):
    html = _page(demo_server.url + "/")
    assert "Gwynedd" in html and "GwE" in html
    assert "Ysgol Gynradd" in html and "Ysgol Uwchradd" in html


def test_the_access_log_names_each_request_but_never_its_query_string(demo_server):
    """Query strings carry SAML messages, RelayStates and sign-in tokens (webui/access_log.py)."""
    import time

    request = urllib.request.Request(demo_server.url + "/idp/sso/init?service=nobody&RelayState=secret-relay-123",
                                     headers={"User-Agent": 'probe "quoted"',
                                              "Referer": "https://sp.example/page?token=abc"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 404
    log = demo_server.var_dir.parent / "serve.log"
    deadline = time.monotonic() + 10
    while "probe" not in log.read_text() and time.monotonic() < deadline:  # written after the answer
        time.sleep(0.05)
    line = next(line for line in log.read_text().splitlines() if "probe" in line)
    assert '"GET /idp/sso/init HTTP/1.1" 404' in line
    assert '"https://sp.example/page" "probe \\x22quoted\\x22"' in line
    assert "secret-relay-123" not in log.read_text() and "token=abc" not in log.read_text()
    # Health checks answered (the fixture's readiness polling, a load balancer's) are not logged.
    assert '"GET /healthz ' not in log.read_text()


def test_ctrl_c_stops_the_server_and_the_slapd_it_started(tmp_path):
    env = porth_env(tmp_path / "var", PORTH_LDAP__EMBEDDED_PORT=str(free_port()), PORTH_LDAP__EMBEDDED_NO_SYNC="true")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port),
                                "--workers", "1"],
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


def test_porth_demo_serves_with_a_scheduler_and_a_fake_graph_the_demo_tenant_fills(demo_server):
    """Issue 6: the demo runs against the fake Graph, so a new user sees licences applied."""
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from demo.fake_graph import FakeTenantSettings
    from tests.conftest import ROOT, free_port, run_porth, wait_until_answering

    web_port, graph_port, class_app_port = free_port(), free_port(), free_port()
    configured = sorted(p.name for p in demo_server.services_dir.iterdir())
    process = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "demo", "--port", str(web_port),
                                "--graph-port", str(graph_port), "--class-app-port", str(class_app_port)],
                               cwd=ROOT, env=demo_server.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_until_answering(f"http://127.0.0.1:{web_port}/healthz", process)
        # Issue 18: the demo offers a service that takes badges, its class app, registered in a
        # services folder of the demo's own beside the configured services; the configured folder
        # is not written.
        own = demo_server.var_dir / "demo-services"
        assert {p.name for p in own.iterdir() if p.suffix in (".xml", ".toml")} == {
            *(n for n in configured if n.endswith((".xml", ".toml"))), "demo-class-app.toml", "demo-class-app.xml"}
        assert sorted(p.name for p in demo_server.services_dir.iterdir()) == configured
        assert 'id="sign-in"' in _page(f"http://127.0.0.1:{class_app_port}/")
        assert "allow_badge = true" in (own / "demo-class-app.toml").read_text()
        tenant = FakeTenantSettings()
        env = {**demo_server.env, "PORTH_GRAPH__ENABLED": "true", "PORTH_GRAPH__TENANT_ID": tenant.tenant,
               "PORTH_GRAPH__CLIENT_ID": tenant.client_id, "PORTH_GRAPH__CLIENT_SECRET": tenant.client_secret,
               "PORTH_GRAPH__AUTHORITY": f"https://{tenant.login_host}/{tenant.tenant}",
               "PORTH_GRAPH__AUTHORITY_SERVER": f"http://127.0.0.1:{graph_port}",
               "PORTH_GRAPH__GRAPH_URL": f"http://127.0.0.1:{graph_port}/v1.0"}
        ran = run_porth(["jobs", "run", "graph-sync"], env)
        assert "graph-sync: succeeded" in ran.stdout, ran.stdout + ran.stderr
        created = int(re.search(r"created (\d+)", ran.stdout).group(1))
        assert created > 1000
        # Issue 14 point 7: the first sync ends with every account applied and none failed.
        applied, failed, considered = map(int, re.search(r"applied (\d+), failed (\d+), considered (\d+)",
                                                         ran.stdout).groups())
        assert (applied, failed) == (considered, 0), ran.stdout
        token = httpx.post(f"http://127.0.0.1:{graph_port}/{tenant.tenant}/oauth2/v2.0/token",
                           data={"grant_type": "client_credentials", "client_id": tenant.client_id,
                                 "client_secret": tenant.client_secret}).json()["access_token"]
        skus = httpx.get(f"http://127.0.0.1:{graph_port}/v1.0/subscribedSkus",
                         headers={"Authorization": f"Bearer {token}"}).json()["value"]
        assert sum(s["consumedUnits"] for s in skus) > 0  # licences applied in the demo tenant
    finally:
        stopping = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        stopped_in = time.monotonic() - stopping
    assert "Fake Microsoft Graph at" in output
    assert _page(demo_server.url + "/healthz")  # the shared directory still runs
    # Issue 16 point 9: one block once the portal answers, its last address the portal's; quiet logs;
    # Ctrl-C stops it within a couple of seconds, saying so.
    block = output[output.index("Porth demo is ready."):output.index("Ctrl-C stops the demo.")]
    for who in ("digital champion of", "teacher of", "LA administrator (Hwb administrator of Gwynedd)"):
        assert re.search(rf"^    {re.escape(who)}.*\S+@hwbcymru\.net / \S{{8,}}$", block, re.MULTILINE), block
    assert re.findall(r"https?://\S+", block)[-1] == demo_server.env["PORTH_IDP__BASE_URL"] + "/portal/"
    assert f"A service that takes badges (print them in the portal's Badges): http://localhost:{class_app_port}/" \
        in block
    assert "HTTP Request" not in output and "apscheduler" not in output and "alembic" not in output, output
    assert "Booting worker" not in output  # gunicorn's start-up would come after the block
    assert "Stopping the demo" in output and "Demo stopped." in output
    assert stopped_in < 6, f"Ctrl-C took {stopped_in:.1f} s"
