"""Issue 17 point 2 as it was found: two `porth provision` runs at once, each writing to its own
directory server, both "succeeded" and left usernames on two accounts each. Here the two servers
are independent private slapds (no replication: the worst case of multi-provider, where only the
shared claims can tell one run what the other took) sharing one PostgreSQL operational database."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from directory.store import DirectoryStore
from tests.conftest import ROOT, porth_env, run_porth
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL
from tests.integration.provider_fixtures import second_slapd, second_store
from tests.integration.test_operational_store import _postgres_database
from tests.integration.test_provision_cli import write_export
from tests.integration.test_provisioning import learner_row

__all__ = ["second_slapd", "second_store"]  # fixtures used by the tests below

LEARNERS = 20
SHARED = (900, 901)  # one learner each on both schools' rolls (the same UPN)


@pytest.fixture
def postgres_url():
    yield from _postgres_database()


def env_for(server, var_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    return porth_env(var_dir, PORTH_LDAP__URL=server.url, PORTH_LDAP__BASE_DN=BASE_DN, PORTH_LDAP__BIND_DN=ROOT_DN,
                     PORTH_LDAP__BIND_PASSWORD=server.root_password, PORTH_SECRETS__UPN_HASH_KEY="k" * 40,
                     PORTH_DATABASE__URL=database_url, **extra)


def colliding_exports(tmp_path: Path) -> tuple[Path, Path]:
    """Two schools whose learners have the same names (Learner? Jones: JonesL, JonesL2, ...), and
    two learners on both rolls."""
    first = write_export(tmp_path / "first" / SCHOOL,
                         [learner_row(n) for n in (*range(1, LEARNERS + 1), *SHARED)])
    second = write_export(tmp_path / "second" / OTHER_SCHOOL,
                          [learner_row(n, school=OTHER_SCHOOL) for n in (*range(101, LEARNERS + 101), *SHARED)])
    return first.parent, second.parent


def provision_at_once(envs: list[dict[str, str]], exports: tuple[Path, Path]) -> list[subprocess.CompletedProcess]:
    runs = [subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "provision", "--jobs", "1", str(export)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for env, export in zip(envs, exports, strict=True)]
    done = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr))
    return done


def names_and_hashes(*stores: DirectoryStore) -> tuple[Counter[str], Counter[str]]:
    accounts = [account for store in stores for account in store.iter_accounts()]
    return (Counter(name.casefold() for a in accounts for name in (a.username, *a.aliases)),
            Counter(a.upn_hash for a in accounts if a.upn_hash))


def test_two_runs_at_once_on_two_servers_leave_no_username_or_learner_on_two_accounts(
        slapd, store, second_slapd, second_store, postgres_url, tmp_path):
    envs = [env_for(slapd, tmp_path / "var-1", postgres_url), env_for(second_slapd, tmp_path / "var-2", postgres_url)]
    assert run_porth(["db", "upgrade"], envs[0]).returncode == 0  # as a deployment does before its runs
    first, second = provision_at_once(envs, colliding_exports(tmp_path))

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    names, hashes = names_and_hashes(store, second_store)
    assert [name for name, count in names.items() if count > 1] == []
    assert len(hashes) == 2 * LEARNERS + len(SHARED)  # every learner has an account...
    assert set(hashes.values()) == {1}  # ...and only one, whichever run took the shared ones
    # A run that lost a shared learner to the other says so as a record error, not a failure.
    for run, school in ((first, SCHOOL), (second, OTHER_SCHOOL)):
        assert f"[1/1] {school}: succeeded" in run.stdout, run.stdout
    assert sum(int(n) for n in re.findall(r"(\d+) record errors?", first.stdout + second.stdout)) == len(SHARED)


def test_without_claims_the_same_runs_give_names_twice_and_the_backfill_names_them(
        slapd, store, second_slapd, second_store, postgres_url, tmp_path):
    """What the claims prevent, and how a deployment finds the duplicates its directory already
    has when it turns them on: `porth claims backfill` on each provider."""
    envs = [env_for(slapd, tmp_path / "var-1", postgres_url, PORTH_CLAIMS__ENABLED="false"),
            env_for(second_slapd, tmp_path / "var-2", postgres_url, PORTH_CLAIMS__ENABLED="false")]
    assert run_porth(["db", "upgrade"], envs[0]).returncode == 0
    first, second = provision_at_once(envs, colliding_exports(tmp_path))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    names, hashes = names_and_hashes(store, second_store)
    twice = sorted(name for name, count in names.items() if count > 1)
    # What issue 17 found, both runs "succeeded": every name, JonesL to JonesL22, is on two accounts,
    # and each shared learner has two.
    assert len(twice) == LEARNERS + len(SHARED) and sorted(hashes.values())[-len(SHARED):] == [2] * len(SHARED)

    assert run_porth(["claims", "backfill"], envs[0]).returncode == 0
    found = run_porth(["claims", "backfill"], envs[1])
    assert found.returncode == 1
    assert "username jonesl: held by account JonesL in this directory, claimed by account" in found.stdout
    assert f"{LEARNERS + 2 * len(SHARED)} held by two accounts" in found.stdout  # the names, the shared learners
    assert "k" * 40 not in found.stdout + found.stderr
