"""Domain objects of the directory: what the rest of Porth sees of LDAP.

Frozen dataclasses and string enums only; no storage knowledge here (the
attribute mapping lives in directory/ldap/mapping.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class AccountKind(StrEnum):
    """SPEC A-1. Learner and staff accounts come only from the MIS."""

    LEARNER = "learner"
    STAFF = "staff"
    GOVERNOR = "governor"
    SCHOOL_NONMIS = "school-nonmis"
    LA_NONMIS = "la-nonmis"
    REC_NONMIS = "rec-nonmis"
    STAKEHOLDER = "stakeholder"

    @property
    def is_mis(self) -> bool:
        return self in (AccountKind.LEARNER, AccountKind.STAFF)

    @property
    def belongs_to_school(self) -> bool:
        return self in (
            AccountKind.LEARNER,
            AccountKind.STAFF,
            AccountKind.GOVERNOR,
            AccountKind.SCHOOL_NONMIS,
        )


class AccountState(StrEnum):
    """SPEC A-6."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"


class Consent(StrEnum):
    """SPEC C-1."""

    NOT_OBTAINED = "not-obtained"
    WITHDRAWN = "withdrawn"
    LEGACY = "legacy"
    EXPLICIT = "explicit"


class PasswordStatus(StrEnum):
    """SPEC A-4: what an administrator sees in the password column."""

    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    USER_CHANGED = "user-changed"

    @property
    def label(self) -> str:
        return {
            PasswordStatus.AVAILABLE: "Show password",
            PasswordStatus.UNAVAILABLE: "-",
            PasswordStatus.USER_CHANGED: "User changed password",
        }[self]


class Role(StrEnum):
    """Administrative roles held on top of an account (SPEC R-3, R-4)."""

    DIGITAL_CHAMPION = "digital-champion"
    LA_ADMINISTRATOR = "la-administrator"
    REC_ADMINISTRATOR = "rec-administrator"
    NATIONAL_ADMINISTRATOR = "national-administrator"


class SchoolType(StrEnum):
    NURSERY = "nursery"
    PRIMARY = "primary"
    SECONDARY = "secondary"
    MIDDLE = "middle"
    SPECIAL = "special"


class SchoolState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class OrganisationKind(StrEnum):
    LOCAL_AUTHORITY = "local-authority"
    CONSORTIUM = "consortium"


class GroupKind(StrEnum):
    REGISTRATION_GROUP = "registration-group"
    CLASS = "class"
    YEAR_GROUP = "year-group"


@dataclass(frozen=True)
class Organisation:
    """A local authority (code = 3-digit LA number) or a regional consortium."""

    code: str
    name: str
    kind: OrganisationKind
    parent: str | None = None


@dataclass(frozen=True)
class School:
    """SPEC O-1."""

    dfes: str
    name: str
    type: SchoolType
    la_code: str
    mail_domain: str | None = None
    state: SchoolState = SchoolState.OPEN
    staff_licence_quota: int | None = None
    merged_into: str | None = None


@dataclass(frozen=True)
class StateChange:
    """Who or what moved an account to a state, when and why (SPEC A-6)."""

    state: AccountState
    at: datetime
    by: str
    reason: str


@dataclass(frozen=True)
class Contact:
    """What helps recognise a non-MIS user (the portal's optional fields), never used to sign in."""

    organisation_name: str | None = None
    job_title: str | None = None
    work_email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    kind: AccountKind
    state: AccountState
    surname: str
    forename: str
    display_name: str
    mail: str
    aliases: tuple[str, ...] = ()
    school: str | None = None
    organisation: str | None = None
    upn_hash: str | None = None
    admission_number: str | None = None
    staff_code: str | None = None
    year_group: str | None = None
    registration_group: str | None = None
    classes: tuple[str, ...] = ()
    consent: Consent | None = None
    password_status: PasswordStatus = PasswordStatus.UNAVAILABLE
    expiry: datetime | None = None
    last_sign_in: datetime | None = None
    leaving_date: date | None = None
    roles: frozenset[Role] = frozenset()
    state_change: StateChange | None = None
    created_at: datetime | None = None
    contact: Contact | None = None
    # Dual registration (docs/mis-formats.md): the other schools a learner is on roll at,
    # and the groups they are in there, each as subsidiary_group() spells it.
    subsidiary_schools: tuple[str, ...] = ()
    subsidiary_groups: tuple[str, ...] = ()

    @property
    def is_active(self) -> bool:
        return self.state is AccountState.ACTIVE

    def belongs_to(self, school: str) -> bool:
        """On this school's roll: its main school, or one where it is dual registered."""
        return self.school == school or school in self.subsidiary_schools

    def groups_at(self, school: str) -> tuple[str | None, tuple[str, ...]]:
        """(registration group, classes) at one school: the main school's fields, or the
        subsidiary memberships held for that school."""
        if school == self.school:
            return self.registration_group, self.classes
        registration, classes = None, []
        for value in self.subsidiary_groups:
            dfes, kind, code = parse_subsidiary_group(value)
            if dfes != school:
                continue
            if kind is GroupKind.REGISTRATION_GROUP:
                registration = code
            else:
                classes.append(code)
        return registration, tuple(sorted(classes))


def subsidiary_group(school: str, kind: GroupKind, code: str) -> str:
    """One group membership at a subsidiary school, as one attribute value: `DFES:kind:code`.
    A DfES number is 7 digits and a kind has no colon, so a code may hold any character."""
    return f"{school}:{kind.value}:{code}"


def parse_subsidiary_group(value: str) -> tuple[str, GroupKind, str]:
    school, kind, code = value.split(":", 2)
    return school, GroupKind(kind), code


@dataclass(frozen=True)
class NewAccount:
    """What it takes to create an account; the username is allocated by the store."""

    kind: AccountKind
    surname: str
    forename: str
    created_by: str
    school: str | None = None
    organisation: str | None = None
    upn_hash: str | None = None
    admission_number: str | None = None
    staff_code: str | None = None
    year_group: str | None = None
    registration_group: str | None = None
    classes: tuple[str, ...] = ()
    consent: Consent | None = None
    expiry: datetime | None = None
    leaving_date: date | None = None
    roles: frozenset[Role] = frozenset()
    contact: Contact | None = None
    # A cleartext initial password: the store writes its Argon2 hash (directory/ldap/passwords.py)
    # and an encrypted reveal copy, never the cleartext. None: an account that cannot sign in yet.
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Group:
    """A teaching group of a school; membership is held on the accounts (M-8)."""

    id: str
    school: str
    kind: GroupKind
    code: str
    name: str
