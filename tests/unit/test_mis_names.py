"""Issue 15 point 4: names are cleaned where they enter (SPEC M-9, A-2; directory/rules/names.py).

Every MIS reader refuses a record whose name field holds a control character (tabs and line breaks inside
the name too) or a Unicode noncharacter, or has no letter: the record is refused whole with `Invalid name`,
naming the field and the problem, never quoting the value, and keeping what identifies it (its UPN hash or
staff code) so its account is not taken for a leaver."""

from __future__ import annotations

import csv
import io
from xml.sax.saxutils import escape

import pytest

from connectors.mis import ctf, oneroster, porth_csv
from connectors.mis.records import INVALID_NAME
from directory.rules.names import CONTROL_CHARACTERS, NO_LETTER, NONCHARACTERS, name_problem
from directory.rules.upn import parse_upn, upn_hash

KEY = b"test-upn-key-0123456789abcdef"
UPN = "H801200001001"

# (a name as the MIS wrote it, the problem it has): what any reader must refuse
BAD = [
    ("Jo\x01nes", CONTROL_CHARACTERS), ("Jo\x1bnes", CONTROL_CHARACTERS), ("Jo\tnes", CONTROL_CHARACTERS),
    ("Jo\nnes", CONTROL_CHARACTERS), ("Jo\r\nnes", CONTROL_CHARACTERS), ("Jones\x7f", CONTROL_CHARACTERS),
    ("Jo\x85nes", CONTROL_CHARACTERS), ("Jo\x9bnes", CONTROL_CHARACTERS),
    ("Jones\ufffe", NONCHARACTERS), ("Jones\uffff", NONCHARACTERS), ("Jo\ufdd0nes", NONCHARACTERS),
    ("Jo\ufdefnes", NONCHARACTERS), ("Jones\U0001fffe", NONCHARACTERS), ("Jones\U0010ffff", NONCHARACTERS),
    ("123", NO_LETTER), ("\U0001f600", NO_LETTER), ("- '", NO_LETTER), ("٣", NO_LETTER),
]
# What XML 1.0 can carry at all (Char production): a CTF can only ever hold these.
IN_XML = [(name, problem) for name, problem in BAD
          if all(ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD
                 or 0x10000 <= ord(ch) <= 0x10FFFF for ch in name)]
GOOD = ["Llŵyd", "O'Neill-ap Gwŷn", "王", "Αλέξης", "Nguyễn", "Smith 2nd", "Jones\u200d"]


@pytest.mark.parametrize(("name", "problem"), BAD)
def test_the_rule_names_the_problem(name, problem):
    assert name_problem(name) == problem


@pytest.mark.parametrize("name", GOOD)
def test_real_names_of_any_script_pass(name):
    assert name_problem(name) is None


def test_a_lone_surrogate_is_not_a_character():
    assert name_problem("Jo\udc80nes") == NONCHARACTERS


def csv_text(header: list[str], row: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, row])
    return out.getvalue().encode("utf-8")


def assert_refused(record, field: str, problem: str, name: str) -> None:
    assert record.refused is not None and record.refused.error == INVALID_NAME
    assert record.refused.field == field and problem in (record.refused.detail or "")
    assert name.strip() not in f"{record.refused}"  # named by field, never quoted


# -- Porth CSV ------------------------------------------------------------------------------------
LEARNER_HEADER = ["dfes", "admission_number", "upn", "legal_surname", "legal_forename", "preferred_surname",
                  "preferred_forename", "admission_date"]


@pytest.mark.parametrize("column", ["legal_surname", "legal_forename", "preferred_surname", "preferred_forename"])
@pytest.mark.parametrize(("name", "problem"), BAD)
def test_porth_csv_refuses_a_learner_whose_name_is_no_name(column, name, problem):
    values = {"dfes": "6612002", "admission_number": "000301", "upn": UPN, "legal_surname": "Llŵyd",
              "legal_forename": "Gwen", "preferred_surname": "", "preferred_forename": "",
              "admission_date": "2023-09-04", column: name}
    [export] = porth_csv.parse({"learners.csv": csv_text(LEARNER_HEADER, list(values.values()))}, KEY)
    [record] = export.learners
    assert_refused(record, column, problem, name)
    assert record.reference == "000301" and record.upn.hash == upn_hash(parse_upn(UPN), KEY)


@pytest.mark.parametrize(("name", "problem"), BAD[::3])
def test_porth_csv_refuses_a_staff_member_whose_name_is_no_name(name, problem):
    text = csv_text(["dfes", "staff_code", "legal_surname", "legal_forename"], ["6612002", "JNA", "Jones", name])
    [record] = porth_csv.parse({"staff.csv": text}, KEY)[0].staff
    assert_refused(record, "legal_forename", problem, name)
    assert record.staff_code == "JNA"


def test_whitespace_around_a_name_is_still_dropped_as_before():
    values = ["6612002", "000301", UPN, " Llŵyd\t", "Gwen ", "", "", "2023-09-04"]
    [record] = porth_csv.parse({"learners.csv": csv_text(LEARNER_HEADER, values)}, KEY)[0].learners
    assert record.refused is None and record.legal_surname == "Llŵyd"


# -- OneRoster ------------------------------------------------------------------------------------
ORGS = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg-1,active,,Ysgol,school,6614001,\n"
USERS = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "givenName",
         "familyName", "identifier", "preferredGivenName"]
ENROLMENTS = "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,beginDate\ne-1,c-1,org-1,u-1,2024-09-02\n"


def _oneroster(role: str, given: str, family: str, preferred: str = "", identifier: str = UPN):
    row = ["u-1", "active", "", "true", "org-1", role, given, family, identifier, preferred]
    [export] = oneroster.parse({"orgs.csv": ORGS.encode(), "users.csv": csv_text(USERS, row),
                                "enrollments.csv": ENROLMENTS.encode()}, KEY)
    return export


@pytest.mark.parametrize(("name", "problem"), BAD)
def test_oneroster_refuses_a_learner_whose_name_is_no_name(name, problem):
    for given, family, preferred, field in ((name, "Prŷs", "", "givenName"), ("Ffion", name, "", "familyName"),
                                            ("Ffion", "Prŷs", name, "preferredGivenName")):
        [record] = _oneroster("student", given, family, preferred).learners
        assert_refused(record, field, problem, name)
        assert record.upn.hash == upn_hash(parse_upn(UPN), KEY)


@pytest.mark.parametrize(("name", "problem"), BAD[::3])
def test_oneroster_refuses_a_teacher_whose_name_is_no_name(name, problem):
    [record] = _oneroster("teacher", "Ann", name, identifier="T100").staff
    assert_refused(record, "familyName", problem, name)
    assert record.staff_code == "T100"


# -- CTF ------------------------------------------------------------------------------------------
def _ctf(pupil: str) -> bytes:
    return (
        "<CTfile><Header><SourceSchool><LEA>661</LEA><Estab>2001</Estab></SourceSchool></Header>"
        f"<CTFpupilData><Pupil><UPN>{UPN}</UPN>{pupil}<SchoolHistory><School><LEA>661</LEA><Estab>2001</Estab>"
        "<EntryDate>2024-09-03</EntryDate></School></SchoolHistory></Pupil></CTFpupilData></CTfile>"
    ).encode()


def xml_text(name: str) -> str:
    """The name as a CTF writer would put it: escaped, with tabs and line breaks as character references
    (a literal line break in an element is also read as one)."""
    return escape(name).replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


@pytest.mark.parametrize(("name", "problem"), IN_XML)
def test_ctf_refuses_a_pupil_whose_name_is_no_name(name, problem):
    for pupil, field in ((f"<Surname>{xml_text(name)}</Surname><Forename>Gwen</Forename>", "Surname"),
                         (f"<Surname>Llŵyd</Surname><Forename>{xml_text(name)}</Forename>", "Forename"),
                         (("<Surname>Llŵyd</Surname><Forename>Gwen</Forename><BasicDetails><PreferredSurname>"
                           f"{xml_text(name)}</PreferredSurname></BasicDetails>"), "PreferredSurname"),
                         ((f"<BasicDetails><LegalSurname>Llŵyd</LegalSurname><LegalForename>{xml_text(name)}"
                           "</LegalForename></BasicDetails>"), "Forename")):
        [record] = ctf.parse("x.xml", _ctf(pupil), KEY)[0].learners
        assert_refused(record, field, problem, name)
        assert record.upn.hash == upn_hash(parse_upn(UPN), KEY)


def test_ctf_pretty_printed_names_are_read_as_before():
    [record] = ctf.parse("x.xml", _ctf("<Surname>\n   Llŵyd\n</Surname><Forename>Gwen</Forename>"), KEY)[0].learners
    assert record.refused is None and record.legal_surname == "Llŵyd"
