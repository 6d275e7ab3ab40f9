"""CTF as the DfE defines it: legal names however written, no admission number, several files per school."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.mis import ctf
from connectors.mis.detect import parse_bundle
from connectors.provisioning.inputs import HEADER_PEEK_BYTES, ctf_school, find_bundles, read_bundle
from directory.rules.upn import parse_upn, upn_hash

KEY = b"test-upn-key-0123456789abcdef"
DFE = Path(__file__).parents[1] / "fixtures" / "mis" / "third_party" / "dfe-ctf"


def _ctf(pupils: str, lea: str = "661", estab: str = "2345") -> bytes:
    return (f"<CTfile><Header><CTFversion>25.0</CTFversion><SourceSchool><LEA>{lea}</LEA><Estab>{estab}</Estab>"
            f"<SchoolName>Ysgol</SchoolName></SourceSchool></Header><CTFpupilData>{pupils}</CTFpupilData>"
            "</CTfile>").encode()


def _pupil(names: str, upn: str = "N661234519001", extra: str = "") -> str:
    return (f"<Pupil><UPN>{upn}</UPN>{names}<DOB>2019-03-14</DOB><Sex>F</Sex>{extra}<SchoolHistory><School>"
            "<LEA>661</LEA><Estab>2345</Estab><EntryDate>2023-09-04</EntryDate></School></SchoolHistory></Pupil>")


def test_dfe_shaped_pupil_is_read_with_legal_preferred_names_and_a_derived_admission_number():
    [export] = ctf.parse("a.xml", (DFE / "6612345_CTF_001.xml").read_bytes(), KEY)
    assert (export.school, export.school_name) == ("6612345", "Ysgol Gynradd Brawf")
    gwen, dafydd, sian = export.learners
    assert (gwen.legal_surname, gwen.legal_forename, gwen.preferred_forename) == ("Llŵyd", "Gwenllïan", "Gwen")
    assert (sian.preferred_surname, sian.year_group, gwen.year_group) == ("Prys", "R", "2")
    assert (gwen.admission_date, gwen.enrolment_status, gwen.date_of_birth) == (date(2023, 9, 4), "C",
                                                                               date(2019, 3, 14))
    digest = upn_hash(parse_upn("N661234519001"), KEY)
    assert gwen.admission_number == "ctf-" + digest[:12] == gwen.reference
    assert len({gwen.admission_number, dafydd.admission_number, sian.admission_number}) == 3
    assert "661234519001" not in repr(export)


def test_the_derived_admission_number_is_the_same_on_every_run_and_in_every_file():
    first = ctf.parse("a.xml", _ctf(_pupil("<Surname>Llŵyd</Surname><Forename>Gwen</Forename>")), KEY)
    again = ctf.parse("b.xml", _ctf(_pupil("<Surname>Lloyd</Surname><Forename>Gwen</Forename>")), KEY)
    assert first[0].learners[0].admission_number == again[0].learners[0].admission_number


def test_an_admission_number_the_mis_adds_wins_over_the_derived_one():
    [export] = ctf.parse("a.xml", _ctf(_pupil("<Surname>Llŵyd</Surname><Forename>Gwen</Forename>",
                                              extra="<BasicDetails><AdmissionNumber>000101</AdmissionNumber>"
                                                    "</BasicDetails>")), KEY)
    assert export.learners[0].admission_number == "000101"


def test_without_a_valid_upn_there_is_no_admission_number_to_derive():
    [export] = ctf.parse("a.xml", _ctf(_pupil("<Surname>Llŵyd</Surname><Forename>Gwen</Forename>",
                                              upn="A661234519001")), KEY)
    record = export.learners[0]
    assert record.admission_number is None and record.reference == "a.xml, Pupil 1"


@pytest.mark.parametrize("names", [
    "<BasicDetails><LegalSurname>Llŵyd</LegalSurname><LegalForename>Gwenllïan</LegalForename></BasicDetails>",
    "<LegalSurname>Llŵyd</LegalSurname><LegalForename>Gwenllïan</LegalForename>",
    "<Surname>Llŵyd</Surname><Forename>Gwenllïan</Forename>",
])
def test_legal_names_are_read_wherever_the_file_writes_them(names):
    [export] = ctf.parse("a.xml", _ctf(_pupil(names)), KEY)
    assert (export.learners[0].legal_surname, export.learners[0].legal_forename) == ("Llŵyd", "Gwenllïan")


def test_a_non_ascii_digit_in_a_upn_or_year_group_is_an_error_not_a_crash():
    [export] = ctf.parse("a.xml", _ctf(_pupil("<Surname>Llŵyd</Surname><Forename>Gwen</Forename>",
                                              upn="N66123451900\u00b2",
                                              extra="<BasicDetails><NCyearActual>\uff10\uff12</NCyearActual>"
                                                    "</BasicDetails>")), KEY)
    record = export.learners[0]
    assert record.upn.error == "Invalid UPN"
    assert record.year_group == "\uff10\uff12"  # kept as written; the planner's year-group rules judge it


# -- several CTF files of one school are one export -------------------------------------------
def test_ctf_school_is_read_from_the_header_only():
    head = (DFE / "6612345_CTF_001.xml").read_bytes()[:HEADER_PEEK_BYTES]
    assert ctf_school(head) == "6612345"
    assert ctf_school(b"<CTfile><Header><DestSchool><LEA>661</LEA><Estab>9999</Estab></DestSchool>") is None
    assert ctf_school(b"<html>") is None


def test_two_ctf_files_of_one_school_are_one_bundle_and_one_export_with_every_pupil(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for source in sorted(DFE.iterdir()):
        (folder / source.name).write_bytes(source.read_bytes())
    (folder / "6619876_CTF_001.xml").write_bytes(
        _ctf(_pupil("<Surname>Evans</Surname><Forename>Tomos</Forename>", upn="G661234521006"), "661", "9876"))
    (folder / "broken.xml").write_bytes(b"<CTfile><Header>")
    bundles = find_bundles([folder])
    assert [len(files) for _, files in bundles] == [2, 1, 1]
    assert bundles[0][0] == f"{folder} (school 6612345, 2 CTF files)"
    [export] = parse_bundle(read_bundle(bundles[0][1]), KEY)
    assert export.school == "6612345" and len(export.files) == 2
    assert [r.legal_surname for r in export.learners] == ["Llŵyd", "ap Rhys", "Prŷs", "Wyn-Williams", "Ffransis"]
    assert export.learners[4].leaving_date == date(2026, 7, 17)


def test_ctf_files_of_different_schools_stay_separate_bundles(tmp_path):
    (tmp_path / "a.xml").write_bytes(_ctf("", "661", "2345"))
    (tmp_path / "b.xml").write_bytes(_ctf("", "661", "9876"))
    assert [name for name, _ in find_bundles([tmp_path])] == [str(tmp_path / "a.xml"), str(tmp_path / "b.xml")]


def test_ctf_files_of_one_school_named_one_by_one_are_one_bundle_too():
    files = sorted(DFE.iterdir())
    [(name, bundle)] = find_bundles(files)
    assert bundle == files and name == f"{DFE} (school 6612345, 2 CTF files)"
