"""Transfers complete in one `porth provision` run (M-6), whatever the order of the schools and --jobs.

Two learners cross in one nightly run: Gwen leaves school A for school B, Huw leaves B for A.
Whichever school is applied first, one of the two admissions meets a learner the other school
has not released yet; the run's last pass must move it all the same, with no `Pending transfer`
left in the log and exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from directory.model import AccountKind, AccountState
from tests.conftest import run_porth
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL
from tests.integration.test_provision_cli import env, write_export  # noqa: F401 - env is a fixture
from tests.integration.test_provisioning import LEARNER_HEADER, learner_row, upn

GWEN, HUW = 11, 22  # UPN serials: Gwen starts at SCHOOL (A), Huw at OTHER_SCHOOL (B)


def _folders(root: Path, a_first: bool) -> tuple[Path, Path]:
    """The two schools' export folders, named so that sorting puts A's or B's first."""
    a, b = ("1-", "2-") if a_first else ("2-", "1-")
    return root / f"{a}{SCHOOL}", root / f"{b}{OTHER_SCHOOL}"


def _learners(store, school):
    return {a.upn_hash: a for a in store.iter_accounts(school=school, kind=AccountKind.LEARNER)}


@pytest.mark.parametrize("jobs", ["4", "1"])
@pytest.mark.parametrize("a_first", [True, False], ids=["A-folder-first", "B-folder-first"])
def test_learners_released_and_admitted_in_one_run_are_moved_whatever_the_order(env, store, tmp_path, jobs,
                                                                                 a_first):
    a_folder, b_folder = _folders(tmp_path / "night1", a_first)
    write_export(a_folder, [learner_row(GWEN, "Llŵyd", "Gwen"), learner_row(1)])
    write_export(b_folder, [learner_row(HUW, "Price", "Huw", school=OTHER_SCHOOL),
                            learner_row(2, school=OTHER_SCHOOL)])
    first = run_porth(["provision", "--jobs", jobs, str(tmp_path / "night1")], env)
    assert first.returncode == 0, first.stdout + first.stderr
    gwen = next(a for a in _learners(store, SCHOOL).values() if a.forename == "Gwen")
    huw = next(a for a in _learners(store, OTHER_SCHOOL).values() if a.forename == "Huw")

    # The next night: each school releases its leaver (a leaving date; Huw is simply absent
    # from B's full export) and admits the other's.
    a_folder, b_folder = _folders(tmp_path / "night2", a_first)
    write_export(a_folder, [learner_row(GWEN, "Llŵyd", "Gwen", left="2026-11-13"), learner_row(1),
                             learner_row(601, "Price", "Huw", upn_value=upn(HUW), admitted="2026-11-16")])
    write_export(b_folder, [learner_row(2, school=OTHER_SCHOOL),
                             learner_row(701, "Llŵyd", "Gwen", upn_value=upn(GWEN), admitted="2026-11-16",
                                         school=OTHER_SCHOOL)])
    second = run_porth(["provision", "--jobs", jobs, str(tmp_path / "night2")], env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Pending transfer" not in second.stdout

    for account, school, admission in ((gwen, OTHER_SCHOOL, "000701"), (huw, SCHOOL, "000601")):
        moved = store.get_account(account.id)
        assert (moved.school, moved.state, moved.username, moved.admission_number) == (
            school, AccountState.ACTIVE, account.username, admission)
        assert len([a for a in store.iter_accounts(kind=AccountKind.LEARNER) if a.upn_hash == account.upn_hash]) == 1
    # Each school's learners run of that night says 1 moved and carries no error: the pending
    # transfer its first pass met was resolved in the same run, and its error is gone from the log.
    for school in (SCHOOL, OTHER_SCHOOL):
        status = run_porth(["status", "--school", school], env)
        learners = next(line for line in status.stdout.splitlines() if line.strip().startswith("learners"))
        assert "succeeded" in learners and "1 moved" in learners and "0 errors" in learners, status.stdout
    # and nothing is left to do
    third = run_porth(["provision", "--jobs", jobs, str(tmp_path / "night2")], env)
    assert third.stdout.count("succeeded, no change") == 2, third.stdout


@pytest.mark.parametrize("a_first", [True, False], ids=["A-folder-first", "B-folder-first"])
def test_a_new_learner_on_roll_at_two_schools_in_one_parallel_run_gets_one_account(env, store, tmp_path, a_first):
    """Issue 13 point 1: two schools create the same learner at once (--jobs 4). The directory
    refuses the second account; the school that lost is not given an error for it but plans the
    record again in the run's last pass and finds the account (a single registration at both:
    a pending transfer at one of them, as M-6 says)."""
    a_folder, b_folder = _folders(tmp_path / "exports", a_first)
    others = [learner_row(n, "Jones", "Megan") for n in range(100, 130)]  # both schools busy at once
    write_export(a_folder, [learner_row(GWEN, "Llŵyd", "Gwen"), *others])
    write_export(b_folder, [learner_row(901, "Llŵyd", "Gwen", upn_value=upn(GWEN), school=OTHER_SCHOOL),
                             *(learner_row(n + 100, "Evans", "Aled", school=OTHER_SCHOOL) for n in range(100, 130))])
    result = run_porth(["provision", "--jobs", "4", str(tmp_path / "exports")], env)
    assert result.returncode == 0, result.stdout + result.stderr
    gwen = [a for a in store.iter_accounts(kind=AccountKind.LEARNER) if a.forename == "Gwen"]
    assert len(gwen) == 1
    assert "Directory refused" not in result.stdout
    assert result.stdout.count(", 1 record error\n") == 1, result.stdout  # the pending transfer, at one school only


def _write_dual_export(folder: Path, rows: list[tuple[str, str]]) -> None:
    """learners.csv with an enrolment_status column: (row, status) pairs (M main, S subsidiary)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{LEARNER_HEADER},enrolment_status", *(f"{row},{status}" for row, status in rows)]
    (folder / "learners.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _dual_registration_run(env, store, tmp_path, jobs: str, a_first: bool) -> None:
    a_folder, b_folder = _folders(tmp_path / "exports", a_first)
    _write_dual_export(a_folder, [(learner_row(GWEN, "Llŵyd", "Gwen"), "M"),
                                  *((learner_row(n, "Jones", "Megan"), "C") for n in range(100, 120))])
    _write_dual_export(b_folder, [(learner_row(951, "Llŵyd", "Gwen", upn_value=upn(GWEN), school=OTHER_SCHOOL), "S"),
                                  *((learner_row(n + 100, "Evans", "Aled", school=OTHER_SCHOOL), "C")
                                    for n in range(100, 120))])
    result = run_porth(["provision", "--jobs", jobs, str(tmp_path / "exports")], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("0 record errors") == 2, result.stdout  # no nightly error at either school
    [gwen] = [a for a in store.iter_accounts(kind=AccountKind.LEARNER) if a.forename == "Gwen"]
    assert (gwen.school, gwen.subsidiary_schools, gwen.state) == (SCHOOL, (OTHER_SCHOOL,), AccountState.ACTIVE)
    again = run_porth(["provision", "--jobs", jobs, str(tmp_path / "exports")], env)
    assert again.stdout.count("succeeded, no change") == 2, again.stdout


@pytest.mark.parametrize("a_first", [True, False], ids=["A-folder-first", "B-folder-first"])
def test_a_new_dual_registered_learner_gets_one_account_one_after_the_other(env, store, tmp_path, a_first):
    """Dual registration (M at A, S at B), the schools one at a time in either order."""
    _dual_registration_run(env, store, tmp_path, "1", a_first)


@pytest.mark.parametrize("a_first", [True, False], ids=["A-folder-first", "B-folder-first"])
def test_a_new_dual_registered_learner_gets_one_account_in_a_parallel_run(env, store, tmp_path, a_first):
    """Both schools create her at once (--jobs 4): the directory refuses the second account, and
    the loser's last pass makes it the dual registration instead of an error or a duplicate."""
    _dual_registration_run(env, store, tmp_path, "4", a_first)
