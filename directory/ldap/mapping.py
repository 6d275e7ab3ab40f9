"""The one place that knows how Porth's domain sits in LDAP: attribute names, object classes,
where each kind of entry lives (the DN scheme), which attributes each use reads, and the
conversion between entries and domain objects.

DN scheme
---------
Every account is named by an immutable, opaque identifier::

    porthId=<uuid4>,ou=people,<base>

and every teaching group likewise under ``ou=groups``. The username and the
school are ordinary attributes (``uid``/``porthUsername``, ``porthSchool``),
not parts of the DN. So a username change (A-5) or a move to another school
(M-6) is a plain modify, never a rename: the DN that SAML persistent
identifiers, audit entries, licence state and replicas refer to stays the
same for the account's whole life, and a modify is one atomic operation
where a modrdn plus a modify would not be. People sit flat under one
``ou=people`` for the same reason: moving between schools, LAs or kinds
never moves the entry. Schools are ``porthDfes=<number>,ou=schools`` and
organisations ``porthOrgCode=<code>,ou=organisations``: those identifiers
never change (a merger makes a new school, O-2).

``uid`` holds the current username and every former one (its aliases);
``porthUsername`` says which is current (directory/ldap/usernames.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from ldap3.utils.dn import escape_rdn

from directory.ldap import filters
from directory.model import (
    Account,
    AccountKind,
    AccountState,
    Consent,
    Contact,
    Group,
    GroupKind,
    NewAccount,
    Organisation,
    OrganisationKind,
    PasswordStatus,
    Role,
    School,
    SchoolState,
    SchoolType,
    StateChange,
)

if TYPE_CHECKING:
    from directory.ldap.config import Lockout

# -- Domain field -> LDAP attribute ---------------------------------------------
ACCOUNT_ATTRIBUTES: dict[str, str] = {
    "id": "porthId",
    "username": "porthUsername",
    "names": "uid",  # current username + aliases
    "kind": "porthAccountKind",
    "state": "porthAccountState",
    "surname": "sn",
    "forename": "givenName",
    "display_name": "displayName",
    "common_name": "cn",
    "mail": "mail",
    "school": "porthSchool",
    "organisation": "porthOrganisation",
    "upn_hash": "porthUpnHash",
    "admission_number": "porthAdmissionNumber",
    "staff_code": "porthStaffCode",
    "year_group": "porthYearGroup",
    "registration_group": "porthRegistrationGroup",
    "classes": "porthClass",
    "consent": "porthConsent",
    "password_status": "porthPasswordStatus",
    "password_vault": "porthPasswordVault",
    "password": "userPassword",
    "expiry": "porthExpiry",
    "last_sign_in": "porthLastSignIn",
    # Written by slapd's lastbind overlay on a successful password bind (to
    # the hour): the IdP's sign-ins are recorded at no extra cost (S-2, L-3).
    "last_bind": "authTimestamp",
    "leaving_date": "porthLeavingDate",
    "roles": "porthRole",
    "state_changed_at": "porthStateChangedAt",
    "state_changed_by": "porthStateChangedBy",
    "state_reason": "porthStateReason",
    "created_at": "createTimestamp",
    "subsidiary_schools": "porthSubsidiarySchool",
    "subsidiary_groups": "porthSubsidiaryGroup",
}
A = ACCOUNT_ATTRIBUTES
# The optional contact details of a non-MIS account (Contact), inetOrgPerson's own
# attributes except the work address; porthContactInfo is added only when that is set.
CONTACT_ATTRIBUTES = {"organisation_name": "o", "job_title": "title", "work_email": "porthWorkEmail",
                      "phone": "telephoneNumber"}
SCHOOL_ATTRIBUTES = {
    "dfes": "porthDfes",
    "name": "o",
    "type": "porthSchoolType",
    "la_code": "porthOrgCode",
    "mail_domain": "porthMailDomain",
    "state": "porthSchoolState",
    "staff_licence_quota": "porthStaffLicenceQuota",
    "merged_into": "porthMergedInto",
}
ORGANISATION_ATTRIBUTES = {
    "code": "porthOrgCode",
    "name": "o",
    "kind": "porthOrgKind",
    "parent": "porthParentOrg",
}
GROUP_ATTRIBUTES = {
    "id": "porthId",
    "school": "porthSchool",
    "kind": "porthGroupKind",
    "code": "porthGroupCode",
    "name": "cn",
}
OBJECT_CLASS = "objectClass"
MODIFIED_AT = "modifyTimestamp"  # slapd's own, for "changed since"

ACCOUNT_CLASS = "porthAccount"
ACCOUNT_OBJECT_CLASSES = ["inetOrgPerson", ACCOUNT_CLASS]
CONTACT_OBJECT_CLASS = "porthContactInfo"
SCHOOL_CLASS = "porthSchoolInfo"
ORGANISATION_CLASS = "porthOrganisationInfo"
GROUP_CLASS = "porthGroup"
UPN_KEY_RECORD_CLASS = "porthUpnKeyRecord"
UPN_KEY_FINGERPRINT = "porthUpnKeyFingerprint"

ACCOUNTS = filters.equals(OBJECT_CLASS, ACCOUNT_CLASS)
SCHOOLS = filters.equals(OBJECT_CLASS, SCHOOL_CLASS)
ORGANISATIONS = filters.equals(OBJECT_CLASS, ORGANISATION_CLASS)
GROUPS = filters.equals(OBJECT_CLASS, GROUP_CLASS)
ANY_ENTRY = filters.present(OBJECT_CLASS)

# -- What each use reads ------------------------------------------------------------
# A whole account: never the hash or the reveal copy.
WHOLE_ACCOUNT_FIELDS = tuple(f for f in ACCOUNT_ATTRIBUTES if f not in ("password", "password_vault", "common_name"))
# What a portal list shows and sorts by (View Users): a 2,000-learner school reads in
# half the time of whole entries (bench/portal.py).
LIST_FIELDS = ("id", "username", "kind", "state", "surname", "forename", "display_name", "mail", "school",
               "organisation", "staff_code", "year_group", "registration_group", "consent", "password_status",
               "expiry", "subsidiary_schools")
# What the provisioning planner compares: reading only these keeps a
# no-change national run fast (FACTS.md: decoding dominates bulk reads).
PLANNING_FIELDS = ("id", "username", "kind", "state", "surname", "forename", "school", "upn_hash",
                   "admission_number", "staff_code", "year_group", "registration_group", "classes",
                   "leaving_date", "roles", "state_changed_at", "state_changed_by", "state_reason",
                   "subsidiary_schools", "subsidiary_groups")
# What the IdP reads about a person: state and consent (may they go there?),
# and what services may be sent (idp/attributes.py).
SIGN_IN_FIELDS = ("id", "username", "names", "kind", "state", "surname", "forename", "display_name", "mail",
                  "school", "organisation", "year_group", "registration_group", "staff_code", "consent", "roles",
                  "state_changed_at", "state_changed_by", "state_reason", "last_sign_in", "last_bind")
# Fields an update may change, through update_account. Username, state and
# password have their own operations because each carries extra rules.
UPDATABLE_FIELDS = frozenset({
    "surname", "forename", "display_name", "school", "organisation", "upn_hash",
    "admission_number", "staff_code", "year_group", "registration_group", "classes",
    "consent", "expiry", "leaving_date", "roles", "subsidiary_schools", "subsidiary_groups",
})
# Personal data removed when an account is deleted; the names stay so that they
# are never reused, and surname and common name (required) become "deleted".
ERASED_ON_DELETE = ("forename", "display_name", "mail", "school", "organisation", "upn_hash", "admission_number",
                    "staff_code", "year_group", "registration_group", "classes", "consent", "password_vault",
                    "password", "expiry", "last_sign_in", "leaving_date", "roles",
                    "subsidiary_schools", "subsidiary_groups")


def account_attributes(fields: Iterable[str]) -> list[str]:
    """The attributes holding these Account fields."""
    return [A[field] for field in fields]


WHOLE_ACCOUNT = account_attributes(WHOLE_ACCOUNT_FIELDS) + list(CONTACT_ATTRIBUTES.values())


# -- Where entries live --------------------------------------------------------
class DirectoryTree:
    """The DN scheme under one base DN (the module docstring says why it is shaped so)."""

    def __init__(self, base_dn: str):
        self.base = base_dn
        self.people = f"ou=people,{base_dn}"
        self.schools = f"ou=schools,{base_dn}"
        self.organisations = f"ou=organisations,{base_dn}"
        self.groups = f"ou=groups,{base_dn}"
        self.policies = f"ou=policies,{base_dn}"
        # slapd's ppolicy overlay names it (olcPPolicyDefault, config/ldap/slapd-config.ldif.in).
        self.default_policy = f"cn=default,{self.policies}"
        # Which UPN-hash key made the hashes of the accounts beside it (directory/ldap/upn_key.py).
        self.upn_key_record = f"cn=upn-hash-key,{self.people}"

    def account(self, account_id: str) -> str:
        return f"{A['id']}={escape_rdn(account_id)},{self.people}"

    def school(self, dfes: str) -> str:
        return f"{SCHOOL_ATTRIBUTES['dfes']}={escape_rdn(dfes)},{self.schools}"

    def organisation(self, code: str) -> str:
        return f"{ORGANISATION_ATTRIBUTES['code']}={escape_rdn(code)},{self.organisations}"

    def group(self, group_id: str) -> str:
        return f"{GROUP_ATTRIBUTES['id']}={escape_rdn(group_id)},{self.groups}"

    def skeleton(self) -> list[tuple[str, dict[str, Any]]]:
        """The base entry and the containers under it, in the order they must be added."""
        attribute, value = self.base.split(",", 1)[0].split("=", 1)
        base_entry: dict[str, Any] = {OBJECT_CLASS: ["top", "organization"], "o": "Porth"}
        if attribute.lower() == "dc":
            base_entry = {OBJECT_CLASS: ["top", "dcObject", "organization"], "dc": value, "o": "Porth"}
        containers = [(dn, {OBJECT_CLASS: ["organizationalUnit"], "ou": dn.split(",", 1)[0][len("ou="):]})
                      for dn in (self.people, self.schools, self.organisations, self.groups, self.policies)]
        return [(self.base, base_entry), *containers]


# -- Values ------------------------------------------------------------------------
def generalized_time(value: datetime | date) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes written to the directory must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")
    return value.strftime("%Y%m%d000000Z")


def encode(value: Any) -> list[str]:
    """A domain value as LDAP values; empty list deletes the attribute."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted(str(v) for v in value) if isinstance(value, (set, frozenset)) else [str(v) for v in value]
    if isinstance(value, (datetime, date)):
        return [generalized_time(value)]
    if isinstance(value, bool):
        return ["TRUE" if value else "FALSE"]
    return [str(value)]


def parse_time(text: str) -> datetime:
    """LDAP GeneralizedTime (YYYYmmddHHMMSS[.fff]Z) to UTC; by slicing, not strptime, which
    cost ten times as much on every entry read."""
    if len(text) < 14 or not text[:14].isdigit():
        raise ValueError(f"not an LDAP time: {text!r}")
    return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                    int(text[12:14]), tzinfo=UTC)


def values(attributes: Mapping[str, Any], name: str) -> list[str]:
    """An attribute's values as text, whichever client library read them (bytes or str)."""
    raw = attributes.get(name)
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in raw]
    return [raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)]


def one(attributes: Mapping[str, Any], name: str) -> str | None:
    found = values(attributes, name)
    return found[0] if found else None


def required(attributes: Mapping[str, Any], name: str) -> str:
    """A value every entry of its kind has (the schema's MUST, or always written by Porth)."""
    found = one(attributes, name)
    if found is None:
        raise ValueError(f"an entry without {name}")
    return found


def _optional(kind, text: str | None):
    return None if text is None else kind(text)


# -- Entries -> domain objects ---------------------------------------------------
def account_from(attributes: Mapping[str, Any]) -> Account:
    field = lambda name: one(attributes, A[name])  # noqa: E731
    username = field("username") or ""
    changed_at = field("state_changed_at")
    state = AccountState(required(attributes, A["state"]))
    leaving = field("leaving_date")
    return Account(
        id=required(attributes, A["id"]),
        username=username,
        aliases=tuple(n for n in values(attributes, A["names"]) if n.casefold() != username.casefold()),
        kind=AccountKind(required(attributes, A["kind"])),
        state=state,
        surname=field("surname") or "",
        forename=field("forename") or "",
        display_name=field("display_name") or "",
        mail=field("mail") or "",
        school=field("school"),
        organisation=field("organisation"),
        upn_hash=field("upn_hash"),
        admission_number=field("admission_number"),
        staff_code=field("staff_code"),
        year_group=field("year_group"),
        registration_group=field("registration_group"),
        classes=tuple(sorted(values(attributes, A["classes"]))),
        consent=_optional(Consent, field("consent")),
        password_status=_optional(PasswordStatus, field("password_status")) or PasswordStatus.UNAVAILABLE,
        expiry=_optional(parse_time, field("expiry")),
        last_sign_in=max(filter(None, (_optional(parse_time, field("last_sign_in")),
                                       _optional(parse_time, field("last_bind")))), default=None),
        leaving_date=parse_time(leaving).date() if leaving else None,
        roles=frozenset(Role(r) for r in values(attributes, A["roles"])),
        state_change=StateChange(
            state=state,
            at=parse_time(changed_at),
            by=field("state_changed_by") or "",
            reason=field("state_reason") or "",
        ) if changed_at else None,
        created_at=_optional(parse_time, field("created_at")),
        contact=_contact_from(attributes),
        subsidiary_schools=tuple(sorted(values(attributes, A["subsidiary_schools"]))),
        subsidiary_groups=tuple(sorted(values(attributes, A["subsidiary_groups"]))),
    )


def _contact_from(attributes: Mapping[str, Any]) -> Contact | None:
    found = {field: one(attributes, attr) for field, attr in CONTACT_ATTRIBUTES.items()}
    return Contact(**found) if any(found.values()) else None


def school_from(attributes: Mapping[str, Any]) -> School:
    field = lambda name: one(attributes, SCHOOL_ATTRIBUTES[name])  # noqa: E731
    must = lambda name: required(attributes, SCHOOL_ATTRIBUTES[name])  # noqa: E731
    quota = field("staff_licence_quota")
    return School(
        dfes=must("dfes"),
        name=must("name"),
        type=SchoolType(must("type")),
        la_code=must("la_code"),
        mail_domain=field("mail_domain"),
        state=SchoolState(must("state")),
        staff_licence_quota=int(quota) if quota is not None else None,
        merged_into=field("merged_into"),
    )


def organisation_from(attributes: Mapping[str, Any]) -> Organisation:
    must = lambda name: required(attributes, ORGANISATION_ATTRIBUTES[name])  # noqa: E731
    return Organisation(code=must("code"), name=must("name"), kind=OrganisationKind(must("kind")),
                        parent=one(attributes, ORGANISATION_ATTRIBUTES["parent"]))


def group_from(attributes: Mapping[str, Any]) -> Group:
    must = lambda name: required(attributes, GROUP_ATTRIBUTES[name])  # noqa: E731
    return Group(id=must("id"), school=must("school"), kind=GroupKind(must("kind")), code=must("code"),
                 name=must("name"))


# -- Domain objects -> entries ---------------------------------------------------
def _entry(object_classes: list[str], table: Mapping[str, str], source: object) -> dict[str, Any]:
    entry: dict[str, Any] = {OBJECT_CLASS: object_classes}
    for field, attribute in table.items():
        encoded = encode(getattr(source, field))
        if encoded:
            entry[attribute] = encoded
    return entry


def school_entry(school: School) -> dict[str, Any]:
    return _entry(["organization", SCHOOL_CLASS], SCHOOL_ATTRIBUTES, school)


def organisation_entry(organisation: Organisation) -> dict[str, Any]:
    return _entry(["organization", ORGANISATION_CLASS], ORGANISATION_ATTRIBUTES, organisation)


def group_entry(group: Group) -> dict[str, Any]:
    return _entry([GROUP_CLASS], GROUP_ATTRIBUTES, group)


def new_account_entry(new: NewAccount, account_id: str, now: datetime) -> dict[str, Any]:
    """A new account's entry, without its names and password (claimed and hashed elsewhere)."""
    display_name = f"{new.forename} {new.surname}".strip()
    entry: dict[str, Any] = {
        OBJECT_CLASS: ACCOUNT_OBJECT_CLASSES,
        A["id"]: account_id,
        A["common_name"]: display_name,
        A["display_name"]: display_name,
        A["kind"]: new.kind.value,
        A["state"]: AccountState.ACTIVE.value,
        A["state_changed_at"]: generalized_time(now),
        A["state_changed_by"]: new.created_by,
        A["state_reason"]: "created",
        A["password_status"]: PasswordStatus.UNAVAILABLE.value,
    }
    for field in ("surname", "forename", "school", "organisation", "upn_hash", "admission_number",
                  "staff_code", "year_group", "registration_group", "classes", "consent", "expiry",
                  "leaving_date", "roles"):
        encoded = encode(getattr(new, field))
        if encoded:
            entry[A[field]] = encoded
    if new.contact is not None:
        for field, attribute in CONTACT_ATTRIBUTES.items():
            value = getattr(new.contact, field)
            if value:
                entry[attribute] = value
        if new.contact.work_email:
            entry[OBJECT_CLASS] = [*ACCOUNT_OBJECT_CLASSES, CONTACT_OBJECT_CLASS]
    return entry


def names_entry(username: str, address: str) -> dict[str, list[str]]:
    """The attributes naming an account: the username, its address, and the names it answers to."""
    return {A["username"]: [username], A["names"]: [username], A["mail"]: [address]}


# -- The password policy (slapd's ppolicy overlay) -----------------------------------
def password_policy_entry(lockout: Lockout, min_length: int) -> dict[str, Any]:
    return {
        OBJECT_CLASS: ["device", "pwdPolicy"],
        "cn": "default",
        "pwdAttribute": A["password"],
        "pwdMinLength": str(min_length),
        "pwdCheckQuality": "1",
        "pwdLockout": "TRUE",
        "pwdAllowUserChange": "TRUE",
        "pwdMustChange": "FALSE",
        **lockout_attributes(lockout),
    }


def lockout_attributes(lockout: Lockout) -> dict[str, str]:
    """How slapd's ppolicy states the lockout: failures forgiven after as long as the lock lasts,
    like the IdP's own throttle (idp/throttling.py)."""
    seconds = str(lockout.minutes * 60)
    return {"pwdMaxFailure": str(lockout.failures), "pwdLockoutDuration": seconds, "pwdFailureCountInterval": seconds}
