"""OneRoster as other systems really write it (issue 13 point 7).

1.1 sets without enrollments' beginDate, 1.2 sets with roles.csv, enabledUser
false, status tobedeleted on every file, departments that must not rename the
school, and a user at several schools (dual registration: M at the first, S
at the others).
"""

from __future__ import annotations

from datetime import date

import pytest

from connectors.mis import oneroster
from connectors.mis.records import MISSING_UPN, FormatRefused
from directory.rules.upn import parse_upn, upn_hash

KEY = b"test-upn-key-0123456789abcdef"
UPN_A, UPN_B = "B801200005001", "H801200001001"

ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
la-661,active,2026-11-20T10:00:00Z,Gwynedd,district,661,
org-1,active,2026-11-20T10:00:00Z,Ysgol Uwchradd Eryri,school,6614001,la-661
dept-cym,active,2026-11-21T10:00:00Z,Adran Gymraeg,department,CYM,org-1
org-2,active,2026-11-20T10:00:00Z,Uned Cyfeirio Disgyblion,school,6611100,la-661
"""
USERS_11 = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,givenName,familyName,identifier,grades\n"
SESSIONS = """sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
term-1,active,2026-06-01,Tymor yr Hydref,term,2026-09-03,2026-12-20,year-1,2027
term-2,active,2026-06-01,Tymor y Gwanwyn,term,2027-01-06,2027-03-28,year-1,2027
"""
CLASSES = ("sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,"
           "schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n") + """\
c-7b,active,,Form 7B,07,,7B,homeroom,,org-1,"term-1,term-2",,,
c-cym,active,,Cymraeg 7,07,,7 Cy1,scheduled,,dept-cym,term-2,,,
"""


def _parse(**files: str) -> dict[str, oneroster.SchoolExport]:
    data = {f"export/{name.replace('_', '.')}": text.encode() for name, text in files.items()}
    return {export.school: export for export in oneroster.parse(data, KEY)}


def _users(*rows: str) -> str:
    return USERS_11 + "\n".join(rows) + "\n"


# -- dates -------------------------------------------------------------------------
def test_without_begin_date_the_admission_date_is_the_classes_earliest_session_start():
    enrolments = ("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,"
                  "beginDate,endDate\ne-1,active,,c-cym,org-1,u-1,student,false,,\ne-2,active,,c-7b,org-1,u-1,"
                  "student,true,,\n")
    schools = _parse(orgs_csv=ORGS, users_csv=_users(f"u-1,active,,true,org-1,student,Ffion,Prŷs,{UPN_A},07"),
                     enrollments_csv=enrolments, classes_csv=CLASSES, academicSessions_csv=SESSIONS)
    [ffion] = schools["6614001"].learners
    assert ffion.admission_date == date(2026, 9, 3)  # term-1, the earliest of term-1 and term-2
    assert (ffion.registration_group, ffion.classes) == ("7B", ("7 Cy1",))  # the department's class too


def test_without_begin_date_or_sessions_the_admission_date_is_the_exports_own_date():
    enrolments = ("sourcedId,classSourcedId,schoolSourcedId,userSourcedId,beginDate\ne-1,c-7b,org-1,u-1,\n")
    schools = _parse(orgs_csv=ORGS, users_csv=_users(f"u-1,active,2026-11-25,true,org-1,student,Ffion,Prŷs,{UPN_A},"),
                     enrollments_csv=enrolments)
    # No classes.csv: the latest dateLastModified of any file (users.csv's 2026-11-25 here).
    assert schools["6614001"].learners[0].admission_date == date(2026, 11, 25)


def test_with_no_date_anywhere_the_admission_date_stays_unknown():
    orgs = "sourcedId,name,type,identifier\norg-1,Ysgol,school,6614001\n"
    users = "sourcedId,orgSourcedIds,role,givenName,familyName,identifier\nu-1,org-1,student,Ffion,Prŷs,B801200005001\n"
    [export] = oneroster.parse({"orgs.csv": orgs.encode(), "users.csv": users.encode()}, KEY)
    assert export.learners[0].admission_date is None


def test_a_begin_date_wins_over_the_fallbacks_and_staff_get_the_same_chain():
    enrolments = ("sourcedId,classSourcedId,schoolSourcedId,userSourcedId,beginDate\ne-1,c-7b,org-1,u-1,2025-09-01\n"
                  "e-2,c-7b,org-1,u-3,\n")
    schools = _parse(orgs_csv=ORGS, users_csv=_users(f"u-1,active,,true,org-1,student,Ffion,Prŷs,{UPN_A},",
                                                     "u-3,active,,true,org-1,teacher,Ann,Jones,JNA,"),
                     enrollments_csv=enrolments, classes_csv=CLASSES, academicSessions_csv=SESSIONS)
    export = schools["6614001"]
    assert export.learners[0].admission_date == date(2025, 9, 1)
    assert export.staff[0].start_date == date(2026, 9, 3)


# -- gone: tobedeleted and enabledUser ---------------------------------------------------------
def test_disabled_and_tobedeleted_users_are_not_in_the_export():
    users = _users(f"u-1,active,,false,org-1,student,Ffion,Prŷs,{UPN_A},", f"u-2,tobedeleted,,true,org-1,student,"
                   f"Rhys,Wyn,{UPN_B},", "u-3,active,,FALSE,org-1,teacher,Ann,Jones,JNA,",
                   "u-4,active,,true,org-1,teacher,Huw,Davies,HDA,")
    export = _parse(orgs_csv=ORGS, users_csv=users)["6614001"]
    assert export.learners == ()
    assert [s.staff_code for s in export.staff] == ["HDA"]


def test_a_tobedeleted_school_org_is_no_school_and_tobedeleted_enrolments_and_roles_are_gone():
    orgs = ORGS.replace("org-2,active", "org-2,tobedeleted")
    enrolments = ("sourcedId,status,classSourcedId,schoolSourcedId,userSourcedId,beginDate,endDate\n"
                  "e-1,active,c-7b,org-1,u-1,2025-09-01,\ne-2,tobedeleted,c-7b,org-1,u-1,2020-09-01,2021-07-20\n")
    schools = _parse(orgs_csv=orgs, users_csv=_users(f"u-1,active,,true,\"org-1,org-2\",student,Ffion,Prŷs,{UPN_A},"),
                     enrollments_csv=enrolments, classes_csv=CLASSES)
    assert set(schools) == {"6614001"}
    [ffion] = schools["6614001"].learners
    assert (ffion.admission_date, ffion.leaving_date, ffion.enrolment_status) == (date(2025, 9, 1), None, None)


# -- orgs -----------------------------------------------------------------------------------
def test_only_school_orgs_name_a_school_and_a_departments_users_belong_to_its_school():
    users = _users(f"u-1,active,,true,dept-cym,student,Ffion,Prŷs,{UPN_A},", "u-3,active,,true,dept-cym,teacher,"
                   "Ann,Jones,JNA,")
    schools = _parse(orgs_csv=ORGS, users_csv=users)
    assert set(schools) == {"6614001", "6611100"}
    assert schools["6614001"].school_name == "Ysgol Uwchradd Eryri"  # never "Adran Gymraeg"
    assert [learner.upn.hash for learner in schools["6614001"].learners] == [upn_hash(parse_upn(UPN_A), KEY)]
    assert [s.staff_code for s in schools["6614001"].staff] == ["JNA"]


def test_a_file_with_only_departments_is_refused_saying_so():
    orgs = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\nd-1,active,,History,department,H,\n"
    with pytest.raises(FormatRefused, match="no org of type school with a DfES number"):
        _parse(orgs_csv=orgs, users_csv=_users("u-1,active,,true,d-1,student,Mary,Jones,,"))


def test_a_loop_of_parent_orgs_places_nobody():
    orgs = ORGS + "d-1,active,,Loop A,department,A,d-2\nd-2,active,,Loop B,department,B,d-1\n"
    export = _parse(orgs_csv=orgs, users_csv=_users(f"u-1,active,,true,d-1,student,Ffion,Prŷs,{UPN_A},"))
    assert all(not e.learners for e in export.values())


# -- dual registration -----------------------------------------------------------------------------
def test_a_user_under_two_school_orgs_is_main_at_the_first_and_subsidiary_at_the_other():
    users = _users(f'u-1,active,,true,"org-2,org-1",student,Ffion,Prŷs,{UPN_A},07',
                   f"u-2,active,,true,org-1,student,Rhys,Wyn,{UPN_B},07")
    schools = _parse(orgs_csv=ORGS, users_csv=users)
    assert [r.enrolment_status for r in schools["6611100"].learners] == ["M"]
    assert [(r.upn.hash == upn_hash(parse_upn(UPN_A), KEY), r.enrolment_status)
            for r in schools["6614001"].learners] == [(True, "S"), (False, None)]


def test_a_department_and_its_school_are_one_school_not_a_dual_registration():
    users = _users(f'u-1,active,,true,"org-1,dept-cym",student,Ffion,Prŷs,{UPN_A},07')
    [ffion] = _parse(orgs_csv=ORGS, users_csv=users)["6614001"].learners
    assert ffion.enrolment_status is None


# -- OneRoster 1.2 ---------------------------------------------------------------------------------------
USERS_12 = ("sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,"
            "identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,preferredGivenName,"
            "preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns\n")
ROLES = ("sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,"
         "userProfileSourcedId\n")
MANIFEST_12 = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\nfile.users,bulk\nfile.roles,bulk\n"


def _user_12(sourced_id: str, given: str, family: str, identifier: str, primary: str = "", preferred: str = "") -> str:
    return (f"{sourced_id},active,2026-11-01,true,,,{given},{family},,{identifier},,,,,07,,,{preferred},,,"
            f"{primary},")


def test_oneroster_12_reads_roles_from_roles_csv_with_the_primary_org_as_main():
    users = USERS_12 + "\n".join([
        _user_12("u-1", "Ffion", "Prŷs", UPN_A, primary="org-2", preferred="Ffi"),
        _user_12("u-3", "Ann", "Jones", "JNA"),
        _user_12("u-5", "Mam", "Prŷs", ""),
    ]) + "\n"
    roles = ROLES + "\n".join([
        "r-1,active,,u-1,primary,student,,,org-1,", "r-2,active,,u-1,secondary,student,,,org-2,",
        "r-3,active,,u-3,primary,teacher,,,dept-cym,", "r-4,active,,u-3,secondary,guardian,,,org-2,",
        "r-5,active,,u-5,primary,guardian,,,org-1,", "r-6,tobedeleted,,u-3,secondary,teacher,,,org-2,",
    ]) + "\n"
    schools = _parse(orgs_csv=ORGS, users_csv=users, roles_csv=roles, manifest_csv=MANIFEST_12)
    [main] = schools["6611100"].learners  # primaryOrgSourcedId org-2, although org-1 is its primary role
    [subsidiary] = schools["6614001"].learners
    assert (main.enrolment_status, subsidiary.enrolment_status) == ("M", "S")
    assert (main.legal_forename, main.preferred_forename, main.year_group) == ("Ffion", "Ffi", "7")
    assert [(s.staff_code, s.role) for s in schools["6614001"].staff] == [("JNA", "teacher")]
    assert schools["6611100"].staff == ()  # a guardian role and a tobedeleted one: no staff account


def test_oneroster_12_without_roles_csv_is_refused_saying_it_is_12_and_what_to_do():
    users = USERS_12 + _user_12("u-1", "Ffion", "Prŷs", UPN_A) + "\n"
    with pytest.raises(FormatRefused) as error:
        _parse(orgs_csv=ORGS, users_csv=users, manifest_csv=MANIFEST_12)
    assert str(error.value) == (
        "export/users.csv: users.csv has no orgSourcedIds / role columns: this is a OneRoster 1.2 export, whose "
        "roles are in roles.csv; export roles.csv too (or a OneRoster 1.1 set)")


def test_oneroster_11_with_missing_upn_is_still_a_learner_record():
    [rhys] = _parse(orgs_csv=ORGS, users_csv=_users("u-2,active,,true,org-1,student,Rhys,Wyn,,"))["6614001"].learners
    assert rhys.upn.error == MISSING_UPN and rhys.reference == "u-2"


@pytest.mark.parametrize(("grades", "year"), [("07", "7"), ("KG", "R"), ("PK", "N"), ("\uff10\uff17", "\uff10\uff17")])
def test_grades_use_ascii_digits_only(grades, year):
    users = _users(f"u-1,active,,true,org-1,student,Ffion,Prŷs,{UPN_A},{grades}")
    assert _parse(orgs_csv=ORGS, users_csv=users)["6614001"].learners[0].year_group == year


def test_a_delta_export_is_refused_since_everyone_missing_from_it_would_look_like_a_leaver():
    manifest = "propertyName,value\noneroster.version,1.1\nfile.orgs,bulk\nfile.users,delta\nfile.enrollments,Delta\n"
    with pytest.raises(FormatRefused) as error:
        _parse(orgs_csv=ORGS, users_csv=_users(f"u-1,active,,true,org-1,student,Ffion,Prŷs,{UPN_A},"),
               manifest_csv=manifest)
    assert str(error.value) == ("export/manifest.csv: file.users, file.enrollments are delta (only the changes since "
                                "the last export); Porth reconciles whole exports: export the set as bulk")
