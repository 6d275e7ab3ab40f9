"""OneRoster 1.1 bulk CSV: orgs.csv, users.csv, enrollments.csv, classes.csv.

Where Porth reads each field (docs/mis-formats.md):
- school: orgs.csv rows of type `school`; their `identifier` is the DfES number
- learners: users.csv role `student`; staff: roles `teacher`, `aide`, `administrator`
- UPN: the `metadata.upn` column of users.csv when present, else `identifier`
- admission number: `metadata.admissionNumber`, else `sourcedId`
- staff code: `metadata.staffCode`, else `identifier`
- admission / start date and leaving date: the user's enrollments at the
  school (earliest `beginDate`; latest `endDate` when every enrollment has one)
- users or enrollments with `status` `tobedeleted` are left out: to Porth
  they are no longer in the export
- year group: `grades` (CEDS codes: 07 -> 7, KG -> R, PK -> N)
- registration group: the `homeroom` class the user is enrolled in; other
  classes: the titles of the other classes
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TypedDict

from connectors.mis.records import (
    ExportBuilder,
    FormatRefused,
    LearnerRecord,
    Problem,
    SchoolExport,
    Source,
    StaffRecord,
    UpnField,
)
from connectors.mis.text import CsvRows, blank_to_none, is_dfes, parse_date

FORMAT = "oneroster"


class _Enrolment(TypedDict):
    """A user's enrolments at one school: their dates, classes and registration group."""

    begin: list[str]
    end: list[str]
    classes: list[str]
    homeroom: str | None
STAFF_ROLES = {"teacher", "aide", "administrator"}
_GRADES = {"PK": "N", "KG": "R", "TK": "R"}


def _file(files: Mapping[str, bytes], wanted: str) -> str | None:
    for name in files:
        if name.rsplit("/", 1)[-1].lower() == wanted:
            return name
    return None


def _grade(grades: str | None) -> str | None:
    if not grades:
        return None
    first = grades.split(",")[0].strip()
    if first.isdigit():
        return first.lstrip("0") or "0"
    return _GRADES.get(first.upper(), first)


def _date(value: str | None, source: Source, field: str, builder: ExportBuilder, school: str,
          reference: str | None) -> date | None:
    try:
        return parse_date(value)
    except ValueError as exc:
        builder.add_problem(school, Problem(source, field, str(exc), reference))
        return None


def parse(files: Mapping[str, bytes], upn_key: bytes) -> list[SchoolExport]:
    users_name, orgs_name = _file(files, "users.csv"), _file(files, "orgs.csv")
    if users_name is None or orgs_name is None:
        raise FormatRefused("a OneRoster export needs users.csv and orgs.csv")
    builder = ExportBuilder(FORMAT, tuple(sorted(files)))

    schools: dict[str, str] = {}  # org sourcedId -> DfES
    for line, row in CsvRows(orgs_name, files[orgs_name], {"sourcedid", "name", "type", "identifier"}):
        if isinstance(row, str) or row["type"].lower() != "school":
            continue
        if not is_dfes(row["identifier"]):
            builder.add_unplaced_problem(Problem(Source(orgs_name, f"line {line}"), "identifier",
                                                 f"{row['identifier']!r} is not a 7-digit DfES number"))
            continue
        schools[row["sourcedid"]] = row["identifier"]
        builder.names[row["identifier"]] = row["name"]
        builder.ensure_school(row["identifier"])

    classes: dict[str, tuple[str, str]] = {}  # class sourcedId -> (title, classType)
    classes_name = _file(files, "classes.csv")
    if classes_name:
        for _, row in CsvRows(classes_name, files[classes_name], {"sourcedid", "title"}):
            if not isinstance(row, str) and row.get("status", "active").lower() != "tobedeleted":
                classes[row["sourcedid"]] = (row.get("classcode") or row["title"], row.get("classtype", "").lower())

    enrolments: dict[tuple[str, str], _Enrolment] = {}  # (user, org) -> dates and classes
    enrolments_name = _file(files, "enrollments.csv")
    if enrolments_name:
        for _, row in CsvRows(enrolments_name, files[enrolments_name],
                              {"sourcedid", "classsourcedid", "schoolsourcedid", "usersourcedid"}):
            if isinstance(row, str) or row.get("status", "active").lower() == "tobedeleted":
                continue
            entry = enrolments.setdefault((row["usersourcedid"], row["schoolsourcedid"]),
                                          {"begin": [], "end": [], "classes": [], "homeroom": None})
            entry["begin"].append(row.get("begindate", ""))
            entry["end"].append(row.get("enddate", ""))
            title, kind = classes.get(row["classsourcedid"], (None, ""))
            if title and kind == "homeroom":
                entry["homeroom"] = title
            elif title:
                entry["classes"].append(title)

    for line, row in CsvRows(users_name, files[users_name],
                             {"sourcedid", "role", "givenname", "familyname", "orgsourcedids"}):
        source = Source(users_name, f"line {line}")
        if isinstance(row, str):
            builder.add_unplaced_problem(Problem(source, None, row))
            continue
        role = row["role"].lower()
        if row.get("status", "active").lower() == "tobedeleted":
            continue
        if role != "student" and role not in STAFF_ROLES:
            continue  # parents, guardians, relatives: no accounts
        for org in (o.strip() for o in row["orgsourcedids"].split(",") if o.strip()):
            school = schools.get(org)
            if school is None:
                continue
            no_enrolment: _Enrolment = {"begin": [], "end": [], "classes": [], "homeroom": None}
            enrolment = enrolments.get((row["sourcedid"], org), no_enrolment)
            begins = sorted(d for d in enrolment["begin"] if d)
            ends = sorted(d for d in enrolment["end"] if d)
            begin = begins[0] if begins else None
            # Left only when every enrolment at the school has ended.
            end = ends[-1] if ends and len(ends) == len(enrolment["end"]) else None
            if role == "student":
                reference = blank_to_none(row.get("metadata_admissionnumber")) or row["sourcedid"]
                upn_raw = row.get("metadata_upn") if "metadata_upn" in row else row.get("identifier")
                builder.add_learner(LearnerRecord(
                    source=source, school=school, admission_number=reference,
                    upn=UpnField.from_raw(upn_raw, upn_key),
                    legal_surname=blank_to_none(row["familyname"]), legal_forename=blank_to_none(row["givenname"]),
                    preferred_forename=blank_to_none(row.get("preferredgivenname")),
                    preferred_surname=blank_to_none(row.get("preferredfamilyname")),
                    admission_date=_date(begin, source, "beginDate", builder, school, reference),
                    leaving_date=_date(end, source, "endDate", builder, school, reference),
                    year_group=_grade(row.get("grades")),
                    registration_group=enrolment["homeroom"],
                    classes=tuple(dict.fromkeys(enrolment["classes"])),
                ))
            else:
                staff_code = blank_to_none(row.get("metadata_staffcode")) or blank_to_none(row.get("identifier"))
                builder.add_staff(StaffRecord(
                    source=source, school=school, staff_code=staff_code,
                    legal_surname=blank_to_none(row["familyname"]), legal_forename=blank_to_none(row["givenname"]),
                    start_date=_date(begin, source, "beginDate", builder, school, staff_code),
                    leaving_date=_date(end, source, "endDate", builder, school, staff_code),
                    role=role, classes=tuple(dict.fromkeys(enrolment["classes"])),
                ))
    return builder.build(has_learners=True, has_staff=True)
