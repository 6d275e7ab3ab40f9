"""What the `porth` command says when a newcomer gets something wrong (issue 16 point 9): each
message names the problem and the command that fixes it, and the exit status tells a script."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import free_port, porth_env, run_porth
from tests.integration.conftest import SCHOOL
from tests.integration.idp_fixtures import PASSWORD, make_porth
from tests.integration.test_idp_sso import onelogin
from tests.integration.test_idp_throttle import _frozen_clock, _post, _sign_in_form
from tests.integration.test_provision_cli import env, write_export  # noqa: F401 - env: porth on the test slapd
from tests.integration.test_provisioning import learner_row


def _embedded(tmp_path) -> dict[str, str]:
    """A new install: the private slapd under var/, never started (a port nobody listens on)."""
    return porth_env(tmp_path / "var", PORTH_LDAP__EMBEDDED_PORT=str(free_port()),
                     PORTH_LDAP__EMBEDDED_NO_SYNC="true")


def test_directory_status_says_a_stopped_directory_is_stopped_and_how_to_start_it(tmp_path):
    status = run_porth(["directory", "status"], _embedded(tmp_path))
    assert status.returncode == 3, status.stdout + status.stderr  # a status command's "not running"
    assert "the directory is stopped" in status.stdout
    assert "start it with `porth directory start`" in status.stdout
    assert "invalid server address" not in status.stdout + status.stderr
    assert status.stderr == ""  # an answer, not a failure


def test_an_unreachable_external_directory_says_what_to_check(tmp_path):
    env = porth_env(tmp_path / "var", PORTH_LDAP__URL=f"ldap://127.0.0.1:{free_port()}",
                    PORTH_LDAP__BIND_DN="cn=porth,dc=porth", PORTH_LDAP__BIND_PASSWORD="pw",
                    PORTH_LDAP__TIMEOUT_SECONDS="2")
    status = run_porth(["directory", "status"], env)
    assert status.returncode == 1
    assert "check that the directory runs and answers there (PORTH_LDAP__URL)" in status.stderr


def test_directory_status_answers_once_it_is_started(tmp_path):
    env = _embedded(tmp_path)
    started = run_porth(["directory", "start"], env)
    try:
        assert started.returncode == 0, started.stderr
        status = run_porth(["directory", "status"], env)
        assert status.returncode == 0 and "answers as cn=porth" in status.stdout, status.stdout + status.stderr
    finally:
        run_porth(["directory", "stop"], env)
    assert run_porth(["directory", "status"], env).returncode == 3


def test_provisioning_a_school_missing_from_the_register_says_to_import_it(env, tmp_path):
    write_export(tmp_path / "exports" / "6610001", [learner_row(1, school="6610001")])
    result = run_porth(["provision", str(tmp_path / "exports")], env)
    assert result.returncode == 1  # a school failed (README, "Exit status")
    assert "6610001: school 6610001 is not in the school register" in result.stderr
    assert "`porth schools import schools.csv`" in result.stderr
    assert "noSuchObject" not in result.stdout + result.stderr
    status = run_porth(["status", "--school", "6610001"], env)
    assert status.returncode == 1 and "`porth schools import schools.csv`" in status.stderr


def test_an_empty_folder_is_refused_with_a_warning_not_an_empty_table(env, tmp_path):
    empty = tmp_path / "exports"
    empty.mkdir()
    result = run_porth(["provision", str(empty)], env)
    assert result.returncode == 2  # unusable input
    assert f"porth: no MIS export found in {empty}" in result.stderr and "nothing was provisioned" in result.stderr
    assert "school    outcome" not in result.stdout


def test_a_school_not_in_the_exports_given_is_refused_too(env, store, tmp_path):
    write_export(tmp_path / "exports" / SCHOOL, [learner_row(1)])
    result = run_porth(["provision", "--school", "6619999", str(tmp_path / "exports")], env)
    assert result.returncode == 2
    assert "no export of school 6619999 in" in result.stderr


def test_commands_print_no_migration_chatter(tmp_path):
    """alembic logs two INFO lines on every command that checks the schema, and one per migration."""
    env = _embedded(tmp_path)
    for args in (["db", "upgrade"], ["db", "upgrade"], ["jobs", "list"]):
        result = run_porth(args, env)
        assert result.returncode == 0, result.stderr
        assert "alembic" not in result.stderr and " INFO " not in result.stderr, result.stderr
    assert "operational database at revision" in run_porth(["db", "upgrade"], env).stdout


def test_the_sign_in_page_says_wait_1_second_in_the_singular(slapd, store, tmp_path, monkeypatch):
    """After three failures the next attempt waits one second (S-3): "Wait 1 second", not "seconds"."""
    from tests.integration.conftest import staff

    _frozen_clock(monkeypatch)
    porth = make_porth(slapd, tmp_path)
    store.add_account(staff(password=PASSWORD), datetime.now(UTC))
    service = onelogin(porth)
    for _ in range(3):
        _post(_sign_in_form(porth, service), "JonesA", "Wrong1234")
    refused = _post(_sign_in_form(porth, service), "JonesA", "Wrong1234")
    assert refused.status_code == 429
    text = refused.get_data(as_text=True)
    assert "Wait 1 second and try again." in text and "1 seconds" not in text
