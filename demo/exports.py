"""Realistic MIS exports for demos and benchmarks, in all three formats. Pure.

Given a seed, the same schools, people and files come out every time, so a
rerun of provisioning on regenerated files changes nothing. About 1 % of
records are faulty the way real MIS data is: missing or temporary UPNs,
pre-admission learners, missing or duplicate staff codes.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from xml.sax.saxutils import escape

from demo.names import FORENAMES, PLACES, STAFF_ROLES, SURNAMES
from directory.model import SchoolType
from directory.rules.upn import CHECK_LETTERS, check_letter
from directory.wales import LOCAL_AUTHORITIES

FORMATS = ("csv", "ctf", "oneroster")
FAULT_SHARE = 0.004  # per fault kind: about 1 % of records are faulty in some way
CLASS_SIZE = 30

# (type, share of schools, learners (low, high), staff per 100 learners, year groups, estab block)
_PROFILES = {
    SchoolType.PRIMARY: (0.83, (80, 300), 9.0, ("R", "1", "2", "3", "4", "5", "6"), 2000),
    SchoolType.SECONDARY: (0.125, (650, 1400), 7.4, ("7", "8", "9", "10", "11", "12", "13"), 4000),
    SchoolType.MIDDLE: (0.015, (900, 1500), 7.6, ("R", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"), 5000),
    SchoolType.SPECIAL: (0.027, (40, 160), 30.0, ("1", "3", "5", "7", "9", "11", "13"), 7000),
    SchoolType.NURSERY: (0.003, (30, 60), 12.0, ("N1", "N2"), 1000),
}
_TYPE_LABEL = {
    SchoolType.PRIMARY: "Ysgol Gynradd", SchoolType.SECONDARY: "Ysgol Uwchradd", SchoolType.MIDDLE: "Ysgol Pob Oed",
    SchoolType.SPECIAL: "Ysgol Arbennig", SchoolType.NURSERY: "Ysgol Feithrin",
}
_SUBJECTS = ("Ma", "Cy", "Sa", "Gw")  # maths, Cymraeg, English (Saesneg), science (Gwyddoniaeth)
WALES_SCHOOLS = 1470


@dataclass(frozen=True)
class SchoolSpec:
    dfes: str
    name: str
    type: SchoolType
    la_code: str
    learners: int
    staff: int
    format: str
    year_groups: tuple[str, ...]

    @property
    def mail_domain(self) -> str:
        return f"{self.dfes}.ysgol.cymru"


def school_specs(count: int, seed: int, fmt: str = "all", la_codes: tuple[str, ...] = ("661",)) -> list[SchoolSpec]:
    """`count` schools spread over the local authorities, with realistic types and sizes."""
    rng = random.Random(f"schools-{seed}")
    types = list(_PROFILES)
    weights = [_PROFILES[t][0] for t in types]
    # Small runs still show every kind: a secondary and primaries first.
    chosen = [SchoolType.SECONDARY, SchoolType.PRIMARY, SchoolType.PRIMARY, SchoolType.SPECIAL][:count]
    chosen += rng.choices(types, weights, k=count - len(chosen))
    next_estab: dict[tuple[str, SchoolType], int] = {}
    specs = []
    for index, school_type in enumerate(chosen):
        la = la_codes[index % len(la_codes)]
        _share, (low, high), staff_rate, years, block = _PROFILES[school_type]
        estab = next_estab.get((la, school_type), block + 1)
        next_estab[(la, school_type)] = estab + 1
        learners = rng.randint(low, high)
        place = rng.choice(PLACES)
        specs.append(SchoolSpec(
            dfes=f"{la}{estab:04d}", name=f"{_TYPE_LABEL[school_type]} {place}", type=school_type, la_code=la,
            learners=learners, staff=max(3, round(learners * staff_rate / 100)),
            format=FORMATS[index % len(FORMATS)] if fmt == "all" else fmt, year_groups=years,
        ))
    return specs


def wales_specs(seed: int, fmt: str = "all") -> list[SchoolSpec]:
    """The national scale: ~1,470 schools over the 22 local authorities."""
    return school_specs(WALES_SCHOOLS, seed, fmt, tuple(la.code for la in LOCAL_AUTHORITIES))


# -- people ---------------------------------------------------------------------
@dataclass(frozen=True)
class Learner:
    admission_number: str
    upn: str
    surname: str
    forename: str
    preferred_forename: str
    date_of_birth: date
    admission_date: date
    leaving_date: date | None
    year_group: str
    registration_group: str
    classes: tuple[str, ...]
    enrolment_status: str = "C"  # CTF EnrolStatus: C single registration, M / S main / subsidiary (dual)


@dataclass(frozen=True)
class Staff:
    code: str
    surname: str
    forename: str
    start_date: date
    role: str
    classes: tuple[str, ...]


def _academic_year_start(today: date) -> date:
    return date(today.year if today.month >= 9 else today.year - 1, 9, 1)


def _year_number(year_group: str) -> int:
    return {"N1": -2, "N2": -1, "R": 0}.get(year_group, int(year_group) if year_group.isdigit() else 0)


def _upn(la: str, estab: int, issue_year: int, serial: int, temporary: bool, rng: random.Random) -> str:
    if temporary:
        body = f"{la}{estab:04d}{issue_year % 100:02d}{serial % 100:02d}" + rng.choice(CHECK_LETTERS)
    else:
        body = f"{la}{estab:04d}{issue_year % 100:02d}{serial % 1000:03d}"
    return check_letter(body) + body


def learners_of(spec: SchoolSpec, seed: int, today: date) -> list[Learner]:
    rng = random.Random(f"learners-{seed}-{spec.dfes}")
    start = _academic_year_start(today)
    estab = int(spec.dfes[3:])
    weights = [0.5 if year in ("12", "13") else 1.0 for year in spec.year_groups]  # sixth forms are smaller
    per_year = spec.learners / sum(weights)
    serials: dict[int, int] = {}
    learners = []
    number = 0
    for year, weight in zip(spec.year_groups, weights, strict=True):
        cohort = max(1, round(per_year * weight))
        forms = max(1, -(-cohort // CLASS_SIZE))
        years_in = max(0, _year_number(year) - _year_number(spec.year_groups[0]))
        entry = date(start.year - years_in, 9, rng.choice((1, 2, 3, 4)))
        for _ in range(cohort):
            number += 1
            fault = rng.random()
            issue_year = entry.year
            serials[issue_year] = serials.get(issue_year, 0) + 1
            if serials[issue_year] > 999:  # keep UPNs unique: a later "year of issue"
                issue_year += 50
                serials[issue_year] = serials.get(issue_year, 0) + 1
            upn = _upn(spec.la_code, estab, issue_year, serials[issue_year], fault < FAULT_SHARE, rng)
            if FAULT_SHARE <= fault < 2 * FAULT_SHARE:
                upn = ""  # missing UPN
            admission = entry
            if 2 * FAULT_SHARE <= fault < 3 * FAULT_SHARE:
                admission = start + timedelta(days=rng.randint(400, 420))  # pre-admission / new intake
            reg = f"{year}{chr(65 + rng.randrange(forms))}"
            classes: tuple[str, ...] = (reg,)
            if spec.type in (SchoolType.SECONDARY, SchoolType.MIDDLE) and _year_number(year) >= 7:
                classes = (reg, *(f"{year}{s}{rng.randint(1, forms)}" for s in _SUBJECTS))
            age = 5 + _year_number(year)
            born = date(start.year - age - 1, 9, 1) + timedelta(days=rng.randrange(365))
            forename = rng.choice(FORENAMES)
            learners.append(Learner(
                admission_number=f"{number:06d}", upn=upn, surname=rng.choice(SURNAMES), forename=forename,
                preferred_forename=forename[:3] if rng.random() < 0.03 else "",
                date_of_birth=born, admission_date=admission, leaving_date=None,
                year_group=year, registration_group=reg, classes=classes,
            ))
    return learners


def staff_of(spec: SchoolSpec, seed: int, today: date, learners: list[Learner]) -> list[Staff]:
    rng = random.Random(f"staff-{seed}-{spec.dfes}")
    all_classes = sorted({c for learner in learners for c in learner.classes[1:]})
    codes: set[str] = set()
    staff: list[Staff] = []
    for _ in range(spec.staff):
        surname, forename = rng.choice(SURNAMES), rng.choice(FORENAMES)
        letters = "".join(ch for ch in (surname + forename).upper() if "A" <= ch <= "Z")
        code = (letters[:2] + letters[-1:]) or "STF"
        suffix = 1
        while code in codes:
            suffix += 1
            code = f"{letters[:2]}{suffix}"
        codes.add(code)
        fault = rng.random()
        if fault < FAULT_SHARE * 2:
            code = ""  # missing staff code
        elif fault < FAULT_SHARE * 3 and staff:
            code = staff[-1].code  # duplicate staff code
        role = rng.choice(STAFF_ROLES)
        taught = tuple(rng.sample(all_classes, min(len(all_classes), 4))) if role == "Teacher" and all_classes else ()
        staff.append(Staff(code, surname, forename, date(rng.randint(1995, today.year - 1), 9, 1), role, taught))
    return staff


# -- the three formats ----------------------------------------------------------------
def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _staff_csv(spec: SchoolSpec, staff: list[Staff]) -> bytes:
    rows = [["DfES", "Staff Code", "Legal Surname", "Legal Forename", "Start Date", "Role", "Classes"]]
    rows += [[spec.dfes, s.code, s.surname, s.forename, s.start_date.isoformat(), s.role, "; ".join(s.classes)]
             for s in staff]
    return _csv(rows)


def porth_csv_files(spec: SchoolSpec, learners: list[Learner], staff: list[Staff]) -> dict[str, bytes]:
    rows = [["Admission Number", "UPN", "Legal Surname", "Legal Forename", "Preferred Forename", "Date of Birth",
             "Admission Date", "Leaving Date", "Year Group", "Registration Group", "Classes", "Enrolment Status",
             "DfES"]]
    rows += [[learner.admission_number, learner.upn, learner.surname, learner.forename, learner.preferred_forename,
              learner.date_of_birth.strftime("%d/%m/%Y"), learner.admission_date.isoformat(),
              learner.leaving_date.isoformat() if learner.leaving_date else "", learner.year_group,
              learner.registration_group, "; ".join(learner.classes), learner.enrolment_status, spec.dfes]
             for learner in learners]
    return {"learners.csv": _csv(rows), "staff.csv": _staff_csv(spec, staff)}


def ctf_files(spec: SchoolSpec, learners: list[Learner], staff: list[Staff], today: date) -> dict[str, bytes]:
    la, estab = spec.dfes[:3], spec.dfes[3:]
    parts = [(
        '<?xml version="1.0" encoding="UTF-8"?>\n<CTfile>\n<Header><DocumentName>Common Transfer File</DocumentName>'
        f"<CTFversion>25.0</CTFversion><DateTime>{today.isoformat()}T06:00:00</DateTime>"
        "<DocumentQualifier>full</DocumentQualifier><SupplierID>Porth demo</SupplierID>"
        f"<SourceSchool><LEA>{la}</LEA><Estab>{estab}</Estab><SchoolName>{escape(spec.name)}</SchoolName>"
        f"<AcademicYear>{_academic_year_start(today).year}</AcademicYear></SourceSchool>"
        "<DestSchool><LEA>000</LEA><Estab>0000</Estab></DestSchool></Header>\n<CTFpupilData>\n"
    )]
    for learner in learners:
        classes = "".join(f"<Class>{escape(c)}</Class>" for c in learner.classes)
        leaving = f"<LeavingDate>{learner.leaving_date.isoformat()}</LeavingDate>" if learner.leaving_date else ""
        preferred = (f"<PreferredForename>{escape(learner.preferred_forename)}</PreferredForename>"
                     if learner.preferred_forename else "")
        parts.append(
            f"<Pupil><UPN>{learner.upn}</UPN><Surname>{escape(learner.surname)}</Surname>"
            f"<Forename>{escape(learner.forename)}</Forename>"
            f"<DOB>{learner.date_of_birth.isoformat()}</DOB><AdmissionNumber>{learner.admission_number}</AdmissionNumber>"
            f"<RegGroup>{escape(learner.registration_group)}</RegGroup><BasicDetails><NCyearActual>{learner.year_group}"
            f"</NCyearActual><EnrolStatus>{learner.enrolment_status}</EnrolStatus>{preferred}</BasicDetails><Classes>{classes}</Classes>"
            f"<SchoolHistory><School><LEA>{la}</LEA><Estab>{estab}</Estab>"
            f"<EntryDate>{learner.admission_date.isoformat()}</EntryDate>{leaving}</School></SchoolHistory></Pupil>\n"
        )
    parts.append("</CTFpupilData>\n</CTfile>\n")
    return {f"{spec.dfes}.xml": "".join(parts).encode("utf-8"), "staff.csv": _staff_csv(spec, staff)}


def oneroster_files(spec: SchoolSpec, learners: list[Learner], staff: list[Staff]) -> dict[str, bytes]:
    school_id = f"org-{spec.dfes}"
    manifest = [["propertyName", "value"], ["manifest.version", "1.0"], ["oneroster.version", "1.1"],
                ["file.orgs", "bulk"], ["file.users", "bulk"], ["file.classes", "bulk"],
                ["file.enrollments", "bulk"], ["source.systemName", "Porth demo"]]
    orgs = [["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"],
            [f"la-{spec.la_code}", "active", "", f"LA {spec.la_code}", "district", spec.la_code, ""],
            [school_id, "active", "", spec.name, "school", spec.dfes, f"la-{spec.la_code}"]]
    users = [["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username", "userIds",
              "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds",
              "grades", "password", "metadata.admissionNumber", "metadata.staffCode"]]
    classes: dict[str, tuple[str, str]] = {}
    enrollments = [["sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
                    "userSourcedId", "role", "primary", "beginDate", "endDate"]]

    def class_id(code: str, kind: str) -> str:
        key = f"c-{spec.dfes}-{kind[0]}-{code}"
        classes.setdefault(key, (code, kind))
        return key

    for learner in learners:
        uid = f"s-{spec.dfes}-{learner.admission_number}"
        year = learner.year_group
        grade = year.zfill(2) if year.isdigit() else {"R": "KG", "N1": "PK", "N2": "PK"}[year]
        users.append([uid, "active", "", "true", school_id, "student", "", "", learner.forename, learner.surname, "",
                      learner.upn, "", "", "", "", grade, "", learner.admission_number, ""])
        begin = learner.admission_date.isoformat()
        end = learner.leaving_date.isoformat() if learner.leaving_date else ""
        for index, code in enumerate(learner.classes):
            kind = "homeroom" if index == 0 else "scheduled"
            enrollments.append([f"e-{uid}-{index}", "active", "", class_id(code, kind), school_id, uid, "student",
                                "true" if index == 0 else "false", begin, end])
    for n, s in enumerate(staff):
        uid = f"t-{spec.dfes}-{n}"
        role = ("teacher" if s.role == "Teacher"
                else "aide" if "assistant" in s.role or s.role == "HLTA" else "administrator")
        users.append([uid, "active", "", "true", school_id, role, "", "", s.forename, s.surname, "", s.code, "", "",
                      "", "", "", "", "", s.code])
        taught = s.classes or ("Staff",)
        for index, code in enumerate(taught):
            enrollments.append([f"e-{uid}-{index}", "active", "", class_id(code, "scheduled"), school_id, uid,
                                "teacher", "true", s.start_date.isoformat(), ""])
    class_rows = [["sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId", "classCode",
                   "classType", "location", "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes", "periods"]]
    class_rows += [[key, "active", "", code, "", "", code, kind, "", school_id, "", "", "", ""]
                   for key, (code, kind) in classes.items()]
    return {"manifest.csv": _csv(manifest), "orgs.csv": _csv(orgs), "users.csv": _csv(users),
            "classes.csv": _csv(class_rows), "enrollments.csv": _csv(enrollments)}


def school_files(spec: SchoolSpec, seed: int, today: date, dual: DualRegistrations | None = None) -> dict[str, bytes]:
    """One school's export in its format: file name -> bytes."""
    learners = learners_of(spec, seed, today)
    staff = staff_of(spec, seed, today, learners)  # before the guests: they are taught by their main school
    if dual is not None:
        learners = dual.of(spec, learners)
    if spec.format == "ctf":
        return ctf_files(spec, learners, staff, today)
    if spec.format == "oneroster":
        return oneroster_files(spec, learners, staff)
    return porth_csv_files(spec, learners, staff)


def schools_csv(specs: list[SchoolSpec]) -> bytes:
    """The school register a national administrator imports first (`porth schools import`)."""
    rows = [["dfes", "name", "type", "la_code", "mail_domain", "staff_licence_quota"]]
    rows += [[s.dfes, s.name, s.type.value, s.la_code, s.mail_domain, str(max(1, round(s.staff * 0.8)))]
             for s in specs]
    return _csv(rows)


def iter_school_files(specs: list[SchoolSpec], seed: int, today: date) -> Iterator[tuple[SchoolSpec, dict[str, bytes]]]:
    """School by school, so the national scale never sits in memory at once."""
    dual = dual_registrations(specs, seed, today)
    for spec in specs:
        yield spec, school_files(spec, seed, today, dual)


# -- dual registration ------------------------------------------------------------------
_DUAL_FORMATS = ("csv", "ctf")  # OneRoster says main / subsidiary only between the schools of one file


@dataclass(frozen=True)
class DualRegistrations:
    """Learners on the roll of two schools: main (M) at one, subsidiary (S) at the other, as a
    learner of a mainstream secondary who spends part of the week at a special school is."""

    main: dict[str, str]  # main school's DfES -> the admission number there of its dual-registered learner
    guests: dict[str, tuple[Learner, ...]]  # subsidiary school's DfES -> those learners, as that school lists them

    def of(self, spec: SchoolSpec, learners: list[Learner]) -> list[Learner]:
        marked = [replace(learner, enrolment_status="M") if learner.admission_number == self.main.get(spec.dfes)
                  else learner for learner in learners]
        return marked + list(self.guests.get(spec.dfes, ()))


def dual_registrations(specs: list[SchoolSpec], seed: int, today: date) -> DualRegistrations:
    """In each local authority, one learner of its first secondary dual registered at its first special
    school (both exported in a format that says so): the same UPN, the special school's own
    admission number and registration group, admitted there this academic year."""
    main: dict[str, str] = {}
    guests: dict[str, tuple[Learner, ...]] = {}
    for la in dict.fromkeys(spec.la_code for spec in specs):
        secondary = next((s for s in specs if s.la_code == la and s.type is SchoolType.SECONDARY), None)
        special = next((s for s in specs if s.la_code == la and s.type is SchoolType.SPECIAL), None)
        if secondary is None or special is None or {secondary.format, special.format} - set(_DUAL_FORMATS):
            continue
        learner = next((learner for learner in learners_of(secondary, seed, today)
                        if learner.year_group in special.year_groups and learner.upn[-1:].isdigit()
                        and learner.admission_date <= today), None)
        if learner is None:
            continue
        main[secondary.dfes] = learner.admission_number
        guests[special.dfes] = (replace(
            learner, admission_number="900001", admission_date=_academic_year_start(today),
            registration_group=f"{learner.year_group}A", classes=(f"{learner.year_group}A",), enrolment_status="S"),)
    return DualRegistrations(main, guests)
