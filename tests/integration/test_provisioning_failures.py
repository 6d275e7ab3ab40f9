"""Failures are failures (issue 13 point 8): a directory that cannot do the work fails the
school's run — outcome failed, exit 1, the reason on stderr, its workflow runs failed with the
note — and is never counted as record errors; the other schools go on.

Each case runs a private slapd of its own, since it is stopped or filled up on purpose.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.provisioning.service import provision_school
from directory.model import School, SchoolType
from directory.rules.vault import PasswordVault
from directory.slapd import PrivateSlapd
from directory.store import DirectoryConfig, DirectoryStore
from operational import workflow_runs
from tests.conftest import free_port, porth_env, run_porth
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL
from tests.integration.test_provision_cli import env, write_export  # noqa: F401 - env is a fixture
from tests.integration.test_provisioning import NOW, export, learner_row, upn

MEBIBYTE = 1024 * 1024


def _slapd(root: Path, max_size: int = 64 * MEBIBYTE) -> PrivateSlapd:
    server = PrivateSlapd(root=root, host="127.0.0.1", port=free_port(), suffix=BASE_DN, root_dn=ROOT_DN,
                          root_password=secrets.token_urlsafe(16), no_sync=True, max_size=max_size)
    server.start()
    return server


def _connect(server: PrivateSlapd) -> DirectoryStore:
    return DirectoryStore(DirectoryConfig(url=server.url, base_dn=BASE_DN, bind_dn=ROOT_DN,
                                          bind_password=server.root_password, mail_domain="hwbcymru.net",
                                          timeout_seconds=2),
                          PasswordVault(PasswordVault.new_key()))


def _store(server: PrivateSlapd) -> DirectoryStore:
    store = _connect(server)
    store.initialise()
    for dfes, name in ((SCHOOL, "Ysgol Brawf"), (OTHER_SCHOOL, "Ysgol Arall")):
        store.add_school(School(dfes, name, SchoolType.PRIMARY, "661"))
    return store


@pytest.fixture
def own_slapd(tmp_path) -> Iterator[PrivateSlapd]:
    server = _slapd(tmp_path / "slapd")
    yield server
    server.stop()


def test_a_directory_gone_mid_run_fails_that_school_and_the_next_school_goes_on(own_slapd, db):
    store = _store(own_slapd)
    done = []

    def directory_dies_after_five(action) -> None:
        done.append(action)
        if len(done) == 5:
            own_slapd.stop()

    failed = provision_school(store, db, export([learner_row(n) for n in range(1, 21)]), NOW,
                              progress=directory_dies_after_five)
    assert failed.outcome == "failed" and failed.errors == []
    assert "cannot reach the directory" in failed.message
    learners = workflow_runs.get_run(db, failed.run_ids["learners"])
    # what was done before the failure is counted; the failure is the run's note, not record errors
    assert (learners.outcome, learners.counts.created, learners.error_count) == ("failed", 5, 0)
    assert "cannot reach the directory" in learners.note

    # planning needs the directory too: a school whose accounts cannot be read fails, not crashes
    unread = provision_school(store, db, export([learner_row(101, school=OTHER_SCHOOL)], school=OTHER_SCHOOL), NOW)
    assert unread.outcome == "failed" and "cannot reach the directory" in unread.message
    unread_run = workflow_runs.get_run(db, unread.run_ids["learners"])  # M-10: the status says it failed, and why
    assert unread_run.outcome == "failed" and "cannot reach the directory" in unread_run.note

    own_slapd.start()
    store.close()
    # a new connection (ldap3 keeps an address it could not reach marked unreachable for 5 s)
    store = _connect(own_slapd)
    other = provision_school(store, db, export([learner_row(101, school=OTHER_SCHOOL)], school=OTHER_SCHOOL), NOW)
    assert other.outcome == "succeeded" and other.counts == {"created": 1}, other.message
    # and the school that failed converges on its next run
    again = provision_school(store, db, export([learner_row(n) for n in range(1, 21)]), NOW)
    assert again.outcome == "succeeded" and again.counts == {"created": 15}
    store.close()


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_a_full_directory_fails_the_school_with_exit_1_not_record_errors(tmp_path, jobs):
    """slapd's database fills up (its map size reached, as a full disk): `txn_commit failed` on
    every write. The school being written fails, the reason on stderr; the school with nothing
    to write goes on and succeeds."""
    server = _slapd(tmp_path / "slapd", max_size=MEBIBYTE)
    try:
        _store(server).close()
        env = porth_env(tmp_path / "var", PORTH_LDAP__URL=server.url, PORTH_LDAP__BASE_DN=BASE_DN,
                        PORTH_LDAP__BIND_DN=ROOT_DN, PORTH_LDAP__BIND_PASSWORD=server.root_password,
                        PORTH_SECRETS__UPN_HASH_KEY="k" * 40)
        other_school = [learner_row(n, school=OTHER_SCHOOL) for n in (901, 902)]
        write_export(tmp_path / "night1" / f"2-{OTHER_SCHOOL}", other_school)
        assert run_porth(["provision", str(tmp_path / "night1")], env).returncode == 0
        write_export(tmp_path / "night2" / f"1-{SCHOOL}", [learner_row(n) for n in range(1, 501)])  # does not fit
        write_export(tmp_path / "night2" / f"2-{OTHER_SCHOOL}", other_school)
        result = run_porth(["provision", "--jobs", jobs, str(tmp_path / "night2")], env)
        assert result.returncode == 1, result.stdout + result.stderr
        # mdb says `txn_commit failed` or `entry store failed`, as the write that met the full map
        full_map_failure = rf"porth: {SCHOOL}: .*(txn_commit|entry store|index generation) failed"
        assert re.search(full_map_failure, result.stderr), result.stderr
        assert "Traceback" not in result.stderr
        lines = result.stdout.splitlines()
        assert any(line.startswith(SCHOOL) and "failed" in line and line.split()[-1] == "0" for line in lines)
        assert any(line.startswith(OTHER_SCHOOL) and "succeeded" in line for line in lines), result.stdout
        status = run_porth(["status", "--school", SCHOOL], env)
        learners = status.stdout.split("learners", 1)[1]
        assert learners.split()[0] == "failed" and "0 errors" in learners
        assert re.search(r"(txn_commit|entry store|index generation) failed", learners), status.stdout
    finally:
        server.stop()


def test_a_bundle_the_parser_cannot_read_for_any_reason_is_refused_and_the_other_schools_go_on(env, store, tmp_path,
                                                                                                monkeypatch):
    """Issue 13 point 5: nothing one export holds can stop the run. A fault of the parser's
    (here a ValueError quoting the file's value, as a bug would) refuses that bundle only, with
    the fault's kind and never its text (it could quote a UPN, M-3), exit 2."""
    from click.testing import CliRunner

    from entrypoints.cli import provisioning
    from entrypoints.cli.main import cli

    secret = upn(7)
    real_parse = provisioning.parse_bundle

    def parser_with_a_bug(files, key, fmt="auto"):
        if any("broken" in name for name in files):
            raise ValueError(f"invalid literal for int(): {secret!r}")
        return real_parse(files, key, fmt)

    monkeypatch.setattr(provisioning, "parse_bundle", parser_with_a_bug)
    write_export(tmp_path / "exports" / "1-broken", [learner_row(7)])
    write_export(tmp_path / "exports" / "2-fine", [learner_row(8)])
    result = CliRunner(env=env).invoke(cli, ["provision", "--jobs", "1", str(tmp_path / "exports")])
    assert result.exit_code == 2, result.output
    assert "1-broken: could not be read (ValueError); nothing of it was applied" in result.stderr
    assert secret not in result.output and secret not in result.stderr
    assert [a.admission_number for a in store.iter_accounts(school=SCHOOL)] == ["000008"]
