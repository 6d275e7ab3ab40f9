"""What every MIS parser returns, whatever the format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, TypeVar

from directory.rules import names as name_rules
from directory.rules import upn as upn_rules

# SPEC M-9 error names a parser can already tell.
MISSING_UPN = "Missing UPN"
TEMPORARY_UPN = "Temporary UPN"
INVALID_UPN = "Invalid UPN"
# M-3: a UPN put in any other field (admission number, sourcedId, staff code, names, groups)
# refuses the record; RecordRefusal.field names the field(s), never the value.
UPN_IN_OTHER_FIELD = "UPN in another field"
# A name field holding what no name may (directory/rules/names.py): control characters, noncharacters,
# no letter. RecordRefusal.field names the field and .detail the problem, never the value.
INVALID_NAME = "Invalid name"


class FormatRefused(ValueError):
    """The file is not the format it claims (or is hostile): refused whole.

    str() is one line naming the file and the reason.
    """


@dataclass(frozen=True)
class Source:
    """Where a record came from: a file and a line (CSV) or an element (XML)."""

    file: str
    location: str

    def __str__(self) -> str:
        return f"{self.file}, {self.location}"


@dataclass(frozen=True)
class Problem:
    """A record the parser could not read fully; `record` names it by admission
    number or staff code when known, never by UPN."""

    source: Source
    field: str | None
    reason: str
    record: str | None = None


@dataclass(frozen=True)
class RecordRefusal:
    """Why the parser refuses a record whole (an M-9 error and the field it is about), while
    keeping what identifies it, so the planner names it and does not take it for a leaver."""

    error: str
    field: str
    detail: str | None = None


def looks_like_upn(value: str | None) -> bool:
    """True when the value, or any word of it, is a well-formed UPN (permanent or temporary).

    parse_upn trims and upper-cases first, so 'b801200005001 ' is caught; spaces inside
    ('B801 2000 05001') are removed before the whole value is tried.
    """
    if not value or not value.strip():
        return False
    candidates = {"".join(value.split()), *value.split()}
    for candidate in candidates:
        if len(candidate) != 13:
            continue
        try:
            upn_rules.parse_upn(candidate)
        except upn_rules.InvalidUpn:
            continue
        return True
    return False


def safe_reference(value: str | None) -> str | None:
    """A value fit to name a record in a log (M-9): never one that is a UPN (M-3)."""
    return None if looks_like_upn(value) else value


def shown(value: str | None) -> str:
    """How a problem's text may quote a value it could not read: never a UPN (M-3)."""
    return "a value that is a UPN (not shown)" if looks_like_upn(value) else repr(value)


@dataclass(frozen=True)
class UpnField:
    """The UPN as it leaves the parser: its keyed hash, or the M-9 error why not."""

    hash: str | None = None
    error: str | None = None
    detail: str | None = None

    @classmethod
    def from_raw(cls, raw: str | None, key: bytes) -> UpnField:
        if raw is None or not raw.strip():
            return cls(error=MISSING_UPN)
        try:
            parsed = upn_rules.parse_upn(raw)
        except upn_rules.InvalidUpn as exc:
            return cls(error=INVALID_UPN, detail=str(exc))
        if parsed.is_temporary:
            return cls(error=TEMPORARY_UPN)
        return cls(hash=upn_rules.upn_hash(parsed, key))


@dataclass(frozen=True)
class LearnerRecord:
    source: Source
    school: str
    admission_number: str | None
    upn: UpnField
    legal_surname: str | None
    legal_forename: str | None
    preferred_surname: str | None = None
    preferred_forename: str | None = None
    date_of_birth: date | None = None
    admission_date: date | None = None
    leaving_date: date | None = None
    year_group: str | None = None
    registration_group: str | None = None
    classes: tuple[str, ...] = ()
    enrolment_status: str | None = None
    refused: RecordRefusal | None = None

    @property
    def reference(self) -> str:
        """How logs name this learner (M-9): the admission number, never the UPN."""
        return self.admission_number or f"{self.source}"


@dataclass(frozen=True)
class StaffRecord:
    source: Source
    school: str
    staff_code: str | None
    legal_surname: str | None
    legal_forename: str | None
    preferred_surname: str | None = None
    preferred_forename: str | None = None
    start_date: date | None = None
    leaving_date: date | None = None
    role: str | None = None
    classes: tuple[str, ...] = ()
    refused: RecordRefusal | None = None

    @property
    def reference(self) -> str:
        return self.staff_code or f"{self.source}"


Record = TypeVar("Record", "LearnerRecord", "StaffRecord")


def refuse_upns(record: Record, fields: Mapping[str, str]) -> Record:
    """M-3: the UPN never leaves the parser except as its hash.

    `fields` maps a record attribute to the name of the field it was read from
    (e.g. "admission_number" -> "sourcedId"). Each attribute whose value is a
    UPN is blanked (a list loses that item) and the record is refused with
    UPN_IN_OTHER_FIELD naming those fields. The record keeps its UPN hash, so
    the planner can name it by source location and not take it for a leaver.
    """
    changes: dict[str, Any] = {}  # None or a tuple, per the attribute it replaces
    found: list[str] = []
    for attribute, label in fields.items():
        value = getattr(record, attribute)
        if isinstance(value, tuple):
            kept = tuple(item for item in value if not looks_like_upn(item))
            if len(kept) != len(value):
                changes[attribute] = kept
                found.append(label)
        elif looks_like_upn(value):
            changes[attribute] = None
            found.append(label)
    if not found:
        return record
    refusal = record.refused or RecordRefusal(UPN_IN_OTHER_FIELD, ", ".join(found))
    return replace(record, refused=refusal, **changes)


def refuse_bad_names(record: Record, raw_names: Mapping[str, str | None]) -> Record:
    """Names are cleaned where they enter (directory/rules/names.py): a record whose name field
    holds a control character (a tab or line break inside it too) or a noncharacter, or no
    letter, is refused whole with INVALID_NAME, naming the first such field and the problem.

    `raw_names` maps each name field's label to its text exactly as the file had it: the
    readers fold runs of whitespace to one space, which would hide a tab or a line break
    inside a name; only whitespace around it is dropped here, as the readers do. The values
    stay on the record so the planner still knows whose it is (a refused record is never
    written); no error text quotes them. A record refused already (a UPN where it must not
    be) keeps that refusal."""
    if record.refused is not None:
        return record
    for label, raw in raw_names.items():
        problem = name_rules.name_problem(raw.strip()) if raw else None
        if problem:
            return replace(record, refused=RecordRefusal(INVALID_NAME, label, f"{label} {problem}"))
    return record


@dataclass(frozen=True)
class SchoolExport:
    """One school's records from one export (a file or a set of files)."""

    school: str
    format: str
    files: tuple[str, ...]
    school_name: str | None = None
    learners: tuple[LearnerRecord, ...] = ()
    staff: tuple[StaffRecord, ...] = ()
    problems: tuple[Problem, ...] = ()
    has_learners: bool = True  # False when the export carries no learner data at all
    has_staff: bool = True


@dataclass
class ExportBuilder:
    """Collects records per school while a parser walks its input."""

    format: str
    files: tuple[str, ...]
    learners: dict[str, list[LearnerRecord]] = field(default_factory=dict)
    staff: dict[str, list[StaffRecord]] = field(default_factory=dict)
    problems: dict[str, list[Problem]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    schools: list[str] = field(default_factory=list)
    # Problems of lines whose school cannot be told: every school of the
    # export shows them, so no digital champion misses a broken line.
    unplaced: list[Problem] = field(default_factory=list)

    def ensure_school(self, school: str) -> None:
        if school not in self.schools:
            self.schools.append(school)

    def add_learner(self, record: LearnerRecord) -> None:
        self.ensure_school(record.school)
        self.learners.setdefault(record.school, []).append(record)

    def add_staff(self, record: StaffRecord) -> None:
        self.ensure_school(record.school)
        self.staff.setdefault(record.school, []).append(record)

    def add_problem(self, school: str, problem: Problem) -> None:
        self.ensure_school(school)
        self.problems.setdefault(school, []).append(problem)

    def add_unplaced_problem(self, problem: Problem) -> None:
        self.unplaced.append(problem)

    def build(self, has_learners: bool, has_staff: bool) -> list[SchoolExport]:
        if not self.schools and self.unplaced:
            first = self.unplaced[0]
            raise FormatRefused(f"{first.source}: no readable record in the export ({first.reason})")
        return [
            SchoolExport(
                school=school, format=self.format, files=self.files, school_name=self.names.get(school),
                learners=tuple(self.learners.get(school, ())), staff=tuple(self.staff.get(school, ())),
                problems=tuple(self.problems.get(school, ())) + tuple(self.unplaced),
                has_learners=has_learners, has_staff=has_staff,
            )
            for school in self.schools
        ]
