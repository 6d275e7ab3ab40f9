"""Porth CSV: `learners.csv` and `staff.csv` for any MIS that exports CSV.

Every column is documented in docs/mis-csv.md. Column order is free, headers
are matched ignoring case, spaces and underscores, unknown columns are
ignored. One file may hold several schools (the `dfes` column).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from connectors.mis.text import CsvRows, blank_to_none, is_dfes, parse_date, split_list

FORMAT = "csv"
LEARNER_FILE = "learners.csv"
STAFF_FILE = "staff.csv"
LEARNER_COLUMNS = {
    "dfes", "admission_number", "upn", "legal_surname", "legal_forename", "preferred_surname",
    "preferred_forename", "date_of_birth", "admission_date", "leaving_date", "year_group",
    "registration_group", "classes", "enrolment_status",
}
LEARNER_REQUIRED = {"dfes", "admission_number", "upn", "legal_surname", "legal_forename", "admission_date"}
STAFF_COLUMNS = {
    "dfes", "staff_code", "legal_surname", "legal_forename", "preferred_surname", "preferred_forename",
    "start_date", "leaving_date", "role", "classes",
}
STAFF_REQUIRED = {"dfes", "staff_code", "legal_surname", "legal_forename"}
# M-3: a UPN in any of these columns refuses the record (records.refuse_upns); the
# record attribute has the column's name.
_NAMES = ("legal_surname", "legal_forename", "preferred_surname", "preferred_forename")
LEARNER_TEXT_COLUMNS = ("admission_number", *_NAMES, "registration_group", "classes", "enrolment_status")
STAFF_TEXT_COLUMNS = ("staff_code", *_NAMES, "role", "classes")


def _raw_names(row: Mapping[str, str]) -> dict[str, str | None]:
    """The name columns as the file wrote them, for records.refuse_bad_names."""
    return {column: row.get(column) for column in _NAMES}


def _dates(row: Mapping[str, str], columns: tuple[str, ...],
           problem: Callable[[str, str], None]) -> dict[str, date | None]:
    found: dict[str, date | None] = {}
    for column in columns:
        try:
            found[column] = parse_date(row.get(column))
        except ValueError as exc:
            problem(column, str(exc))
            found[column] = None
    return found


def _walk(name: str, data: bytes, required: set[str], known: set[str], builder: ExportBuilder,
          default_school: str | None, make: Callable[[Source, str, Mapping[str, str]], None]) -> None:
    rows = CsvRows(name, data, required, known)
    for line, row in rows:
        source = Source(name, f"line {line}")
        if isinstance(row, str):
            builder.add_unplaced_problem(Problem(source, None, row))
            continue
        school = row.get("dfes") or default_school
        if not is_dfes(school):
            builder.add_unplaced_problem(Problem(source, "dfes", f"{shown(school)} is not a 7-digit DfES number"))
            continue
        make(source, school, row)


def parse(files: Mapping[str, bytes], upn_key: bytes, default_school: str | None = None) -> list[SchoolExport]:
    """Parse learners.csv and/or staff.csv (keys are file names; paths allowed)."""
    learner_files = [n for n in files if n.rsplit("/", 1)[-1].lower() == LEARNER_FILE]
    staff_files = [n for n in files if n.rsplit("/", 1)[-1].lower() == STAFF_FILE]
    if not learner_files and not staff_files:
        raise FormatRefused(f"no {LEARNER_FILE} or {STAFF_FILE} among {', '.join(sorted(files)) or 'no files'}")
    builder = ExportBuilder(FORMAT, tuple(sorted(files)))

    def learner(source: Source, school: str, row: Mapping[str, str]) -> None:
        reference = safe_reference(blank_to_none(row.get("admission_number")))

        def problem(column: str, reason: str) -> None:
            builder.add_problem(school, Problem(source, column, reason, reference))

        dates = _dates(row, ("date_of_birth", "admission_date", "leaving_date"), problem)
        builder.add_learner(refuse_bad_names(refuse_upns(LearnerRecord(
            source=source, school=school, admission_number=blank_to_none(row.get("admission_number")),
            upn=UpnField.from_raw(row.get("upn"), upn_key),
            legal_surname=blank_to_none(row.get("legal_surname")),
            legal_forename=blank_to_none(row.get("legal_forename")),
            preferred_surname=blank_to_none(row.get("preferred_surname")),
            preferred_forename=blank_to_none(row.get("preferred_forename")),
            date_of_birth=dates["date_of_birth"], admission_date=dates["admission_date"],
            leaving_date=dates["leaving_date"],
            year_group=blank_to_none(row.get("year_group")),
            registration_group=blank_to_none(row.get("registration_group")),
            classes=split_list(row.get("classes")),
            enrolment_status=blank_to_none(row.get("enrolment_status")),
        ), {column: column for column in LEARNER_TEXT_COLUMNS}), _raw_names(row)))

    def staff(source: Source, school: str, row: Mapping[str, str]) -> None:
        reference = safe_reference(blank_to_none(row.get("staff_code")))

        def problem(column: str, reason: str) -> None:
            builder.add_problem(school, Problem(source, column, reason, reference))

        dates = _dates(row, ("start_date", "leaving_date"), problem)
        builder.add_staff(refuse_bad_names(refuse_upns(StaffRecord(
            source=source, school=school, staff_code=blank_to_none(row.get("staff_code")),
            legal_surname=blank_to_none(row.get("legal_surname")),
            legal_forename=blank_to_none(row.get("legal_forename")),
            preferred_surname=blank_to_none(row.get("preferred_surname")),
            preferred_forename=blank_to_none(row.get("preferred_forename")),
            start_date=dates["start_date"], leaving_date=dates["leaving_date"],
            role=blank_to_none(row.get("role")), classes=split_list(row.get("classes")),
        ), {column: column for column in STAFF_TEXT_COLUMNS}), _raw_names(row)))

    for name in learner_files:
        _walk(name, files[name], LEARNER_REQUIRED, LEARNER_COLUMNS, builder, default_school, learner)
    for name in staff_files:
        _walk(name, files[name], STAFF_REQUIRED, STAFF_COLUMNS, builder, default_school, staff)
    return builder.build(has_learners=bool(learner_files), has_staff=bool(staff_files))
