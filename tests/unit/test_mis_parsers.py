"""MIS parsers on hand-written exports of each format, including hostile ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.mis import ctf, oneroster, porth_csv
from connectors.mis.detect import detect_format, parse_bundle
from connectors.mis.records import INVALID_UPN, MISSING_UPN, TEMPORARY_UPN, FormatRefused
from directory.rules.upn import parse_upn, upn_hash

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mis"
KEY = b"test-upn-key-0123456789abcdef"


def _folder(name: str) -> dict[str, bytes]:
    return {f"{name}/{p.name}": p.read_bytes() for p in sorted((FIXTURES / name).iterdir())}


def _ctf(name: str) -> bytes:
    return (FIXTURES / "ctf" / name).read_bytes()


# -- CTF ----------------------------------------------------------------------
def test_ctf_reads_the_school_and_every_pupil_field():
    [export] = ctf.parse("6612001.xml", _ctf("6612001.xml"), KEY)
    assert (export.school, export.school_name, export.format) == ("6612001", "Ysgol Gynradd Bryn Coch", "ctf")
    assert not export.has_staff
    gwen = export.learners[0]
    assert (gwen.legal_surname, gwen.legal_forename, gwen.preferred_forename) == ("Llŵyd", "Gwenllïan", "Gwen")
    assert gwen.upn.hash == upn_hash(parse_upn("B801200005001"), KEY)
    assert (gwen.admission_number, gwen.year_group, gwen.registration_group) == ("000101", "1", "1B")
    assert gwen.classes == ("1B", "Dosbarth Darllen")
    assert (gwen.date_of_birth, gwen.admission_date, gwen.leaving_date) == (date(2019, 3, 14), date(2024, 9, 3), None)
    assert gwen.enrolment_status == "C"


def test_ctf_upn_errors_and_dates_from_this_schools_history():
    [export] = ctf.parse("6612001.xml", _ctf("6612001.xml"), KEY)
    by_number = {learner.admission_number: learner for learner in export.learners}
    assert by_number["000102"].upn.error == MISSING_UPN
    assert by_number["000102"].year_group == "2"  # "02" as a year group
    assert by_number["000103"].upn.error == TEMPORARY_UPN
    assert by_number["000103"].admission_date == date(2026, 9, 1)
    megan = by_number["000104"]
    assert (megan.admission_date, megan.leaving_date) == (date(2021, 9, 1), date(2026, 7, 18))
    assert by_number["000105"].upn.error == INVALID_UPN
    assert "check letter" in by_number["000105"].upn.detail
    [problem] = export.problems
    assert (problem.record, problem.field, problem.source.location) == ("000105", "EntryDate", "Pupil 5")


def test_ctf_never_lets_the_upn_out():
    [export] = ctf.parse("6612001.xml", _ctf("6612001.xml"), KEY)
    assert "801200005001" not in repr(export)


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("billion-laughs.xml", "declares a DTD or entities"),
        ("external-entity.xml", "declares a DTD or entities"),
        ("truncated.xml", "not well-formed XML"),
        ("not-a-ctf.xml", "not a Common Transfer File (the root element is <html>)"),
    ],
)
def test_hostile_or_wrong_xml_is_refused_whole(fixture, reason):
    with pytest.raises(FormatRefused) as error:
        ctf.parse(fixture, _ctf(fixture), KEY)
    assert str(error.value).startswith(f"{fixture}: ")
    assert reason in str(error.value)
    assert "root:" not in str(error.value)  # nothing of /etc/passwd


def test_ctf_without_a_dfes_number_is_refused():
    with pytest.raises(FormatRefused, match="not a 7-digit DfES number"):
        ctf.parse("x.xml", b"<CTfile><Header><SourceSchool><LEA>66</LEA></SourceSchool></Header></CTfile>", KEY)


# -- OneRoster ------------------------------------------------------------------
def test_oneroster_learners_staff_groups_and_dates():
    [export] = oneroster.parse(_folder("oneroster"), KEY)
    assert (export.school, export.school_name) == ("6614001", "Ysgol Uwchradd Eryri")
    learners = {learner.admission_number: learner for learner in export.learners}
    assert set(learners) == {"004711", "004712"}  # u-6 is tobedeleted, u-5 a guardian
    ffion = learners["004711"]
    assert ffion.upn.hash == upn_hash(parse_upn("B801200005001"), KEY)
    assert (ffion.legal_surname, ffion.year_group, ffion.registration_group) == ("Prŷs", "7", "7B")
    assert ffion.classes == ("7 Ma2",)  # the tobedeleted class is gone
    assert ffion.admission_date == date(2026, 9, 2) and ffion.leaving_date is None
    rhys = learners["004712"]
    assert rhys.upn.error == MISSING_UPN and rhys.leaving_date == date(2026, 11, 1)
    staff = {s.staff_code: s for s in export.staff}
    assert set(staff) == {"JNA", "T101"}  # metadata.staffCode, else identifier
    jna = staff["JNA"]
    assert (jna.role, jna.start_date, jna.classes) == ("teacher", date(2020, 9, 1), ("7 Ma2",))


def test_oneroster_needs_users_and_orgs():
    files = _folder("oneroster")
    del files["oneroster/orgs.csv"]
    with pytest.raises(FormatRefused, match=r"needs users\.csv and orgs\.csv"):
        oneroster.parse(files, KEY)


# -- Porth CSV ------------------------------------------------------------------
def test_porth_csv_any_column_order_bom_and_windows_1252():
    [export] = porth_csv.parse(_folder("csv"), KEY)
    assert export.school == "6612002"
    learners = {learner.admission_number: learner for learner in export.learners}
    assert learners["000201"].legal_surname == "Llŵyd"  # UTF-8 with BOM
    assert learners["000201"].classes == ("3A", "Cerdd")
    assert learners["000202"].upn.hash == upn_hash(parse_upn("H801200001001"), KEY)  # lower case, padded
    assert learners["000202"].admission_date == date(2023, 9, 4)  # DD/MM/YYYY
    assert learners["000203"].legal_forename is None and learners["000203"].upn.error == INVALID_UPN
    assert learners["000204"].leaving_date == date(2026, 7, 20)
    assert learners["000205"].legal_surname == "Smith, Jr"
    staff = list(export.staff)
    assert [s.legal_surname for s in staff] == ["Siôn", "O'Neill", "Jones"]  # Windows-1252 staff.csv
    assert staff[1].staff_code is None


def test_porth_csv_reports_bad_records_by_line_and_reads_the_rest():
    [export] = porth_csv.parse(_folder("csv"), KEY)
    problems = {(p.source.location, p.field): p for p in export.problems}
    assert problems[("line 6", "admission_date")].record == "000205"
    assert "not a date" in problems[("line 6", "admission_date")].reason
    assert "'66120' is not a 7-digit DfES number" in problems[("line 8", "dfes")].reason
    assert len(export.learners) == 5


def test_porth_csv_missing_required_column_refuses_the_file():
    with pytest.raises(FormatRefused, match=r"learners.csv: missing column\(s\) admission_date, upn"):
        porth_csv.parse({"learners.csv": b"dfes,admission_number,legal_surname,legal_forename\n"}, KEY)


def test_binary_files_are_refused():
    with pytest.raises(FormatRefused, match="not text"):
        porth_csv.parse({"staff.csv": b"PK\x03\x04\x00\x00binary"}, KEY)


def test_a_100000_column_line_refuses_the_file_naming_it():
    header = "dfes,staff_code,legal_surname,legal_forename\n"
    wide = "6612002,S1,Jones," + ",".join(["x"] * 100_000) + "\n"
    good = "6612002,S2,Evans,Ann\n"
    with pytest.raises(FormatRefused, match=r"staff.csv: line 3 has 100003 fields but the header has 4"):
        porth_csv.parse({"staff.csv": (header + good + wide).encode()}, KEY)
    with pytest.raises(FormatRefused, match="the header has 100001 columns"):
        porth_csv.parse({"staff.csv": (",".join(["c"] * 100_001) + "\n").encode()}, KEY)


def test_a_field_over_the_size_limit_is_one_problem_and_the_rest_is_read():
    header = "dfes,staff_code,legal_surname,legal_forename\n"
    long_field = "6612002,S1,Jones," + "x" * 10_001 + "\n"
    [export] = porth_csv.parse({"staff.csv": (header + long_field + "6612002,S2,Evans,Ann\n").encode()}, KEY)
    assert [s.staff_code for s in export.staff] == ["S2"]
    assert "longer than 10000 characters" in export.problems[0].reason


def test_csv_cut_mid_record_is_refused_whole():
    text = (FIXTURES / "csv" / "learners.csv").read_bytes()
    cut = text[: text.index(b"000203") - 5]
    with pytest.raises(FormatRefused, match=r"learners.csv: line 4 has 2 fields but the header has 11"):
        porth_csv.parse({"learners.csv": cut}, KEY)


# -- Detection ------------------------------------------------------------------
def test_detect_format_by_file_names():
    assert detect_format(_folder("oneroster")) == "oneroster"
    assert detect_format(_folder("csv")) == "csv"
    assert detect_format({"a/6612001.xml": b""}) == "ctf"
    with pytest.raises(FormatRefused, match="cannot tell the format"):
        detect_format({"a/readme.txt": b""})


def test_a_file_given_the_wrong_format_is_refused_with_one_line():
    with pytest.raises(FormatRefused) as error:
        parse_bundle({"csv/learners.csv": (FIXTURES / "csv" / "learners.csv").read_bytes()}, KEY, fmt="ctf")
    assert str(error.value).startswith("csv/learners.csv: not well-formed XML")
    assert "\n" not in str(error.value)
