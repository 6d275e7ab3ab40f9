"""A wrong UPN-hash key is refused at start (issue 13 point 6, M-11): the directory records
the fingerprint of the key its accounts' UPN hashes were made with, and any command run with
another key stops with one line, exit status 2, before reading or writing anything."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from directory.ldap.upn_key import key_fingerprint
from tests.conftest import porth_env, run_porth
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL, learner
from tests.integration.test_provisioning import LEARNER_HEADER, learner_row

KEY = "k" * 40
RESTORED_WITHOUT_SECRETS = "n" * 40  # what a restore without var/secrets generates instead


def _env(slapd, var: Path, key: str) -> dict[str, str]:
    return porth_env(var, PORTH_LDAP__URL=slapd.url, PORTH_LDAP__BASE_DN=BASE_DN, PORTH_LDAP__BIND_DN=ROOT_DN,
                     PORTH_LDAP__BIND_PASSWORD=slapd.root_password, PORTH_SECRETS__UPN_HASH_KEY=key)


def _export(folder: Path, learners: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "learners.csv").write_text("\n".join([LEARNER_HEADER, *learners]) + "\n", encoding="utf-8")
    return folder


def _workflow_runs(var: Path) -> int:
    with sqlite3.connect(var / "porth.sqlite3") as database:
        return database.execute("SELECT count(*) FROM workflow_runs").fetchone()[0]


def test_the_first_run_records_the_key_and_a_run_with_another_key_changes_nothing(slapd, store, now, tmp_path):
    # Accounts made before Porth recorded keys (an upgrade): the first run records its key. (At
    # another school: one absent from this school's export would be held by the guard, M-11.)
    made_before = store.add_account(learner("Hughes", "Eleri", school=OTHER_SCHOOL), now)
    assert store.upn_key_fingerprint() is None
    var = tmp_path / "var"
    first = run_porth(["provision", str(_export(tmp_path / "night1" / SCHOOL, [learner_row(n) for n in range(1, 6)]))],
                      _env(slapd, var, KEY))
    assert first.returncode == 0, first.stderr
    assert store.upn_key_fingerprint() == key_fingerprint(KEY.encode())
    assert KEY not in store.upn_key_fingerprint()
    accounts = {a.id: a for a in store.iter_accounts()}
    assert len(accounts) == 6 and made_before.id in accounts
    runs = _workflow_runs(var)

    # var/secrets lost in a restore: the same learners would all be new under the other key.
    night2 = _export(tmp_path / "night2" / SCHOOL, [learner_row(n) for n in range(1, 9)])
    for command in (["provision", str(night2)], ["status"], ["directory", "status"], ["jobs", "run", "non-mis-expiry"]):
        refused = run_porth(command, _env(slapd, var, RESTORED_WITHOUT_SECRETS))
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        [line] = refused.stderr.strip().splitlines()
        expected = key_fingerprint(KEY.encode())[:16]
        assert line == (
            f"porth: configuration error: the UPN-hash key in {var / 'secrets' / 'upn_hash_key'} "
            f"(or PORTH_SECRETS__UPN_HASH_KEY) is not the key this directory's accounts were made with (fingerprint "
            f"{key_fingerprint(RESTORED_WITHOUT_SECRETS.encode())[:16]}, expected {expected}): restore var/secrets "
            "from the backup; nothing was changed"), command
        assert RESTORED_WITHOUT_SECRETS not in line and KEY not in line
    assert {a.id: a for a in store.iter_accounts()} == accounts  # nothing created, changed or deactivated
    assert _workflow_runs(var) == runs
    assert store.upn_key_fingerprint() == key_fingerprint(KEY.encode())  # the record is not overwritten

    # The key restored: the night's run goes ahead and knows its learners.
    restored = run_porth(["provision", str(night2)], _env(slapd, var, KEY))
    assert restored.returncode == 0, restored.stderr
    assert f"{SCHOOL}: succeeded, 3 created" in restored.stdout
    assert len(list(store.iter_accounts())) == 9


def test_a_directory_whose_accounts_carry_no_upn_hash_takes_a_new_key(slapd, store, now, tmp_path):
    """A fingerprint guards hashes: where none is stored (staff only), no key can be wrong."""
    assert store.record_upn_key_fingerprint(key_fingerprint(b"x" * 40)) == key_fingerprint(b"x" * 40)
    status = run_porth(["status"], _env(slapd, tmp_path / "var", KEY))
    assert status.returncode == 0, status.stderr
    assert store.upn_key_fingerprint() == key_fingerprint(KEY.encode())
    store.add_account(learner("Hughes", "Eleri"), now)
    assert store.record_upn_key_fingerprint(key_fingerprint(b"x" * 40)) == key_fingerprint(KEY.encode())


def test_a_new_directory_records_its_key_when_it_is_created(tmp_path):
    """`porth directory start` on a fresh embedded directory: recorded once ou=people exists."""
    from tests.conftest import free_port

    env = porth_env(tmp_path / "var", PORTH_LDAP__EMBEDDED_PORT=str(free_port()), PORTH_SECRETS__UPN_HASH_KEY=KEY,
                    PORTH_LDAP__EMBEDDED_NO_SYNC="true")
    started = run_porth(["directory", "start"], env)
    try:
        assert started.returncode == 0, started.stderr
        from config.settings import load_settings, with_secrets
        from directory.store import store_for

        settings = with_secrets(load_settings(var_dir=tmp_path / "var", ldap={
            "embedded_port": int(env["PORTH_LDAP__EMBEDDED_PORT"])}))
        store = store_for(settings)
        try:
            assert store.upn_key_fingerprint() == key_fingerprint(KEY.encode())
        finally:
            store.close()
    finally:
        run_porth(["directory", "stop"], env)
