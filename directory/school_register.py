"""The school register (SPEC O-1): the CSV a national administrator imports, read (pure) and
added to the directory (add_register)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from directory.errors import EntryAlreadyExists
from directory.model import Organisation, OrganisationKind, School, SchoolType
from directory.wales import organisations_for

if TYPE_CHECKING:
    from directory.store import DirectoryStore

COLUMNS = ("dfes", "name", "type", "la_code", "mail_domain", "staff_licence_quota")
REQUIRED = ("dfes", "name", "type")


class RegisterError(ValueError):
    """The register file cannot be read at all; str() names the file and why."""


@dataclass(frozen=True)
class RegisterProblem:
    line: int
    reason: str


def parse_register(name: str, data: bytes) -> tuple[list[School], list[RegisterProblem]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RegisterError(f"{name}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RegisterError(f"{name}: missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    schools, problems, seen = [], [], set()
    for row in reader:
        line = reader.line_num
        dfes = (row.get("dfes") or "").strip()
        if not re.fullmatch(r"\d{7}", dfes):
            problems.append(RegisterProblem(line, f"dfes {dfes!r} is not a 7-digit DfES number"))
            continue
        if dfes in seen:
            problems.append(RegisterProblem(line, f"school {dfes} is listed twice"))
            continue
        try:
            school_type = SchoolType((row.get("type") or "").strip().lower())
        except ValueError:
            problems.append(RegisterProblem(line, f"type {row.get('type')!r} is not one of "
                                                  f"{', '.join(t.value for t in SchoolType)}"))
            continue
        quota = (row.get("staff_licence_quota") or "").strip()
        if quota and not quota.isdigit():
            problems.append(RegisterProblem(line, f"staff_licence_quota {quota!r} is not a whole number"))
            continue
        name_value = " ".join((row.get("name") or "").split())
        if not name_value:
            problems.append(RegisterProblem(line, "the school has no name"))
            continue
        la_code = (row.get("la_code") or "").strip() or dfes[:3]
        if la_code != dfes[:3]:
            problems.append(RegisterProblem(line, f"la_code {la_code} does not match the DfES number {dfes}"))
            continue
        seen.add(dfes)
        schools.append(School(dfes=dfes, name=name_value, type=school_type, la_code=la_code,
                              mail_domain=(row.get("mail_domain") or "").strip().lower() or None,
                              staff_licence_quota=int(quota) if quota else None))
    return schools, problems


def add_register(store: DirectoryStore, schools: list[School]) -> tuple[int, int]:
    """Add missing organisations and schools; returns (added, already present)."""
    store.initialise()
    known_orgs = {o.code for o in store.organisations()}
    known_schools = {s.dfes for s in store.schools()}
    added = present = 0
    for school in schools:
        organisations = organisations_for(school.la_code) or [
            Organisation(school.la_code, f"Local authority {school.la_code}", OrganisationKind.LOCAL_AUTHORITY)]
        for organisation in organisations:
            if organisation.code not in known_orgs:
                store.add_organisation(organisation)
                known_orgs.add(organisation.code)
        if school.dfes in known_schools:
            present += 1
            continue
        try:
            store.add_school(school)
            added += 1
        except EntryAlreadyExists:
            present += 1
        known_schools.add(school.dfes)
    return added, present
