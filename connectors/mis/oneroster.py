"""OneRoster 1.1 and 1.2 bulk CSV: orgs, users, enrollments, classes, academicSessions (1.2: roles).

Where Porth reads each field (docs/mis-formats.md):
- school: orgs.csv rows of type `school`; their `identifier` is the DfES number.
  Only a school org sets a school's name; a user listed under a `department`
  (or any other non-school org) belongs to the school its `parentSourcedId`
  leads to, else to none.
- users and roles: 1.1 users.csv `orgSourcedIds` + `role`; 1.2 roles.csv
  (`userSourcedId`, `roleType`, `role`, `orgSourcedId`), the primary role first.
  Learners: role `student`; staff: STAFF_ROLES; others (parents...) are ignored.
- UPN: the `metadata.upn` column of users.csv when present, else `identifier`
- admission number: `metadata.admissionNumber`, else `sourcedId`
- staff code: `metadata.staffCode`, else `identifier`
- admission / start date: the earliest `beginDate` of the user's enrollments at
  the school; else (beginDate is optional in 1.1) the earliest `startDate` of
  the academic sessions (`termSourcedIds`) of those enrollments' classes; else
  the export's own date, the latest `dateLastModified` in its files; else none.
- leaving date: the latest `endDate` when every enrollment at the school has one
- a manifest.csv saying users, orgs, enrollments or roles are `delta` refuses
  the set: Porth reconciles whole (bulk) exports only
- gone: users, orgs, classes, enrollments, roles and sessions with `status`
  `tobedeleted`, and users with `enabledUser` false, are not in the export:
  their accounts are handled as leavers by absence, like anyone missing.
- dual registration: a user at several schools of the file is main (`M`) at
  the first (1.2: `primaryOrgSourcedId`; 1.1: first of `orgSourcedIds`) and
  subsidiary (`S`) at the others; at one school, no enrolment status.
- year group: `grades` (CEDS codes: 07 -> 7, KG -> R, PK -> N)
- registration group: the `homeroom` class the user is enrolled in; other
  classes: the classCode (else title) of the other classes
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from connectors.mis.records import (
    ExportBuilder,
    FormatRefused,
    LearnerRecord,
    Problem,
    SchoolExport,
    Source,
    StaffRecord,
    UpnField,
    refuse_bad_names,
    refuse_upns,
    safe_reference,
    shown,
)
from connectors.mis.text import CsvRows, blank_to_none, is_ascii_number, is_dfes, parse_date

FORMAT = "oneroster"
STUDENT = "student"
# 1.1 roles teacher, aide, administrator; 1.2 adds siteAdministrator and principal.
STAFF_ROLES = {"teacher", "aide", "administrator", "siteadministrator", "principal"}
_GRADES = {"PK": "N", "KG": "R", "TK": "R"}
_FALSE = {"false", "0", "no", "n"}
# A department inside a department inside a school: a deeper chain is a loop.
_MAX_ORG_DEPTH = 8
ONEROSTER_12_HINT = (
    "users.csv has no orgSourcedIds / role columns: this is a OneRoster 1.2 export, whose roles are in "
    "roles.csv; export roles.csv too (or a OneRoster 1.1 set)"
)


@dataclass
class _Enrolment:
    """A user's enrolments at one school: their dates, classes and registration group."""

    begin: list[str] = field(default_factory=list)
    end: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    homeroom: str | None = None


@dataclass(frozen=True)
class _Class:
    title: str
    kind: str
    terms: tuple[str, ...]


def _file(files: Mapping[str, bytes], wanted: str) -> str | None:
    for name in files:
        if name.rsplit("/", 1)[-1].lower() == wanted:
            return name
    return None


def _grade(grades: str | None) -> str | None:
    if not grades:
        return None
    first = grades.split(",")[0].strip()
    if is_ascii_number(first):
        return first.lstrip("0") or "0"
    return _GRADES.get(first.upper(), first)


def _gone(row: Mapping[str, str]) -> bool:
    return row.get("status", "").strip().lower() == "tobedeleted"


def _split(ids: str | None) -> list[str]:
    return [part.strip() for part in (ids or "").split(",") if part.strip()]


def _day(value: str | None) -> date | None:
    try:
        return parse_date(value)
    except ValueError:
        return None


def _dates(enrolment: _Enrolment, fallback: date | None, source: Source, builder: ExportBuilder, school: str,
           reference: str | None) -> tuple[date | None, date | None]:
    """(admission or start date, leaving date) from the user's enrolments at the school.

    The earliest beginDate, else `fallback`; the latest endDate once every
    enrolment at the school has one (left only when all have ended).
    """
    def read(values: list[str], column: str) -> list[date | None]:
        found: list[date | None] = []
        for value in values:
            try:
                found.append(parse_date(value))
            except ValueError as exc:
                builder.add_problem(school, Problem(source, column, str(exc), reference))
                found.append(None)
        return found

    begins = [d for d in read(enrolment.begin, "beginDate") if d]
    ends = read(enrolment.end, "endDate")
    end = max(d for d in ends if d) if ends and all(ends) else None
    return (min(begins) if begins else fallback), end


class _Export:
    """The whole file set, read once, so each user can be placed and dated."""

    def __init__(self, files: Mapping[str, bytes]):
        self.files = files
        self.builder = ExportBuilder(FORMAT, tuple(sorted(files)))
        self.latest_change: date | None = None
        self.columns: dict[str, set[str]] = {}

    def rows(self, wanted: str, required: set[str]) -> list[tuple[int, str, Mapping[str, str]]]:
        """(line, file, row) of a file's rows; the export date is followed on the way."""
        name = _file(self.files, wanted)
        if name is None:
            return []
        found: list[tuple[int, str, Mapping[str, str]]] = []
        rows = CsvRows(name, self.files[name], required)
        self.columns[wanted] = set(rows.columns)
        for line, row in rows:
            if isinstance(row, str):
                self.builder.add_unplaced_problem(Problem(Source(name, f"line {line}"), None, row))
                continue
            changed = _day(row.get("datelastmodified"))
            if changed and (self.latest_change is None or changed > self.latest_change):
                self.latest_change = changed
            found.append((line, name, row))
        return found


# A delta file holds only what changed since the last export: read as a full export, everyone
# missing from it would look like a leaver.
_MUST_BE_BULK = ("file.orgs", "file.users", "file.enrollments", "file.roles")


def _manifest(files: Mapping[str, bytes]) -> dict[str, str]:
    """manifest.csv's properties (lower-cased names); empty when there is none (it is optional to Porth)."""
    name = _file(files, "manifest.csv")
    if name is None:
        return {}
    properties = {}
    for _, row in CsvRows(name, files[name], {"propertyname", "value"}):
        if not isinstance(row, str):
            properties[row["propertyname"].lower()] = row["value"].strip().lower()
    delta = [key for key in _MUST_BE_BULK if properties.get(key) == "delta"]
    if delta:
        verb = "is" if len(delta) == 1 else "are"
        raise FormatRefused(f"{name}: {', '.join(delta)} {verb} delta (only the changes since the last export); "
                            "Porth reconciles whole exports: export the set as bulk")
    return properties


def parse(files: Mapping[str, bytes], upn_key: bytes) -> list[SchoolExport]:
    users_name, orgs_name = _file(files, "users.csv"), _file(files, "orgs.csv")
    if users_name is None or orgs_name is None:
        raise FormatRefused("a OneRoster export needs users.csv and orgs.csv")
    manifest = _manifest(files)
    export = _Export(files)
    builder = export.builder

    # -- orgs: schools, and where departments belong ------------------------------------
    schools: dict[str, str] = {}  # school org sourcedId -> DfES
    parents: dict[str, str] = {}  # non-school org sourcedId -> parentSourcedId
    for line, name, row in export.rows("orgs.csv", {"sourcedid", "name", "type", "identifier"}):
        if _gone(row):
            continue
        if row["type"].lower() != "school":
            if row.get("parentsourcedid"):
                parents[row["sourcedid"]] = row["parentsourcedid"]
            continue
        if not is_dfes(row["identifier"]):
            builder.add_unplaced_problem(Problem(Source(name, f"line {line}"), "identifier",
                                                 f"{shown(row['identifier'])} is not a 7-digit DfES number"))
            continue
        schools[row["sourcedid"]] = row["identifier"]
        builder.names[row["identifier"]] = row["name"]
        builder.ensure_school(row["identifier"])

    def school_of(org: str) -> str | None:
        """The school org an org is, or belongs to (a department's parent school)."""
        for _ in range(_MAX_ORG_DEPTH):
            if org in schools:
                return org
            if org not in parents:
                return None
            org = parents[org]
        return None

    # -- academic sessions and classes ---------------------------------------------------
    term_starts: dict[str, date] = {}
    for _, _, row in export.rows("academicsessions.csv", {"sourcedid"}):
        start = _day(row.get("startdate"))
        if start and not _gone(row):
            term_starts[row["sourcedid"]] = start
    classes: dict[str, _Class] = {}
    for _, _, row in export.rows("classes.csv", {"sourcedid", "title"}):
        if not _gone(row):
            classes[row["sourcedid"]] = _Class(row.get("classcode") or row["title"], row.get("classtype", "").lower(),
                                               tuple(_split(row.get("termsourcedids"))))

    # -- enrollments, per user and school ------------------------------------------------
    enrolments: dict[tuple[str, str], _Enrolment] = {}
    for _, _, row in export.rows("enrollments.csv",
                                 {"sourcedid", "classsourcedid", "schoolsourcedid", "usersourcedid"}):
        school_org = school_of(row["schoolsourcedid"])
        if _gone(row) or school_org is None:
            continue
        entry = enrolments.setdefault((row["usersourcedid"], school_org), _Enrolment())
        entry.begin.append(row.get("begindate", ""))
        entry.end.append(row.get("enddate", ""))
        klass = classes.get(row["classsourcedid"])
        if klass is None:
            continue
        entry.terms.extend(klass.terms)
        if klass.kind == "homeroom":
            entry.homeroom = klass.title
        else:
            entry.classes.append(klass.title)

    # -- roles: 1.1 in users.csv, 1.2 in roles.csv ----------------------------------------
    users = export.rows("users.csv", {"sourcedid", "givenname", "familyname"})
    has_11_roles = {"orgsourcedids", "role"} <= export.columns["users.csv"]
    has_roles_file = _file(files, "roles.csv") is not None
    if not has_11_roles and not has_roles_file:
        raise FormatRefused(f"{users_name}: {ONEROSTER_12_HINT}")
    is_12 = has_roles_file and (not has_11_roles or manifest.get("oneroster.version", "").startswith("1.2"))
    roles: dict[str, list[tuple[str, str]]] = {}  # user -> [(org, role)], primary roles first
    if is_12:
        roles_rows = export.rows("roles.csv", {"usersourcedid", "role", "orgsourcedid"})
        for _, _, row in sorted(roles_rows, key=lambda r: r[2].get("roletype", "").lower() != "primary"):
            if not _gone(row):
                roles.setdefault(row["usersourcedid"], []).append((row["orgsourcedid"], row["role"].lower()))

    for line, name, row in users:
        source = Source(name, f"line {line}")
        if _gone(row) or row.get("enableduser", "").strip().lower() in _FALSE:
            continue  # not in the export: an existing account is a leaver by absence
        if is_12:
            user_roles = roles.get(row["sourcedid"], [])
            primary = school_of(row.get("primaryorgsourcedid", ""))
            if primary:
                user_roles.sort(key=lambda org_role: school_of(org_role[0]) != primary)
        else:
            user_roles = [(org, row["role"].lower()) for org in _split(row["orgsourcedids"])]
        placed: dict[str, str] = {}  # school org -> role, in order (the first is the main school)
        for org, role in user_roles:
            school_org = school_of(org)
            if school_org and school_org not in placed and (role == STUDENT or role in STAFF_ROLES):
                placed[school_org] = role
        for index, (school_org, role) in enumerate(placed.items()):
            school = schools[school_org]
            status = None if len(placed) == 1 else ("M" if index == 0 else "S")
            _add_user(export, row, source, school, school_org, role, status, enrolments, term_starts, upn_key)

    if not builder.schools and not builder.unplaced:
        raise FormatRefused(f"{orgs_name}: no org of type school with a DfES number (departments and districts "
                            "never make a school)")
    return builder.build(has_learners=True, has_staff=True)


def _add_user(export: _Export, row: Mapping[str, str], source: Source, school: str, school_org: str, role: str,
              status: str | None, enrolments: Mapping[tuple[str, str], _Enrolment],
              term_starts: Mapping[str, date], upn_key: bytes) -> None:
    builder = export.builder
    enrolment = enrolments.get((row["sourcedid"], school_org), _Enrolment())
    session_starts = sorted(term_starts[t] for t in enrolment.terms if t in term_starts)
    # beginDate is optional in 1.1: then the class's session start, then the export's date.
    fallback = session_starts[0] if session_starts else export.latest_change
    person_names = {"legal_surname": "familyName", "legal_forename": "givenName",
                    "preferred_surname": "preferredFamilyName", "preferred_forename": "preferredGivenName"}
    names = {**person_names, "registration_group": "homeroom class", "classes": "classes"}
    raw_names = {label: row.get(label.lower()) for label in person_names.values()}  # as the file wrote them
    if role == STUDENT:
        admission_column = "metadata.admissionNumber" if row.get("metadata_admissionnumber") else "sourcedId"
        admission_number = blank_to_none(row.get("metadata_admissionnumber")) or row["sourcedid"]
        reference = safe_reference(admission_number)
        upn_raw = row.get("metadata_upn") if "metadata_upn" in row else row.get("identifier")
        admitted, end = _dates(enrolment, fallback, source, builder, school, reference)
        record = LearnerRecord(
            source=source, school=school, admission_number=admission_number,
            upn=UpnField.from_raw(upn_raw, upn_key),
            legal_surname=blank_to_none(row["familyname"]), legal_forename=blank_to_none(row["givenname"]),
            preferred_forename=blank_to_none(row.get("preferredgivenname")),
            preferred_surname=blank_to_none(row.get("preferredfamilyname")),
            admission_date=admitted,
            leaving_date=end,
            year_group=_grade(row.get("grades")),
            registration_group=enrolment.homeroom,
            classes=tuple(dict.fromkeys(enrolment.classes)),
            enrolment_status=status,
        )
        builder.add_learner(refuse_bad_names(refuse_upns(record, {"admission_number": admission_column, **names}),
                                             raw_names))
        return
    code_column = "metadata.staffCode" if row.get("metadata_staffcode") else "identifier"
    staff_code = blank_to_none(row.get("metadata_staffcode")) or blank_to_none(row.get("identifier"))
    reference = safe_reference(staff_code)
    started, end = _dates(enrolment, fallback, source, builder, school, reference)
    staff = StaffRecord(
        source=source, school=school, staff_code=staff_code,
        legal_surname=blank_to_none(row["familyname"]), legal_forename=blank_to_none(row["givenname"]),
        preferred_forename=blank_to_none(row.get("preferredgivenname")),
        preferred_surname=blank_to_none(row.get("preferredfamilyname")),
        start_date=started,
        leaving_date=end,
        role=role, classes=tuple(dict.fromkeys(enrolment.classes)),
    )
    staff_names = {k: v for k, v in names.items() if k != "registration_group"}
    builder.add_staff(refuse_bad_names(refuse_upns(staff, {"staff_code": code_column, **staff_names}), raw_names))
