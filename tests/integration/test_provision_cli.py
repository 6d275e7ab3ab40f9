"""`porth provision` and `porth status` as an operator runs them, and a run killed mid-way."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from directory.model import AccountKind, AccountState
from tests.conftest import ROOT, porth_env, run_porth
from tests.integration.conftest import BASE_DN, ROOT_DN, SCHOOL
from tests.integration.test_provisioning import LEARNER_HEADER, STAFF_HEADER, learner_row, staff_row

FIXTURES = ROOT / "tests" / "fixtures" / "mis"


@pytest.fixture
def env(slapd, store, tmp_path) -> dict[str, str]:
    """The porth command pointed at the test slapd (as an existing directory) and a fresh SQLite."""
    return porth_env(
        tmp_path / "var", PORTH_LDAP__URL=slapd.url, PORTH_LDAP__BASE_DN=BASE_DN, PORTH_LDAP__BIND_DN=ROOT_DN,
        PORTH_LDAP__BIND_PASSWORD=slapd.root_password, PORTH_SECRETS__UPN_HASH_KEY="k" * 40,
    )


def write_export(folder: Path, learners: list[str], staff: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "learners.csv").write_text("\n".join([LEARNER_HEADER, *learners]) + "\n", encoding="utf-8")
    if staff is not None:
        (folder / "staff.csv").write_text("\n".join([STAFF_HEADER, *staff]) + "\n", encoding="utf-8")
    return folder


def test_provision_applies_prints_a_summary_and_status_shows_the_runs(env, store, tmp_path):
    export = write_export(tmp_path / "exports" / SCHOOL, [learner_row(1), learner_row(2, upn_value="")],
                           [staff_row("S1")])
    result = run_porth(["provision", "--jobs", "1", str(tmp_path / "exports")], env)  # one school at a time
    assert result.returncode == 0, result.stderr
    assert f"[1/1] {SCHOOL}: succeeded, 2 created, 1 record error" in result.stdout.splitlines()  # one, not "errors"
    assert "school    outcome" in result.stdout
    assert len(list(store.iter_accounts(school=SCHOOL))) == 2
    status = run_porth(["status", "--school", SCHOOL], env)
    assert status.returncode == 0, status.stderr
    assert "learners        succeeded" in status.stdout and "1 created" in status.stdout
    assert status.stdout.count(", 1 error\n") == 1  # the learners workflow's one error, not "1 errors"
    assert "no successful run in the last 7 days" not in status.stdout
    assert export.exists()


def test_dry_run_prints_the_plan_and_writes_nothing(env, store, tmp_path):
    write_export(tmp_path / "x", [learner_row(1, "Llŵyd", "Gwen")])
    result = run_porth(["provision", "--dry-run", str(tmp_path / "x")], env)
    assert result.returncode == 0, result.stderr
    assert "[learners] create learner 000001: Gwen Llŵyd" in result.stdout
    # the summary counts what the plan would do, not what a dry run applied (nothing)
    assert _summary_row(result.stdout, SCHOOL)[:3] == ["dry-run", "1", "0"], result.stdout
    assert list(store.iter_accounts()) == []
    status = run_porth(["status", "--school", SCHOOL], env)
    assert "never run" in status.stdout and "no successful run in the last 7 days" in status.stdout


def test_held_run_exits_3_and_release_applies_it(env, store, tmp_path):
    write_export(tmp_path / "full", [learner_row(n) for n in range(1, 31)])
    assert run_porth(["provision", str(tmp_path / "full")], env).returncode == 0
    write_export(tmp_path / "truncated", [learner_row(1)])
    held = run_porth(["provision", str(tmp_path / "truncated")], env)
    assert held.returncode == 3, held.stdout + held.stderr
    run_id = int(held.stdout.split("porth provision --release ")[1].split()[0])
    assert all(a.is_active for a in store.iter_accounts(school=SCHOOL))
    released = run_porth(["provision", "--release", str(run_id), str(tmp_path / "truncated")], env)
    assert released.returncode == 0, released.stdout + released.stderr
    assert sum(1 for a in store.iter_accounts(school=SCHOOL) if a.is_active) == 1
    again = run_porth(["provision", "--release", str(run_id), str(tmp_path / "truncated")], env)
    assert again.returncode != 0 and "already released" in again.stderr


def test_a_dry_run_of_a_release_writes_nothing_and_counts_what_it_would_deactivate(env, store, tmp_path):
    """Issue 13 point 8: `--dry-run --release N` shows the released plan but leaves the run held."""
    write_export(tmp_path / "full", [learner_row(n) for n in range(1, 31)])
    assert run_porth(["provision", str(tmp_path / "full")], env).returncode == 0
    write_export(tmp_path / "truncated", [learner_row(1)])
    held = run_porth(["provision", str(tmp_path / "truncated")], env)
    run_id = int(held.stdout.split("porth provision --release ")[1].split()[0])

    dry = run_porth(["provision", "--dry-run", "--release", str(run_id), str(tmp_path / "truncated")], env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "WOULD BE HELD" not in dry.stdout  # the release's allowance is what it plans with
    assert _summary_row(dry.stdout, SCHOOL) == ["dry-run", "0", "0", "0", "29", "0"], dry.stdout
    assert all(a.is_active for a in store.iter_accounts(school=SCHOOL))
    # still held: the real release is not "already released"
    released = run_porth(["provision", "--release", str(run_id), str(tmp_path / "truncated")], env)
    assert released.returncode == 0, released.stdout + released.stderr
    assert sum(1 for a in store.iter_accounts(school=SCHOOL) if a.is_active) == 1


def _summary_row(stdout: str, school: str) -> list[str]:
    """The summary table's row of a school: outcome, created, updated, moved, deactivated, errors."""
    rows = [line.split() for line in stdout.splitlines() if line.startswith(f"{school} ")]
    return rows[-1][1:]


def test_unusable_input_exits_2_with_one_line_per_file(env, tmp_path):
    result = run_porth(["provision", str(FIXTURES / "ctf" / "billion-laughs.xml")], env)
    assert result.returncode == 2
    assert "billion-laughs.xml: the file declares a DTD or entities" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_porth(["provision", str(tmp_path / "nothing-here")], env)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_a_killed_run_rerun_converges_without_duplicates(env, store, tmp_path):
    # Enough learners that the run is still going when the kill lands, however fast the machine:
    # the kill is sent at 120 accounts, and reading them to count takes a moment too.
    count = 400
    rows = [learner_row(n, surname=("Jones", "Davies", "Evans")[n % 3]) for n in range(1, count + 1)]
    folder = write_export(tmp_path / "big", rows, [staff_row(f"S{n}") for n in range(1, 11)])
    process = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "provision", str(folder)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # wait until the run is well under way, then kill it
            # past 100 actions (10 staff, then learners): the run has written its progress once
            if sum(1 for _ in store.iter_accounts(school=SCHOOL)) >= 120 or process.poll() is not None:
                break
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    partial = list(store.iter_accounts(school=SCHOOL))
    assert 0 < len(partial) < count + 10, "the kill did not land mid-run"
    # M-10: before any rerun, the status shows the killed run with what it had written so far
    killed = run_porth(["status", "--school", SCHOOL], env).stdout
    learners_line = next(line for line in killed.splitlines() if line.strip().startswith("learners"))
    assert "running" in learners_line and int(re.search(r"(\d+) created", learners_line)[1]) >= 90, killed

    rerun = run_porth(["provision", str(folder)], env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    learners = list(store.iter_accounts(school=SCHOOL, kind=AccountKind.LEARNER))
    assert len(learners) == count
    assert len({a.upn_hash for a in learners}) == count
    assert len({a.username.casefold() for a in learners}) == count
    assert all(a.state is AccountState.ACTIVE for a in learners)
    assert len(list(store.iter_accounts(school=SCHOOL, kind=AccountKind.STAFF))) == 10
    # M-10: the rerun says what the killed run had done (its last progress write) ...
    found = re.search(rf"{SCHOOL}: the run of .* UTC was interrupted and is closed as failed; "
                      r"it had done: (\d+) created; this run carries on from there", rerun.stdout)
    assert found, rerun.stdout
    assert 100 <= int(found[1]) <= len(partial)
    # ... and the rerun itself did only the rest
    assert _summary_row(rerun.stdout, SCHOOL)[1] == str(count + 10 - len(partial))
    # the killed run's workflow runs are closed as interrupted, not left "running"
    status = run_porth(["status", "--school", SCHOOL], env)
    assert "running" not in status.stdout
    third = run_porth(["provision", str(folder)], env)
    assert f"{SCHOOL}: succeeded, no change" in third.stdout


def test_generated_exports_in_all_three_formats_provision_and_rerun_without_change(env, store, tmp_path):
    """porth demo-data -> schools import -> provision, for CTF(+staff.csv), OneRoster and Porth CSV."""
    from datetime import UTC, datetime

    from demo import exports as demo_exports

    out = tmp_path / "exports"
    made = run_porth(["demo-data", "--out", str(out), "--schools", "3", "--seed", "11", "--la", "661"], env)
    assert made.returncode == 0, made.stderr
    imported = run_porth(["schools", "import", str(out / "schools.csv")], env)
    assert "Schools: 3 added" in imported.stdout, imported.stdout + imported.stderr
    first = run_porth(["provision", str(out)], env)
    assert first.returncode == 0, first.stdout + first.stderr
    today = datetime.now(UTC).date()  # the day `porth demo-data` wrote the exports for
    for spec in demo_exports.school_specs(3, 11, "all", ("661",)):
        learners = demo_exports.learners_of(spec, 11, today)
        creatable = [learner for learner in learners
                     if learner.upn and learner.upn[-1].isdigit() and learner.admission_date <= today]
        active = [a for a in store.iter_accounts(school=spec.dfes, kind=AccountKind.LEARNER) if a.is_active]
        assert len(active) == len(creatable), (spec.format, spec.dfes)
        sample = next(a for a in active if a.admission_number == creatable[0].admission_number)
        assert (sample.year_group, sample.registration_group) == (creatable[0].year_group,
                                                                    creatable[0].registration_group), spec.format
    formats = {spec.format for spec in demo_exports.school_specs(3, 11, "all", ("661",))}
    assert formats == {"csv", "ctf", "oneroster"}
    again = run_porth(["provision", str(out)], env)
    assert again.stdout.count("succeeded, no change") == 3, again.stdout
