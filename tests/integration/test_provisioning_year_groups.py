"""Provisioning stores each school's year groups (issue 16 point 2; SPEC M-8): one group entry
per National Curriculum year its learners are in, named as a person reads it, made when an export
first names it and removed when no learner is in it any more, as registration groups are; the
learners' own year follows the MIS. From CTF, OneRoster and Porth CSV exports, including ones
nobody here wrote (tests/fixtures/mis/third_party/README.md). A second run changes nothing (M-1)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from connectors.mis.detect import parse_bundle
from connectors.provisioning.inputs import find_bundles, read_bundle
from connectors.provisioning.plan import AddGroup, RemoveGroup
from connectors.provisioning.service import provision_school
from directory.model import AccountKind, GroupKind, School, SchoolType
from tests.conftest import ROOT
from tests.integration.conftest import SCHOOL
from tests.integration.test_third_party_exports import (
    DFE_CTF,
    MOODLE,
    PARENT_SCHOOL,
    _append,
    _derive,
    _replace,
    _students_get_upns,
)

KEY = b"year-groups-test-key-0123456789ab"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PORTH_CSV = ROOT / "tests" / "fixtures" / "mis" / "csv"
CSV_SCHOOL = "6612002"  # the DfES number the Porth CSV fixture's learners carry


def provision(store, db, folder: Path):
    outcomes = []
    for _name, files in find_bundles([folder]):
        for export in parse_bundle(read_bundle(files), KEY):
            outcome = provision_school(store, db, export, NOW)
            assert outcome.outcome == "succeeded", outcome.message
            outcomes.append(outcome)
    return outcomes


def year_groups(store, school=SCHOOL):
    return [(g.code, g.name) for g in store.groups(school, GroupKind.YEAR_GROUP)]


def learners_years(store, school=SCHOOL):
    return sorted((a.surname, a.year_group) for a in store.iter_accounts(school=school, kind=AccountKind.LEARNER))


def group_changes(outcome):
    return [a for a in outcome.plan.actions if isinstance(a, AddGroup | RemoveGroup)]


def test_a_ctf_export_stores_its_year_groups_and_a_second_run_changes_nothing(store, db, tmp_path):
    """The DfE-schema CTF in two files: Reception, Year 2 (two pupils) and Year 3; Megan Ffransis
    (Year 6) left in July, so no Year 6."""
    folder = tmp_path / "ctf"
    shutil.copytree(DFE_CTF, folder)
    [first] = provision(store, db, folder)
    assert year_groups(store) == [("R", "Reception"), ("2", "Year 2"), ("3", "Year 3")]
    assert {year for _surname, year in learners_years(store)} == {"R", "2", "3"}  # each learner in its group
    assert first.counts["created"] == 4  # accounts; the groups workflow made the three year groups
    assert sorted(a.code for a in group_changes(first)) == ["2", "3", "R"]
    [again] = provision(store, db, folder)
    assert again.plan.actions == () and again.counts.get("created", 0) == 0
    assert year_groups(store) == [("R", "Reception"), ("2", "Year 2"), ("3", "Year 3")]


def test_the_new_school_year_adds_the_next_year_group_and_removes_the_emptied_one(store, db, tmp_path):
    """M-8 rollover: every Year 3 pupil of the CTF moves up to Year 4: Year 4 is made, the
    emptied Year 3 removed, the pupil's own year follows; the other groups stay."""
    folder = tmp_path / "ctf"
    shutil.copytree(DFE_CTF, folder)
    provision(store, db, folder)
    year_3_file = next(p for p in folder.iterdir() if "<NCyearActual>3</NCyearActual>" in p.read_text("utf-8"))
    year_3_file.write_text(year_3_file.read_text("utf-8").replace("<NCyearActual>3</NCyearActual>",
                                                                  "<NCyearActual>4</NCyearActual>"), "utf-8")
    [rollover] = provision(store, db, folder)
    assert year_groups(store) == [("R", "Reception"), ("2", "Year 2"), ("4", "Year 4")]
    assert sorted((type(a).__name__, a.code) for a in group_changes(rollover)) == [("AddGroup", "4"),
                                                                                   ("RemoveGroup", "3")]
    assert "4" in {year for _surname, year in learners_years(store)}
    [again] = provision(store, db, folder)
    assert again.plan.actions == ()


def test_a_oneroster_export_stores_the_grades_of_its_learners_on_roll(store, db, tmp_path):
    """Moodle's OneRoster 1.1 full set (its parent school and UPNs added, as in
    test_third_party_exports): Mary Jones in grade 12 and Anna Brown in 11 are on roll;
    mmichel.jones (12) has left; teachers' grades are no year group."""
    folder = _derive(MOODLE / "Test_full_data_set", tmp_path / "full", {
        "orgs.csv": _append(PARENT_SCHOOL), "users.csv": _students_get_upns})
    provision(store, db, folder)
    assert year_groups(store) == [("11", "Year 11"), ("12", "Year 12")]
    assert learners_years(store) == [("Brown", "11"), ("Jones", "12")]
    [again] = provision(store, db, folder)
    assert again.plan.actions == ()


def test_oneroster_kindergarten_and_pre_kindergarten_are_reception_and_nursery(store, db, tmp_path):
    folder = _derive(MOODLE / "Test_full_data_set", tmp_path / "full", {
        "orgs.csv": _append(PARENT_SCHOOL),
        "users.csv": lambda text: _students_get_upns(text).replace(
            "mary.jones@myschool.com,6031234567,6031234567,usr-222-123456,12,",
            "mary.jones@myschool.com,6031234567,6031234567,usr-222-123456,KG,").replace(
            "anna.brown@myschool.com,6039991234,6038885678,usr-222-987654,11,",
            "anna.brown@myschool.com,6039991234,6038885678,usr-222-987654,PK,")})
    provision(store, db, folder)
    assert year_groups(store) == [("N", "Nursery"), ("R", "Reception")]


def test_a_porth_csv_export_stores_its_year_groups_beside_its_registration_groups(store, db, tmp_path):
    """The Porth CSV fixture: Years 3 and 4 and Reception are named by learners still on roll
    (Tomos Evans of Year 4 left in July, Siôn of Year 4 is refused for a missing forename but is
    still in the MIS's Year 4, as his registration group 4A is kept); the row of another school
    is not this school's."""
    store.add_school(School(CSV_SCHOOL, "Ysgol y Fixture", SchoolType.PRIMARY, "661"))
    folder = tmp_path / "csv"
    shutil.copytree(PORTH_CSV, folder)
    provision(store, db, folder)
    assert year_groups(store, CSV_SCHOOL) == [("R", "Reception"), ("3", "Year 3"), ("4", "Year 4")]
    registration = [g.code for g in store.groups(CSV_SCHOOL, GroupKind.REGISTRATION_GROUP)]
    assert registration == ["3A", "4A", "R1"]
    again = provision(store, db, folder)
    assert all(o.plan.actions == () for o in again)
    # A later export without any Reception learner removes Reception, as it removes R1.
    learners = folder / "learners.csv"
    learners.write_text("\n".join(line for line in learners.read_text("utf-8-sig").splitlines()
                                  if not line.startswith("R,")) + "\n", "utf-8")
    provision(store, db, folder)
    assert year_groups(store, CSV_SCHOOL) == [("3", "Year 3"), ("4", "Year 4")]
    assert [g.code for g in store.groups(CSV_SCHOOL, GroupKind.REGISTRATION_GROUP)] == ["3A", "4A"]


def test_dry_run_names_the_year_group_it_would_make(store, db, tmp_path):
    folder = tmp_path / "ctf"
    shutil.copytree(DFE_CTF, folder)
    [export] = [e for _n, files in find_bundles([folder]) for e in parse_bundle(read_bundle(files), KEY)]
    outcome = provision_school(store, db, export, NOW, dry_run=True)
    assert [(a.code, a.name) for a in group_changes(outcome)] == [("2", "Year 2"), ("3", "Year 3"),
                                                                   ("R", "Reception")]
    assert year_groups(store) == []  # a dry run writes nothing
    assert _replace  # the derivation helpers are the third-party tests' own
