"""A demo local authority: a handful of schools with learners, staff and governors.

The people are made up from a seed, so a rerun plans the same people and
adds only those still missing (a killed load converges). Learners are
matched by UPN hash, staff by staff code, everyone else by name.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from directory.model import (
    AccountKind,
    Consent,
    NewAccount,
    Organisation,
    OrganisationKind,
    Role,
    School,
    SchoolType,
)
from directory.demo_names import FORENAMES, SURNAMES
from directory.rules import lifecycle, passwords, upn
from directory.store import DirectoryStore

CONSORTIUM = Organisation(code="GwE", name="GwE (North Wales)", kind=OrganisationKind.CONSORTIUM)
LOCAL_AUTHORITY = Organisation(
    code="661", name="Gwynedd", kind=OrganisationKind.LOCAL_AUTHORITY, parent="GwE"
)


@dataclass(frozen=True)
class DemoSchool:
    school: School
    learners: int
    staff: int
    governors: int
    year_groups: tuple[str, ...]
    non_mis: int = 1  # supply teachers, students, services such as printers


DEMO_SCHOOLS = (
    DemoSchool(School("6611001", "Ysgol Feithrin Tŷ Bach", SchoolType.NURSERY, "661",
                      "tybach.ysgol.cymru", staff_licence_quota=4), 12, 4, 3, ("N1", "N2")),
    DemoSchool(School("6612001", "Ysgol Gynradd Bryn Coch", SchoolType.PRIMARY, "661",
                      "bryncoch.ysgol.cymru", staff_licence_quota=12), 42, 10, 5,
               ("R", "1", "2", "3", "4", "5", "6")),
    DemoSchool(School("6612002", "Ysgol Gynradd Glan y Môr", SchoolType.PRIMARY, "661",
                      "glanymor.ysgol.cymru", staff_licence_quota=9), 35, 8, 4,
               ("R", "1", "2", "3", "4", "5", "6")),
    DemoSchool(School("6614001", "Ysgol Uwchradd Eryri", SchoolType.SECONDARY, "661",
                      "eryri.ysgol.cymru", staff_licence_quota=30), 90, 22, 6,
               ("7", "8", "9", "10", "11", "12", "13"), non_mis=3),
    DemoSchool(School("6617001", "Ysgol Arbennig y Wern", SchoolType.SPECIAL, "661",
                      "ywern.ysgol.cymru", staff_licence_quota=8), 14, 9, 3, ("3", "6", "9", "11")),
)

REGISTRATION_SUFFIXES = ("A", "B")


@dataclass(frozen=True)
class DemoPerson:
    new: NewAccount
    match_key: str  # how a rerun recognises the person already loaded


def _upn(rng: random.Random, dfes: str, serial: int) -> upn.Upn:
    body = dfes[:3] + dfes[3:7] + f"{rng.randint(15, 24):02d}" + f"{serial:03d}"
    return upn.parse_upn(upn.check_letter(body) + body)


def demo_people(demo: DemoSchool, upn_key: bytes, today: datetime, seed: int = 2026) -> Iterator[DemoPerson]:
    """The planned people of one demo school (deterministic for a seed)."""
    rng = random.Random(f"{seed}-{demo.school.dfes}")
    dfes = demo.school.dfes
    for serial in range(1, demo.learners + 1):
        year = rng.choice(demo.year_groups)
        registration = f"{year}{rng.choice(REGISTRATION_SUFFIXES)}"
        learner_upn = _upn(rng, dfes, serial)
        consent = rng.choices(list(Consent), weights=(3, 1, 2, 6))[0]
        hashed = upn.upn_hash(learner_upn, upn_key)
        yield DemoPerson(
            NewAccount(
                kind=AccountKind.LEARNER,
                surname=rng.choice(SURNAMES),
                forename=rng.choice(FORENAMES),
                created_by="demo",
                school=dfes,
                upn_hash=hashed,
                admission_number=f"{serial:06d}",
                year_group=year,
                registration_group=registration,
                classes=(registration,),
                consent=consent,
                password=passwords.generate_learner_password(rng),
            ),
            match_key=f"upn:{hashed}",
        )
    for number in range(1, demo.staff + 1):
        code = f"S{number:03d}"
        yield DemoPerson(
            NewAccount(
                kind=AccountKind.STAFF,
                surname=rng.choice(SURNAMES),
                forename=rng.choice(FORENAMES),
                created_by="demo",
                school=dfes,
                staff_code=code,
                roles=frozenset({Role.DIGITAL_CHAMPION}) if number == 1 else frozenset(),
                password=passwords.generate_password(rng),
            ),
            match_key=f"staff:{code}",
        )
    non_mis = (
        (AccountKind.GOVERNOR, demo.governors, lifecycle.ExpiryChoice.END_OF_ACADEMIC_YEAR),
        (AccountKind.SCHOOL_NONMIS, demo.non_mis, lifecycle.ExpiryChoice.THREE_MONTHS),
    )
    for kind, count, expiry_choice in non_mis:
        expiry_day = lifecycle.expiry_date(expiry_choice, today.date())
        for _ in range(count):
            surname, forename = rng.choice(SURNAMES), rng.choice(FORENAMES)
            yield DemoPerson(
                NewAccount(
                    kind=kind,
                    surname=surname,
                    forename=forename,
                    created_by="demo",
                    school=dfes,
                    expiry=datetime.combine(expiry_day, datetime.min.time(), tzinfo=today.tzinfo),
                    password=passwords.generate_password(rng),
                ),
                match_key=f"name:{kind.value}:{forename} {surname}",
            )


def _match_key(account) -> str:
    if account.kind is AccountKind.LEARNER:
        return f"upn:{account.upn_hash}"
    if account.kind is AccountKind.STAFF:
        return f"staff:{account.staff_code}"
    return f"name:{account.kind.value}:{account.display_name}"


@dataclass(frozen=True)
class DemoLoadReport:
    schools_added: int
    accounts_added: int
    accounts_present: int


def load_demo(store: DirectoryStore, upn_key: bytes, now: datetime) -> DemoLoadReport:
    """Load (or complete) the demo authority; safe to run again."""
    store.initialise()
    known_orgs = {o.code for o in store.organisations()}
    for organisation in (CONSORTIUM, LOCAL_AUTHORITY):
        if organisation.code not in known_orgs:
            store.add_organisation(organisation)
    known_schools = {s.dfes for s in store.schools()}
    schools_added = accounts_added = accounts_present = 0
    for demo in DEMO_SCHOOLS:
        if demo.school.dfes not in known_schools:
            store.add_school(demo.school)
            schools_added += 1
        present = {_match_key(a) for a in store.iter_accounts(school=demo.school.dfes)}
        for person in demo_people(demo, upn_key, now):
            if person.match_key in present:
                accounts_present += 1
                continue
            store.add_account(person.new, now)
            present.add(person.match_key)
            accounts_added += 1
    la_admin = NewAccount(
        kind=AccountKind.LA_NONMIS, surname="Gweinyddwr", forename="Gwynedd", created_by="demo",
        organisation=LOCAL_AUTHORITY.code, roles=frozenset({Role.LA_ADMINISTRATOR}),
        password=passwords.generate_password(random.Random("demo-la-admin")),
    )
    if not any(True for _ in store.iter_accounts(organisation=LOCAL_AUTHORITY.code, kind=AccountKind.LA_NONMIS)):
        store.add_account(la_admin, now)
        accounts_added += 1
    else:
        accounts_present += 1
    return DemoLoadReport(schools_added, accounts_added, accounts_present)
