"""The demo's non-MIS people: governors, supply staff, an LA administrator.

Learners and staff of the demo come from generated MIS exports through the
provisioning client (demo.loader); what no MIS holds is added here. The
people come from a seed, so a rerun finds them (by kind and name) and adds
only those still missing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

from demo.names import FORENAMES, SURNAMES
from directory.model import AccountKind, AccountState, NewAccount, Role, School
from directory.rules import lifecycle, passwords
from directory.store import DirectoryStore

DEMO_LA = "661"
GOVERNORS_PER_SCHOOL = 4
SUPPLY_STAFF_PER_SCHOOL = 1


def _key(kind: AccountKind, forename: str, surname: str) -> str:
    return f"{kind.value}:{forename} {surname}"


def non_mis_people(school: School, today: datetime, seed: int = 2026) -> Iterator[NewAccount]:
    """Governors (until the end of the academic year) and supply staff (3 months) of a school."""
    rng = random.Random(f"non-mis-{seed}-{school.dfes}")
    for kind, count, choice in (
        (AccountKind.GOVERNOR, GOVERNORS_PER_SCHOOL, lifecycle.ExpiryChoice.END_OF_ACADEMIC_YEAR),
        (AccountKind.SCHOOL_NONMIS, SUPPLY_STAFF_PER_SCHOOL, lifecycle.ExpiryChoice.THREE_MONTHS),
    ):
        expiry = datetime.combine(lifecycle.expiry_date(choice, today.date()), datetime.min.time(), tzinfo=today.tzinfo)
        for _ in range(count):
            yield NewAccount(kind=kind, surname=rng.choice(SURNAMES), forename=rng.choice(FORENAMES),
                             created_by="demo", school=school.dfes, expiry=expiry,
                             password=passwords.generate_password(rng))


def add_demo_non_mis(store: DirectoryStore, now: datetime) -> int:
    """Governors and supply staff for every school, a digital champion per school,
    and an LA administrator; returns how many accounts were added."""
    added = 0
    for school in store.schools():
        accounts = list(store.iter_accounts(school=school.dfes))
        present = {_key(a.kind, a.forename, a.surname) for a in accounts}
        for person in non_mis_people(school, now):
            if _key(person.kind, person.forename, person.surname) not in present:
                store.add_account(person, now)
                present.add(_key(person.kind, person.forename, person.surname))
                added += 1
        staff = sorted((a for a in accounts if a.kind is AccountKind.STAFF and a.state is AccountState.ACTIVE),
                       key=lambda a: a.staff_code or "")
        if staff and not any(Role.DIGITAL_CHAMPION in a.roles for a in staff):
            store.update_account(staff[0].id, {"roles": frozenset({Role.DIGITAL_CHAMPION})})
    if not any(True for _ in store.iter_accounts(organisation=DEMO_LA, kind=AccountKind.LA_NONMIS)):
        store.add_account(NewAccount(
            kind=AccountKind.LA_NONMIS, surname="Gweinyddwr", forename="Gwynedd", created_by="demo",
            organisation=DEMO_LA, roles=frozenset({Role.LA_ADMINISTRATOR}),
            password=passwords.generate_password(random.Random("demo-la-admin")),
        ), now)
        added += 1
    return added


def add_demo_consent_and_licences(store: DirectoryStore, db, now: datetime) -> tuple[int, int]:
    """What digital champions of the demo schools have done: consent recorded for most learners
    (explicit for three in five, legacy for one in five, C-1) and staff licences allocated for
    half of each school's quota (G-2), so the demo tenant has licences to show. Decided per
    account from its id, so a rerun changes nothing."""
    import hashlib

    from directory.model import Consent
    from operational import licence_requests

    consented = allocated = 0
    for school in store.schools():
        for account in store.iter_accounts(school=school.dfes, kind=AccountKind.LEARNER, state=AccountState.ACTIVE):
            if account.consent not in (None, Consent.NOT_OBTAINED):
                continue
            roll = hashlib.sha256(f"consent:{account.id}".encode()).digest()[0] % 5
            if roll < 4:
                store.update_account(account.id, {"consent": (Consent.EXPLICIT if roll < 3 else Consent.LEGACY).value})
                consented += 1
        quota = school.staff_licence_quota or 0
        staff = sorted((a for a in store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF,
                                                        state=AccountState.ACTIVE)), key=lambda a: a.staff_code or "")
        if quota and not licence_requests.latest(db, school.dfes):
            chosen = [a.id for a in staff[:quota // 2]]
            allocated += len(licence_requests.request(db, school.dfes, chosen, True, "demo", now))
    return consented, allocated
