"""Exports made by systems nobody here wrote provision what they should, on a real slapd (issue 13 point 7).

The files are in tests/fixtures/mis/third_party/ (README: source, commit,
licence) and are never edited. None of the OneRoster samples has a DfES
number or a UPN, so each is run twice where that matters: as it is (with at
most the one derivation it needs to name a school, documented per test), and
as a derived copy whose students' `identifier` holds a valid UPN, made in a
temporary folder. Expected counts come from reading the files.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.mis.detect import parse_bundle
from connectors.mis.records import FormatRefused
from connectors.provisioning.inputs import find_bundles, read_bundle
from connectors.provisioning.plan import UpdateSchoolName
from connectors.provisioning.service import provision_school
from directory.model import AccountKind
from directory.rules.upn import check_letter
from tests.conftest import ROOT, porth_env, run_porth
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL

THIRD_PARTY = ROOT / "tests" / "fixtures" / "mis" / "third_party"
MOODLE = THIRD_PARTY / "moodle-enrol_oneroster"
OAT = THIRD_PARTY / "oat-sa-oneroster-import" / "OneRosterv1p1BaseCSV"
DFE_CTF = THIRD_PARTY / "dfe-ctf"
KEY = b"third-party-test-key-0123456789ab"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _upn(serial: int) -> str:
    body = f"661234523{serial:03d}"
    return check_letter(body) + body


def _derive(source: Path, target: Path, edits: dict[str, Callable[[str], str]]) -> Path:
    """A copy of `source` with some files' text changed; line endings and the rest left as they are."""
    shutil.copytree(source, target)
    for name, edit in edits.items():
        path = target / name
        text = path.read_bytes().decode("utf-8")
        path.write_bytes(edit(text).encode("utf-8"))
    return target


def _append(row: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        newline = "\r\n" if "\r\n" in text else "\n"
        return text.rstrip("\r\n") + newline + row + newline
    return edit


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)
    return edit


def _chain(*edits: Callable[[str], str]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        for one in edits:
            text = one(text)
        return text
    return edit


def _provision(store, db, folder: Path) -> dict[str, object]:
    """Provision every school export under the folder, as `porth provision` does; outcome per school."""
    outcomes = {}
    for _name, files in find_bundles([folder]):
        for export in parse_bundle(read_bundle(files), KEY):
            outcome = provision_school(store, db, export, NOW)
            assert outcome.outcome == "succeeded", outcome.message
            outcomes[export.school] = outcome
    return outcomes


def _errors(outcome) -> Counter[str]:
    return Counter(error.error for error in outcome.errors)


def _learners(store, school=SCHOOL):
    return sorted((a.surname, a.forename) for a in store.iter_accounts(school=school, kind=AccountKind.LEARNER))


def _staff(store, school=SCHOOL):
    return sorted((a.staff_code, a.surname) for a in store.iter_accounts(school=school, kind=AccountKind.STAFF))


# -- Moodle enrol_oneroster plugin fixtures --------------------------------------------------
# Test_full_data_set and v1p2_full_dataset: the only org is a department whose parent school
# org-sch-222-3456 is not in orgs.csv; the derived copy adds that school with a DfES number.
PARENT_SCHOOL = f"org-sch-222-3456,active,2023-05-01T18:25:43.511Z,Ysgol Brawf,school,{SCHOOL},"
MOODLE_STUDENTS = {"mary.jones": 1, "mmichel.jones": 2, "anna.brown": 3}


def _students_get_upns(text: str) -> str:
    """Each student's identifier (`mary.jones`...) becomes a valid UPN; the username before it stays."""
    for identifier, serial in MOODLE_STUDENTS.items():
        old = f",{identifier},{identifier.split('.')[0]}."  # identifier, then the email starting the same
        assert old in text, identifier
        text = text.replace(old, f",{_upn(serial)},{identifier.split('.')[0]}.")
    return text


@pytest.mark.parametrize("dataset", ["Test_full_data_set", "v1p2_full_dataset"])
def test_moodle_full_sets_are_refused_as_they_are_no_school_org(dataset):
    with pytest.raises(FormatRefused, match="no org of type school with a DfES number"):
        parse_bundle(read_bundle(sorted((MOODLE / dataset).iterdir())), KEY)


def test_moodle_full_set_11_with_its_parent_school_added(store, db, tmp_path):
    folder = _derive(MOODLE / "Test_full_data_set", tmp_path / "full", {"orgs.csv": _append(PARENT_SCHOOL)})
    outcome = _provision(store, db, folder)[SCHOOL]
    # The three students' identifiers are usernames, not UPNs; both teachers' only enrolments ended
    # on 2022-06-15 (leavers, so no account); the parent is no learner or staff; the department never
    # renames the school.
    assert _errors(outcome) == {"Invalid UPN": 3}
    assert _learners(store) == [] and _staff(store) == []
    assert outcome.plan is not None
    assert not any(isinstance(action, UpdateSchoolName) for action in outcome.plan.actions)


def test_moodle_full_set_11_with_upns_creates_the_learners_still_on_roll(store, db, tmp_path):
    folder = _derive(MOODLE / "Test_full_data_set", tmp_path / "full", {
        "orgs.csv": _append(PARENT_SCHOOL),
        "users.csv": _students_get_upns,
    })
    outcome = _provision(store, db, folder)[SCHOOL]
    # mary.jones and anna.brown have no enrolment: admitted on the export's date (the latest
    # dateLastModified, 2023-06-15); mmichel.jones's enrolments all ended on 2022-06-15: a leaver.
    assert outcome.errors == []
    assert _learners(store) == [("Brown", "Anna"), ("Jones", "Mary")]
    mary = next(a for a in store.iter_accounts(school=SCHOOL, kind=AccountKind.LEARNER) if a.forename == "Mary")
    assert mary.admission_number == "usr-222-66778899"  # sourcedId, no metadata.admissionNumber


def test_moodle_minimal_set_without_begin_dates_creates_its_teacher(store, db, tmp_path):
    # Its one org is a department with no parent and no identifier: the derived copy makes it the
    # school (type school, a DfES number). Nothing else is changed.
    folder = _derive(MOODLE / "Test_minimal_data_set", tmp_path / "minimal", {
        "orgs.csv": _replace("org-sch-222-456,,,History Department,department,,",
                             f"org-sch-222-456,,,History Department,school,{SCHOOL},"),
    })
    outcome = _provision(store, db, folder)[SCHOOL]
    # No beginDate anywhere: john.doe starts on his class's term start (as-trm-222-1234, 2022-09-01)
    # and is created; jim.smith has no identifier (Missing staff code); no student has a UPN.
    assert _errors(outcome) == {"Missing UPN": 3, "Missing staff code": 1}
    assert _staff(store) == [("jogn.doe", "Doe")]


def test_moodle_minimal_set_with_upns_dates_learners_by_their_term_or_not_at_all(store, db, tmp_path):
    folder = _derive(MOODLE / "Test_minimal_data_set", tmp_path / "minimal", {
        "orgs.csv": _replace("org-sch-222-456,,,History Department,department,,",
                             f"org-sch-222-456,,,History Department,school,{SCHOOL},"),
        "users.csv": _chain(
            _replace("mary.jones,,Mary,Jones,,,", f"mary.jones,,Mary,Jones,,{_upn(1)},"),
            _replace("mmichel.jones,,mmichel,Jones,,,", f"mmichel.jones,,mmichel,Jones,,{_upn(2)},"),
            _replace("anna.brown,,Anna,Brown,,,", f"anna.brown,,Anna,Brown,,{_upn(3)},"),
        ),
    })
    outcome = _provision(store, db, folder)[SCHOOL]
    # mmichel.jones's classes' term starts on 2022-09-01: created. mary.jones and anna.brown have
    # no enrolment and the set has no dateLastModified at all: no admission date to go by.
    assert _errors(outcome) == {"Missing admission date": 2, "Missing staff code": 1}
    assert _learners(store) == [("Jones", "mmichel")]  # the MIS's own spelling: names are not re-cased


def test_moodle_12_set_reads_roles_csv(store, db, tmp_path):
    folder = _derive(MOODLE / "v1p2_full_dataset", tmp_path / "v12", {"orgs.csv": _append(PARENT_SCHOOL)})
    outcome = _provision(store, db, folder)[SCHOOL]
    # roles.csv: thomas.joness is a siteAdministrator (staff; no enrolment: starts on the export's
    # date, 2023-06-15); the two teachers' enrolments ended in 2022; the students have no UPN.
    assert _errors(outcome) == {"Invalid UPN": 3}
    assert _staff(store) == [("thomas.joness", "Jones")]


def test_moodle_12_delta_set_is_refused_in_one_line():
    with pytest.raises(FormatRefused, match=r"file.orgs, file.users, file.enrollments, file.roles are delta"):
        parse_bundle(read_bundle(sorted((MOODLE / "oneroster_test_data").iterdir())), KEY)


def test_moodle_12_delta_set_as_bulk_with_a_school_number_and_a_upn(store, db, tmp_path):
    folder = _derive(MOODLE / "oneroster_test_data", tmp_path / "v12", {
        "manifest.csv": lambda text: text.replace(",delta", ",bulk"),
        "orgs.csv": _replace("Gotham High School,school,,", f"Gotham High School,school,{SCHOOL},"),
        "users.csv": _replace("Bruce,Wayne,,bruce.wayne,", f"Bruce,Wayne,,{_upn(4)},"),
    })
    outcome = _provision(store, db, folder)[SCHOOL]
    # The enrolment has no beginDate: admitted on its class's session start, 2023-09-04.
    assert outcome.errors == []
    [bruce] = store.iter_accounts(school=SCHOOL, kind=AccountKind.LEARNER)
    assert (bruce.surname, bruce.forename, bruce.admission_number) == ("Wayne", "Bruce", "USER_0")


# -- oat-sa/oneroster-import's OneRoster 1.1 base CSV sample ---------------------------------------
def _oat_schools(text: str) -> str:
    return text.replace(",school,my identifier 2,", f",school,{OTHER_SCHOOL},").replace(
        ",school,my identifier,", f",school,{SCHOOL},")


def test_oneroster_11_base_sample_with_school_numbers(store, db, tmp_path):
    folder = _derive(OAT, tmp_path / "oat", {"orgs.csv": _oat_schools})
    outcomes = _provision(store, db, folder)
    # One student per school, each with `user identifier` for a UPN.
    assert {school: _errors(o) for school, o in outcomes.items()} == {
        SCHOOL: {"Invalid UPN": 1}, OTHER_SCHOOL: {"Invalid UPN": 1}}


def test_oneroster_11_base_sample_with_upns_creates_both_learners(store, db, tmp_path):
    folder = _derive(OAT, tmp_path / "oat", {
        "orgs.csv": _oat_schools,
        "users.csv": lambda text: text.replace("user identifier 2,", f"{_upn(6)},").replace(
            "user identifier,", f"{_upn(5)},"),
    })
    outcomes = _provision(store, db, folder)
    assert all(o.errors == [] for o in outcomes.values())
    # No beginDate and an empty academicSessions.csv: admitted on the export's date (2017-05-06).
    [ionut] = store.iter_accounts(school=SCHOOL, kind=AccountKind.LEARNER)
    [ionut2] = store.iter_accounts(school=OTHER_SCHOOL, kind=AccountKind.LEARNER)
    assert (ionut.surname, ionut.forename, ionut2.forename) == ("padurariu", "ionut", "ionut2")
    assert set(ionut.classes) == {"Class 1 title", "Class 2 title"}


# -- CTF to the DfE schema, one school in two files, through `porth provision` -------------------------
def test_dfe_ctf_in_two_files_is_one_export_and_provisions_every_pupil(slapd, store, tmp_path):
    folder = tmp_path / "exports"
    shutil.copytree(DFE_CTF, folder)
    env = porth_env(
        tmp_path / "var", PORTH_LDAP__URL=slapd.url, PORTH_LDAP__BASE_DN=BASE_DN, PORTH_LDAP__BIND_DN=ROOT_DN,
        PORTH_LDAP__BIND_PASSWORD=slapd.root_password, PORTH_SECRETS__UPN_HASH_KEY="k" * 40,
    )
    first = run_porth(["provision", "--jobs", "1", str(folder)], env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"[1/1] {SCHOOL}: succeeded, 4 created, 0 record errors" in first.stdout
    learners = {a.surname: a for a in store.iter_accounts(school=SCHOOL, kind=AccountKind.LEARNER)}
    # Megan Ffransis left on 2026-07-17: no account.
    assert sorted(learners) == ["Llŵyd", "Prŷs", "Wyn-Williams", "ap Rhys"]
    assert learners["Llŵyd"].username.lower().startswith("llwydg")
    # The DfE CTF has no admission number: Porth's is derived from the UPN's keyed hash, never the UPN.
    assert all(a.admission_number.startswith("ctf-") for a in learners.values())
    assert not any("661234519001" in (a.admission_number or "") for a in learners.values())
    # Both files every night: nothing flips between active and deactivated.
    again = run_porth(["provision", "--jobs", "1", str(folder)], env)
    assert f"[1/1] {SCHOOL}: succeeded, no change" in again.stdout, again.stdout + again.stderr
    assert all(a.is_active for a in store.iter_accounts(school=SCHOOL, kind=AccountKind.LEARNER))
