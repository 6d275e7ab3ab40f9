"""The demo's people no MIS export holds: governors, supply staff, the LA's accounts, a leaver.

Learners and staff of the demo come from generated MIS exports through the
provisioning client (demo.loader); what no MIS holds is added here. The
people come from a seed, so a rerun finds them (by kind and name) and adds
only those still missing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from demo.names import FORENAMES, SURNAMES
from directory.model import Account, AccountKind, AccountState, NewAccount, PasswordStatus, Role, School, SchoolType
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
    present_la = {_key(a.kind, a.forename, a.surname)
                  for a in store.iter_accounts(organisation=DEMO_LA, kind=AccountKind.LA_NONMIS)}
    for person in la_people(now):
        if _key(person.kind, person.forename, person.surname) not in present_la:
            store.add_account(person, now)
            added += 1
    return added


def la_people(today: datetime) -> Iterator[NewAccount]:
    """The LA's own accounts: its administrator (R-4), and two officers whose accounts run out
    within L-2's eight weeks, so the expiring banner and list have something to show."""
    yield NewAccount(kind=AccountKind.LA_NONMIS, surname="Gweinyddwr", forename="Gwynedd", created_by="demo",
                     organisation=DEMO_LA, roles=frozenset({Role.LA_ADMINISTRATOR}),
                     password=passwords.generate_password(random.Random("demo-la-admin")))
    for forename, surname, days in (("Elen", "Cynghorydd", 20), ("Iwan", "Swyddog", 45)):  # advisory teacher, officer
        expiry = datetime.combine(today.date() + timedelta(days=days), datetime.min.time(), tzinfo=today.tzinfo)
        yield NewAccount(kind=AccountKind.LA_NONMIS, surname=surname, forename=forename, created_by="demo",
                         organisation=DEMO_LA, expiry=expiry,
                         password=passwords.generate_password(random.Random(f"demo-la-{forename}")))


# The learner who left: not in any export (the MIS lists only the school's current learners), so
# provisioning leaves the deactivated account alone (M-5), and deletes it 12 months on (L-4).
LEAVER = ("Morgan", "Cai", "000000")  # surname, forename, admission number (none of the exports' numbers)


def add_demo_leaver_and_unavailable_password(store: DirectoryStore, upn_key: bytes, now: datetime) -> int:
    """What a newcomer should find among a secondary's learners: a leaver (deactivated when they
    left last summer) and a learner whose password shows "-" (A-4: the copy is gone, as after a
    transfer between schools). Returns how many accounts were added (a rerun adds none)."""
    from directory.rules.upn import Upn, check_letter, upn_hash

    secondary = min((s for s in store.schools() if s.type is SchoolType.SECONDARY), key=lambda s: s.dfes,
                    default=None)
    if secondary is None:
        return 0
    learners = sorted(store.iter_accounts(school=secondary.dfes, kind=AccountKind.LEARNER),
                      key=lambda a: a.admission_number or "")
    added = 0
    surname, forename, admission_number = LEAVER
    if not any(a.admission_number == admission_number for a in learners):
        summer = date(now.year if now.month >= 9 else now.year - 1, 7, 22)  # the last summer term's end
        body = f"{secondary.dfes}21998"  # issued in 2021; no serial the exports give
        leaver = store.add_account(NewAccount(
            kind=AccountKind.LEARNER, surname=surname, forename=forename, created_by="demo", school=secondary.dfes,
            upn_hash=upn_hash(Upn(check_letter(body) + body), upn_key), admission_number=admission_number,
            year_group="11", registration_group="11A",
            password=passwords.generate_password(random.Random("demo-leaver"))), now)
        left = datetime.combine(summer, datetime.min.time(), tzinfo=now.tzinfo)
        store.set_state(leaver.id, AccountState.DEACTIVATED, "demo", f"left on {summer.isoformat()}", left,
                        changes={"leaving_date": summer})
        added += 1
    # The first learner on the roll (by admission number) is the one whose password shows "-".
    first = next((a for a in learners if a.admission_number != admission_number and a.is_active
                  and not a.subsidiary_schools), None)  # the dual-registered learner shows its own state
    if first is not None and first.password_status is PasswordStatus.AVAILABLE and not _shown_unavailable(learners):
        store.forget_password_copy(first.id)
    return added


def _shown_unavailable(learners: list[Account]) -> bool:
    """Whether an active learner already shows "-", so a rerun forgets no second password."""
    return any(a.is_active and a.password_status is PasswordStatus.UNAVAILABLE for a in learners)


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
