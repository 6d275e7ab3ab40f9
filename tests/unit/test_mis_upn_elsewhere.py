"""SPEC M-3: a UPN put in any other field refuses the record, names the field, never the value.

The record keeps the real UPN's hash (so the planner can still name it and not
take its account for a leaver), and its `reference` is then the source
location, not the UPN. Nothing of the record or of any problem holds the UPN.
"""

from __future__ import annotations

import pytest

from connectors.mis import ctf, oneroster, porth_csv
from connectors.mis.records import UPN_IN_OTHER_FIELD, RecordRefusal, looks_like_upn
from directory.rules.upn import parse_upn, upn_hash

KEY = b"test-upn-key-0123456789abcdef"
REAL = "H801200001001"  # the learner's UPN, in its own column
STRAY = "B801200005001"  # a UPN typed into another column
STRAY_DIGITS = "801200005001"


def _never_shown(export) -> None:
    text = repr(export)
    assert STRAY_DIGITS not in text
    assert "801200001001" not in text  # nor the real one


# -- Porth CSV ------------------------------------------------------------------
LEARNER_HEADER = ("dfes,admission_number,upn,legal_surname,legal_forename,preferred_surname,preferred_forename,"
                  "admission_date,registration_group,classes")
LEARNER_VALUES = {"admission_number": "000301", "legal_surname": "Llŵyd", "legal_forename": "Gwen",
                  "preferred_surname": "", "preferred_forename": "", "registration_group": "3A", "classes": "3A; Cerdd"}


@pytest.mark.parametrize("column", list(LEARNER_VALUES))
def test_porth_csv_learner_with_a_upn_in_another_column_is_refused_naming_it(column):
    values = dict(LEARNER_VALUES)
    values[column] = STRAY.lower() + " " if column != "classes" else f"3A; {STRAY}"
    row = ",".join(["6612002", values["admission_number"], REAL, values["legal_surname"], values["legal_forename"],
                    values["preferred_surname"], values["preferred_forename"], "2023-09-04",
                    values["registration_group"], values["classes"]])
    [export] = porth_csv.parse({"learners.csv": f"{LEARNER_HEADER}\n{row}\n".encode()}, KEY)
    [record] = export.learners
    assert record.refused == RecordRefusal(UPN_IN_OTHER_FIELD, column)
    assert record.upn.hash == upn_hash(parse_upn(REAL), KEY)  # still named, never a leaver
    if column == "admission_number":
        assert record.reference == "learners.csv, line 2"
    else:
        assert record.reference == "000301"
    _never_shown(export)


@pytest.mark.parametrize("column", ["staff_code", "legal_surname", "legal_forename", "role"])
def test_porth_csv_staff_with_a_upn_in_a_column_is_refused(column):
    values = {"staff_code": "JNA", "legal_surname": "Jones", "legal_forename": "Ann", "role": "Teacher"}
    values[column] = STRAY
    text = "dfes,staff_code,legal_surname,legal_forename,role\n6612002," + ",".join(values.values()) + "\n"
    [export] = porth_csv.parse({"staff.csv": text.encode()}, KEY)
    [record] = export.staff
    assert record.refused == RecordRefusal(UPN_IN_OTHER_FIELD, column)
    assert getattr(record, column) is None
    assert record.reference == ("staff.csv, line 2" if column == "staff_code" else "JNA")
    _never_shown(export)


def test_a_upn_in_a_date_or_school_column_is_never_quoted_in_the_problem():
    text = (f"{LEARNER_HEADER}\n6612002,000301,{REAL},Llŵyd,Gwen,,,{STRAY},3A,\n"
            f"{STRAY[:7]},000302,{REAL},Llŵyd,Gwen,,,2023-09-04,3A,\n{STRAY},000303,,Evans,Tomos,,,2023-09-04,3A,\n")
    [export] = porth_csv.parse({"learners.csv": text.encode()}, KEY)
    reasons = [p.reason for p in export.problems]
    assert "a value that is a UPN (not shown) is not a date (use YYYY-MM-DD or DD/MM/YYYY)" in reasons
    assert "a value that is a UPN (not shown) is not a 7-digit DfES number" in reasons
    assert STRAY_DIGITS not in repr(export.problems)


def test_an_ordinary_record_is_not_refused():
    row = f"6612002,000301,{REAL},Llŵyd,Gwen,,,2023-09-04,3A,3A"
    [export] = porth_csv.parse({"learners.csv": f"{LEARNER_HEADER}\n{row}\n".encode()}, KEY)
    assert export.learners[0].refused is None


@pytest.mark.parametrize("value", [STRAY, STRAY.lower(), f" {STRAY} ", "B801 2000 05001", f"UPN {STRAY}",
                                   "G80120000101A"])
def test_what_counts_as_a_upn_in_another_field(value):
    assert looks_like_upn(value)


@pytest.mark.parametrize("value", ["000301", "A801200005001", "B80120000500", "JNA", "Llŵyd", "", None])
def test_what_does_not(value):
    assert not looks_like_upn(value)


# -- OneRoster --------------------------------------------------------------------
ORGS = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg-1,active,,Ysgol,school,6614001,\n"
USERS = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,givenName,familyName,identifier,"
         "metadata.staffCode\n")
ENROLMENTS = ("sourcedId,classSourcedId,schoolSourcedId,userSourcedId,beginDate\n"
              "e-1,c-1,org-1,{user},2024-09-02\n")


def _oneroster(user_row: str, user: str) -> oneroster.SchoolExport:
    [export] = oneroster.parse({"orgs.csv": ORGS.encode(), "users.csv": (USERS + user_row + "\n").encode(),
                                "enrollments.csv": ENROLMENTS.format(user=user).encode()}, KEY)
    return export


def test_oneroster_sourced_id_that_is_a_upn_never_becomes_the_admission_number():
    export = _oneroster(f"{STRAY},active,,true,org-1,student,Ffion,Prŷs,{REAL},", STRAY)
    [record] = export.learners
    assert record.admission_number is None
    assert record.refused == RecordRefusal(UPN_IN_OTHER_FIELD, "sourcedId")
    assert record.upn.hash == upn_hash(parse_upn(REAL), KEY)
    assert record.reference == "users.csv, line 2"
    _never_shown(export)


@pytest.mark.parametrize(("row", "field"), [
    (f"u-1,active,,true,org-1,student,{STRAY},Prŷs,{REAL},", "givenName"),
    (f"u-1,active,,true,org-1,student,Ffion,{STRAY},{REAL},", "familyName"),
])
def test_oneroster_names_that_are_upns_refuse_the_learner(row, field):
    [record] = _oneroster(row, "u-1").learners
    assert record.refused == RecordRefusal(UPN_IN_OTHER_FIELD, field)


@pytest.mark.parametrize(("row", "field"), [
    (f"u-3,active,,true,org-1,teacher,Ann,Jones,{STRAY},", "identifier"),
    (f"u-3,active,,true,org-1,teacher,Ann,Jones,T100,{STRAY}", "metadata.staffCode"),
])
def test_oneroster_staff_code_that_is_a_upn_refuses_the_staff_record(row, field):
    export = _oneroster(row, "u-3")
    [record] = export.staff
    assert record.staff_code is None and record.refused == RecordRefusal(UPN_IN_OTHER_FIELD, field)
    _never_shown(export)


# -- CTF ----------------------------------------------------------------------------
def _ctf(pupil: str) -> bytes:
    return (
        "<CTfile><Header><SourceSchool><LEA>661</LEA><Estab>2001</Estab></SourceSchool></Header>"
        f"<CTFpupilData><Pupil><UPN>{REAL}</UPN>{pupil}<SchoolHistory><School><LEA>661</LEA><Estab>2001</Estab>"
        "<EntryDate>2024-09-03</EntryDate></School></SchoolHistory></Pupil></CTFpupilData></CTfile>"
    ).encode()


PREFERRED_IS_A_UPN = (f"<Surname>Llŵyd</Surname><Forename>Gwen</Forename><BasicDetails><PreferredForename>{STRAY}"
                      "</PreferredForename></BasicDetails>")


@pytest.mark.parametrize(("pupil", "field"), [
    (f"<Surname>Llŵyd</Surname><Forename>Gwen</Forename><AdmissionNumber>{STRAY}</AdmissionNumber>",
     "AdmissionNumber"),
    (f"<Surname>{STRAY}</Surname><Forename>Gwen</Forename>", "Surname"),
    (PREFERRED_IS_A_UPN, "PreferredForename"),
])
def test_ctf_upn_in_another_element_refuses_the_pupil(pupil, field):
    [export] = ctf.parse("x.xml", _ctf(pupil), KEY)
    [record] = export.learners
    assert record.refused == RecordRefusal(UPN_IN_OTHER_FIELD, field)
    assert record.upn.hash == upn_hash(parse_upn(REAL), KEY)
    _never_shown(export)
