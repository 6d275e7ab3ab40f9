"""The directory store: Porth's only door to LDAP (ldap3).

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
``porthUsername`` says which is current. The directory's unique overlay on
``uid`` (serialised) makes a name, once used, never given to anyone else and
makes allocation safe between processes: the store picks the first free
candidate and lets the server refuse it if another process was faster.

LDAP attribute names are declared once, in the tables below. ldap3's
exceptions are mapped to directory.errors at this boundary.
"""

from __future__ import annotations

import math
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import ldap as python_ldap
import ldap3
from ldap.controls import SimplePagedResultsControl
from ldap3.core import exceptions as lx
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from directory import errors
from directory.password_hash import ldap_password_hash
from directory.model import (
    Account,
    AccountKind,
    Contact,
    AccountState,
    Consent,
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
from directory.rules import passwords, usernames
from directory.rules.vault import PasswordVault

# -- The mapping: domain field -> LDAP attribute ------------------------------
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
}
# The optional contact details of a non-MIS account (Contact), inetOrgPerson's own
# attributes except the work address; porthContactInfo is added only when that is set.
CONTACT_ATTRIBUTES = {"organisation_name": "o", "job_title": "title", "work_email": "porthWorkEmail",
                      "phone": "telephoneNumber"}
CONTACT_OBJECT_CLASS = "porthContactInfo"
A = ACCOUNT_ATTRIBUTES
ACCOUNT_OBJECT_CLASSES = ["inetOrgPerson", "porthAccount"]
# What the domain object is built from (never the hash or the vault copy).
_ACCOUNT_READ = [
    attr for field, attr in A.items() if field not in ("password", "password_vault", "common_name")
] + list(CONTACT_ATTRIBUTES.values())
# Fields an update may change, through update_account. Username, state and
# password have their own operations because each carries extra rules.
UPDATABLE_FIELDS = frozenset({
    "surname", "forename", "display_name", "school", "organisation", "upn_hash",
    "admission_number", "staff_code", "year_group", "registration_group", "classes",
    "consent", "expiry", "leaving_date", "roles",
})
# Personal data removed when an account is deleted; uid stays so that its
# names are never reused.
_ERASED_ON_DELETE = [
    "givenName", "displayName", "mail", "porthSchool", "porthOrganisation", "porthUpnHash",
    "porthAdmissionNumber", "porthStaffCode", "porthYearGroup", "porthRegistrationGroup",
    "porthClass", "porthConsent", "porthPasswordVault", "userPassword", "porthExpiry",
    "porthLastSignIn", "porthLeavingDate", "porthRole",
]

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

PEOPLE_OU = "ou=people"
SCHOOLS_OU = "ou=schools"
ORGANISATIONS_OU = "ou=organisations"
GROUPS_OU = "ou=groups"
POLICIES_OU = "ou=policies"
DEFAULT_POLICY = {
    "objectClass": ["device", "pwdPolicy"],
    "cn": "default",
    "pwdAttribute": "userPassword",
    "pwdMinLength": str(passwords.MIN_LENGTH),
    "pwdCheckQuality": "1",
    "pwdMaxFailure": "10",
    "pwdLockout": "TRUE",
    "pwdLockoutDuration": "900",
    "pwdFailureCountInterval": "900",
    "pwdAllowUserChange": "TRUE",
    "pwdMustChange": "FALSE",
}
_PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
_USERNAME_ATTEMPTS = 25


# -- Value encoding ------------------------------------------------------------
def _generalized_time(value: datetime | date) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes written to the directory must be timezone-aware")
        return value.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")
    return value.strftime("%Y%m%d000000Z")


def _encode(value: Any) -> list[str]:
    """A domain value as LDAP values; empty list deletes the attribute."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted(str(v) for v in value) if isinstance(value, (set, frozenset)) else [str(v) for v in value]
    if isinstance(value, (datetime, date)):
        return [_generalized_time(value)]
    if isinstance(value, bool):
        return ["TRUE" if value else "FALSE"]
    return [str(value)]


def _parse_time(text: str) -> datetime:
    """LDAP GeneralizedTime (YYYYmmddHHMMSS[.fff]Z) to UTC; by slicing, not strptime, which
    cost ten times as much on every entry read."""
    if len(text) < 14 or not text[:14].isdigit():
        raise ValueError(f"not an LDAP time: {text!r}")
    return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                    int(text[12:14]), tzinfo=timezone.utc)


def _values(attributes: Mapping[str, Any], name: str) -> list[str]:
    raw = attributes.get(name)
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in raw]
    return [raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)]


def _one(attributes: Mapping[str, Any], name: str) -> str | None:
    values = _values(attributes, name)
    return values[0] if values else None


def _opt(kind, text: str | None):
    return None if text is None else kind(text)


def _account_from(attributes: Mapping[str, Any]) -> Account:
    one = lambda field: _one(attributes, A[field])  # noqa: E731
    username = one("username") or ""
    changed_at = one("state_changed_at")
    state = AccountState(one("state"))
    leaving = one("leaving_date")
    return Account(
        id=one("id"),
        username=username,
        aliases=tuple(n for n in _values(attributes, A["names"]) if n.casefold() != username.casefold()),
        kind=AccountKind(one("kind")),
        state=state,
        surname=one("surname") or "",
        forename=one("forename") or "",
        display_name=one("display_name") or "",
        mail=one("mail") or "",
        school=one("school"),
        organisation=one("organisation"),
        upn_hash=one("upn_hash"),
        admission_number=one("admission_number"),
        staff_code=one("staff_code"),
        year_group=one("year_group"),
        registration_group=one("registration_group"),
        classes=tuple(sorted(_values(attributes, A["classes"]))),
        consent=_opt(Consent, one("consent")),
        password_status=_opt(PasswordStatus, one("password_status")) or PasswordStatus.UNAVAILABLE,
        expiry=_opt(_parse_time, one("expiry")),
        last_sign_in=max(filter(None, (_opt(_parse_time, one("last_sign_in")), _opt(_parse_time, one("last_bind")))),
                         default=None),
        leaving_date=_parse_time(leaving).date() if leaving else None,
        roles=frozenset(Role(r) for r in _values(attributes, A["roles"])),
        state_change=StateChange(
            state=state,
            at=_parse_time(changed_at),
            by=one("state_changed_by") or "",
            reason=one("state_reason") or "",
        ) if changed_at else None,
        created_at=_opt(_parse_time, one("created_at")),
        contact=_contact_from(attributes),
    )


def _contact_from(attributes: Mapping[str, Any]) -> Contact | None:
    values = {field: _one(attributes, attr) for field, attr in CONTACT_ATTRIBUTES.items()}
    return Contact(**values) if any(values.values()) else None


def _school_from(attributes: Mapping[str, Any]) -> School:
    one = lambda field: _one(attributes, SCHOOL_ATTRIBUTES[field])  # noqa: E731
    quota = one("staff_licence_quota")
    return School(
        dfes=one("dfes"),
        name=one("name"),
        type=SchoolType(one("type")),
        la_code=one("la_code"),
        mail_domain=one("mail_domain"),
        state=SchoolState(one("state")),
        staff_licence_quota=int(quota) if quota is not None else None,
        merged_into=one("merged_into"),
    )


def _organisation_from(attributes: Mapping[str, Any]) -> Organisation:
    one = lambda field: _one(attributes, ORGANISATION_ATTRIBUTES[field])  # noqa: E731
    return Organisation(
        code=one("code"), name=one("name"), kind=OrganisationKind(one("kind")), parent=one("parent")
    )


def _group_from(attributes: Mapping[str, Any]) -> Group:
    one = lambda field: _one(attributes, GROUP_ATTRIBUTES[field])  # noqa: E731
    return Group(
        id=one("id"), school=one("school"), kind=GroupKind(one("kind")), code=one("code"), name=one("name")
    )


def _state_modification(state: AccountState, by: str, reason: str, now: datetime) -> dict[str, list]:
    """The state and its who/when/why (SPEC A-6), as modify operations."""
    return {
        A["state"]: [(ldap3.MODIFY_REPLACE, [state.value])],
        A["state_changed_at"]: [(ldap3.MODIFY_REPLACE, [_generalized_time(now)])],
        A["state_changed_by"]: [(ldap3.MODIFY_REPLACE, [by])],
        A["state_reason"]: [(ldap3.MODIFY_REPLACE, [reason])],
    }


def _equals(attribute: str, value: str) -> str:
    return f"({attribute}={escape_filter_chars(value)})"


def _all_of(*filters: str) -> str:
    return filters[0] if len(filters) == 1 else "(&" + "".join(filters) + ")"


@dataclass(frozen=True)
class AccountQuery:
    """What a portal list narrows accounts to (every field optional, all must hold)."""

    school: str | None = None
    organisation: str | None = None
    kinds: tuple[AccountKind, ...] = ()
    states: tuple[AccountState, ...] = ()
    year_group: str | None = None
    registration_group: str | None = None
    group_class: str | None = None
    consent: Consent | None = None
    words: tuple[str, ...] = ()  # search terms: surname, forename or username contains each
    changed_since: datetime | None = None  # entries modified at or after (slapd's modifyTimestamp)
    # Only these Account fields are read (the others are left empty); None: every field.
    fields: tuple[str, ...] | None = None


# -- Error mapping -------------------------------------------------------------
@dataclass(frozen=True)
class DirectoryConfig:
    url: str
    base_dn: str
    bind_dn: str
    bind_password: str
    mail_domain: str
    pool_size: int = 4
    timeout_seconds: float = 5.0
    page_size: int = 500

    def __repr__(self) -> str:
        return f"DirectoryConfig(url={self.url!r}, base_dn={self.base_dn!r}, bind_dn={self.bind_dn!r})"


_COMMUNICATION = (lx.LDAPCommunicationError, lx.LDAPSocketOpenError, lx.LDAPSocketReceiveError,
                  lx.LDAPSocketSendError, lx.LDAPSessionTerminatedByServerError, lx.LDAPStartTLSError,
                  lx.LDAPResponseTimeoutError)
_MALFORMED = (lx.LDAPObjectClassViolationResult, lx.LDAPInvalidAttributeSyntaxResult,
              lx.LDAPUndefinedAttributeTypeResult, lx.LDAPInvalidDNSyntaxResult,
              lx.LDAPNamingViolationResult, lx.LDAPAttributeOrValueExistsResult,
              lx.LDAPObjectClassModsProhibitedResult, lx.LDAPNotAllowedOnRDNResult)


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", "") or ""
    description = getattr(exc, "description", "") or ""
    text = f"{description}: {message}" if message and description else (message or description or str(exc))
    return " ".join(text.split())


@contextmanager
def _mapped_errors(config: DirectoryConfig, doing: str):
    try:
        yield
    except errors.DirectoryError:
        raise
    except _COMMUNICATION as exc:
        raise errors.DirectoryUnavailable(
            f"cannot reach the directory at {config.url} while {doing}: {_reason(exc)}"
        ) from None
    except lx.LDAPNoSuchObjectResult as exc:
        raise errors.EntryNotFound(f"{doing}: no such entry ({_reason(exc)})") from None
    except lx.LDAPEntryAlreadyExistsResult:
        raise errors.EntryAlreadyExists(f"{doing}: the entry already exists") from None
    except lx.LDAPConstraintViolationResult as exc:
        raise errors.ConstraintViolation(f"{doing}: {_reason(exc)}") from None
    except _MALFORMED as exc:
        raise errors.InvalidEntry(f"{doing}: the directory refused the entry: {_reason(exc)}") from None
    except (lx.LDAPInsufficientAccessRightsResult, lx.LDAPInvalidCredentialsResult) as exc:
        raise errors.DirectoryMisconfigured(
            f"the directory at {config.url} refused {config.bind_dn} while {doing}: {_reason(exc)}"
        ) from None
    except lx.LDAPException as exc:
        raise errors.DirectoryError(f"{doing}: {_reason(exc)}") from None


# -- Connection pool -----------------------------------------------------------
class _ConnectionPool:
    """A few bound service connections, reused; a broken one is dropped."""

    def __init__(self, config: DirectoryConfig):
        self._config = config
        self._server = ldap3.Server(config.url, get_info=ldap3.NONE, connect_timeout=config.timeout_seconds)
        self._idle: queue.LifoQueue[ldap3.Connection] = queue.LifoQueue()

    def _open(self) -> ldap3.Connection:
        with _mapped_errors(self._config, "binding as Porth's service account"):
            try:
                return ldap3.Connection(
                    self._server,
                    user=self._config.bind_dn,
                    password=self._config.bind_password,
                    auto_bind=ldap3.AUTO_BIND_NO_TLS,
                    raise_exceptions=True,
                    receive_timeout=math.ceil(self._config.timeout_seconds),
                    read_only=False,
                )
            except (lx.LDAPBindError, lx.LDAPInvalidCredentialsResult) as exc:
                raise errors.DirectoryMisconfigured(
                    f"the directory at {self._config.url} refused Porth's bind as {self._config.bind_dn}: "
                    f"{_reason(exc)} (check PORTH_LDAP__BIND_DN and PORTH_LDAP__BIND_PASSWORD)"
                ) from None

    @contextmanager
    def connection(self) -> Iterator[ldap3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._open()
        healthy = False
        try:
            yield conn
            healthy = True
        except (lx.LDAPOperationResult, errors.DirectoryError) as exc:
            # A result the server sent (no such entry, constraint violation...)
            # leaves the connection usable; a broken socket does not.
            healthy = not isinstance(exc, (*_COMMUNICATION, errors.DirectoryUnavailable))
            raise
        finally:
            if healthy and self._idle.qsize() < self._config.pool_size:
                self._idle.put(conn)
            else:
                try:
                    conn.unbind()
                except Exception:  # noqa: BLE001 - closing a dead socket may fail any way
                    pass

    def close(self) -> None:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            try:
                conn.unbind()
            except Exception:  # noqa: BLE001
                pass


# What a portal list shows and sorts by (View Users): a 2,000-learner school reads in
# half the time of whole entries (bench/portal.py).
LIST_FIELDS = ("id", "username", "kind", "state", "surname", "forename", "display_name", "mail", "school",
               "organisation", "staff_code", "year_group", "registration_group", "consent", "password_status",
               "expiry")

# -- Bulk reads --------------------------------------------------------------------
# What the provisioning planner compares: reading only these keeps a
# no-change national run fast (FACTS.md: decoding dominates bulk reads).
PLANNING_FIELDS = ("id", "username", "kind", "state", "surname", "forename", "school", "upn_hash",
                   "admission_number", "staff_code", "year_group", "registration_group", "classes",
                   "leaving_date", "roles")


def python_ldap_connection(config: DirectoryConfig, timeout: float, bind_as_porth: bool = True):
    """A python-ldap connection (its C decoder is what bulk reads and sign-ins use),
    bound as Porth's service account unless the caller binds it as someone else."""
    conn = python_ldap.initialize(config.url)
    conn.set_option(python_ldap.OPT_NETWORK_TIMEOUT, config.timeout_seconds)
    conn.set_option(python_ldap.OPT_TIMEOUT, timeout)
    conn.protocol_version = 3
    if bind_as_porth:
        try:
            conn.simple_bind_s(config.bind_dn, config.bind_password)
        except python_ldap.INVALID_CREDENTIALS:
            raise errors.DirectoryMisconfigured(
                f"the directory at {config.url} refused Porth's bind as {config.bind_dn} "
                "(check PORTH_LDAP__BIND_DN and PORTH_LDAP__BIND_PASSWORD)"
            ) from None
    return conn


class _BulkReader:
    """Paged bulk reads with python-ldap, whose C decoder reads entries about six
    times faster than ldap3 (FACTS.md); used only where whole schools are read."""

    def __init__(self, config: DirectoryConfig):
        self._config = config
        self._local = threading.local()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = python_ldap_connection(self._config, max(self._config.timeout_seconds, 30))
            self._local.conn = conn
        return conn

    def search(self, base: str, search_filter: str, attributes: list[str], doing: str) -> Iterator[dict[str, Any]]:
        try:
            conn = self._connection()
            control = SimplePagedResultsControl(True, size=self._config.page_size, cookie=b"")
            while True:
                message = conn.search_ext(base, python_ldap.SCOPE_SUBTREE, search_filter, attributes,
                                          serverctrls=[control])
                _, entries, _, controls = conn.result3(message)
                for _dn, attrs in entries:
                    if _dn is not None:
                        yield attrs
                cookie = next((c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType),
                              None)
                if not cookie:
                    return
                control.cookie = cookie
        except python_ldap.SERVER_DOWN as exc:
            self._local.conn = None
            raise errors.DirectoryUnavailable(
                f"cannot reach the directory at {self._config.url} while {doing}: {exc.args[0].get('desc', exc)}"
            ) from None
        except python_ldap.LDAPError as exc:
            self._local.conn = None
            detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            raise errors.DirectoryError(f"{doing}: {detail.get('desc', exc)} {detail.get('info', '')}".strip()) from None

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.unbind_s()
            except python_ldap.LDAPError:
                pass
            self._local.conn = None


# -- The store -----------------------------------------------------------------
class DirectoryStore:
    def __init__(self, config: DirectoryConfig, vault: PasswordVault):
        self.config = config
        self.vault = vault
        self._pool = _ConnectionPool(config)
        self._bulk = _BulkReader(config)
        self._next_free_number: dict[str, int] = {}  # username base (casefolded) -> number to try next
        base = config.base_dn
        self.people_dn = f"{PEOPLE_OU},{base}"
        self.schools_dn = f"{SCHOOLS_OU},{base}"
        self.organisations_dn = f"{ORGANISATIONS_OU},{base}"
        self.groups_dn = f"{GROUPS_OU},{base}"
        self.policies_dn = f"{POLICIES_OU},{base}"

    def close(self) -> None:
        self._pool.close()
        self._bulk.close()

    # -- low level ---------------------------------------------------------
    def _search(self, base: str, search_filter: str, attributes: list[str], doing: str,
                scope=ldap3.SUBTREE, size_limit: int = 0) -> list[dict[str, Any]]:
        for attempt in (1, 2):
            try:
                with _mapped_errors(self.config, doing), self._pool.connection() as conn:
                    conn.search(base, search_filter, scope, attributes=attributes, size_limit=size_limit)
                    return [e["attributes"] for e in conn.response if e.get("type") == "searchResEntry"]
            except errors.DirectoryUnavailable:
                if attempt == 2:  # a read is retried once on a fresh connection (slapd restarted)
                    raise
        raise AssertionError("unreachable")

    def _paged(self, base: str, search_filter: str, attributes: list[str], doing: str) -> Iterator[dict[str, Any]]:
        """Entries in server-side pages of page_size (RFC 2696), one connection throughout."""
        with _mapped_errors(self.config, doing), self._pool.connection() as conn:
            cookie: bytes | None = None
            while True:
                conn.search(base, search_filter, ldap3.SUBTREE, attributes=attributes,
                            paged_size=self.config.page_size, paged_cookie=cookie)
                page = [e["attributes"] for e in conn.response if e.get("type") == "searchResEntry"]
                cookie = conn.result.get("controls", {}).get(_PAGED_RESULTS_OID, {}).get("value", {}).get("cookie")
                yield from page
                if not cookie:
                    return

    def _add(self, dn: str, attributes: dict[str, Any], doing: str) -> None:
        with _mapped_errors(self.config, doing), self._pool.connection() as conn:
            conn.add(dn, attributes=attributes)

    def _modify(self, dn: str, changes: dict[str, list], doing: str) -> None:
        with _mapped_errors(self.config, doing), self._pool.connection() as conn:
            conn.modify(dn, changes)

    # -- health and structure ----------------------------------------------
    def check(self) -> None:
        """Bind and read the base entry: raises one clear DirectoryError if not usable."""
        try:
            found = self._search(self.config.base_dn, "(objectClass=*)", ["objectClass"],
                                 "checking the directory", scope=ldap3.BASE)
        except errors.EntryNotFound:
            found = []
        if not found:
            raise errors.DirectoryMisconfigured(
                f"the directory at {self.config.url} has no base entry {self.config.base_dn} (check PORTH_LDAP__BASE_DN)"
            )

    def initialise(self) -> bool:
        """Create the DIT (base, ou=people/schools/organisations/groups/policies,
        the default password policy) where missing. True if anything was added."""
        base = self.config.base_dn
        first_rdn = base.split(",", 1)[0]
        attr, value = first_rdn.split("=", 1)
        base_entry = {"objectClass": ["top", "organization"], "o": "Porth"}
        if attr.lower() == "dc":
            base_entry = {"objectClass": ["top", "dcObject", "organization"], "dc": value, "o": "Porth"}
        wanted: list[tuple[str, dict[str, Any]]] = [(base, base_entry)]
        for dn in (self.people_dn, self.schools_dn, self.organisations_dn, self.groups_dn, self.policies_dn):
            wanted.append((dn, {"objectClass": ["organizationalUnit"], "ou": dn.split(",")[0][3:]}))
        wanted.append((f"cn=default,{self.policies_dn}", DEFAULT_POLICY))
        added = False
        for dn, attributes in wanted:
            try:
                self._add(dn, attributes, f"creating {dn}")
                added = True
            except errors.EntryAlreadyExists:
                pass
        return added

    # -- organisations and schools -----------------------------------------
    def add_organisation(self, organisation: Organisation) -> None:
        attrs = {"objectClass": ["organization", "porthOrganisationInfo"]}
        for field, attr in ORGANISATION_ATTRIBUTES.items():
            values = _encode(getattr(organisation, field))
            if values:
                attrs[attr] = values
        dn = f"porthOrgCode={escape_rdn(organisation.code)},{self.organisations_dn}"
        self._add(dn, attrs, f"adding organisation {organisation.code}")

    def organisations(self) -> list[Organisation]:
        found = self._search(self.organisations_dn, "(objectClass=porthOrganisationInfo)",
                             list(ORGANISATION_ATTRIBUTES.values()), "listing organisations")
        return sorted((_organisation_from(a) for a in found), key=lambda o: (o.kind, o.code))

    def add_school(self, school: School) -> None:
        attrs: dict[str, Any] = {"objectClass": ["organization", "porthSchoolInfo"]}
        for field, attr in SCHOOL_ATTRIBUTES.items():
            values = _encode(getattr(school, field))
            if values:
                attrs[attr] = values
        self._add(self._school_dn(school.dfes), attrs, f"adding school {school.dfes}")

    def _school_dn(self, dfes: str) -> str:
        return f"porthDfes={escape_rdn(dfes)},{self.schools_dn}"

    def get_school(self, dfes: str) -> School | None:
        found = self._search(self.schools_dn, _all_of("(objectClass=porthSchoolInfo)", _equals("porthDfes", dfes)),
                             list(SCHOOL_ATTRIBUTES.values()), f"reading school {dfes}")
        return _school_from(found[0]) if found else None

    def schools(self, la_code: str | None = None) -> list[School]:
        search = "(objectClass=porthSchoolInfo)"
        if la_code is not None:
            search = _all_of(search, _equals("porthOrgCode", la_code))
        found = self._search(self.schools_dn, search, list(SCHOOL_ATTRIBUTES.values()), "listing schools")
        return sorted((_school_from(a) for a in found), key=lambda s: s.dfes)

    def rename_school(self, dfes: str, name: str) -> None:
        self._modify(self._school_dn(dfes), {SCHOOL_ATTRIBUTES["name"]: [(ldap3.MODIFY_REPLACE, [name])]},
                     f"renaming school {dfes}")

    # -- groups ----------------------------------------------------------------
    def add_group(self, school: str, kind: GroupKind, code: str, name: str | None = None) -> Group:
        group = Group(id=str(uuid.uuid4()), school=school, kind=kind, code=code, name=name or code)
        attrs: dict[str, Any] = {"objectClass": ["porthGroup"]}
        for field, attr in GROUP_ATTRIBUTES.items():
            attrs[attr] = _encode(getattr(group, field))
        self._add(f"porthId={group.id},{self.groups_dn}", attrs, f"adding group {code} of school {school}")
        return group

    def remove_group(self, group_id: str) -> None:
        with _mapped_errors(self.config, f"removing group {group_id}"), self._pool.connection() as conn:
            conn.delete(f"porthId={escape_rdn(group_id)},{self.groups_dn}")

    def groups(self, school: str, kind: GroupKind | None = None) -> list[Group]:
        filters = ["(objectClass=porthGroup)", _equals("porthSchool", school)]
        if kind is not None:
            filters.append(_equals("porthGroupKind", kind.value))
        found = self._search(self.groups_dn, _all_of(*filters), list(GROUP_ATTRIBUTES.values()),
                             f"listing groups of school {school}")
        return sorted((_group_from(a) for a in found), key=lambda g: (g.kind, g.code))

    # -- reading accounts ----------------------------------------------------
    def account_dn(self, account_id: str) -> str:
        return f"porthId={escape_rdn(account_id)},{self.people_dn}"

    def _find_accounts(self, search_filter: str, doing: str) -> list[Account]:
        found = self._search(self.people_dn, _all_of("(objectClass=porthAccount)", search_filter),
                             _ACCOUNT_READ, doing)
        return [_account_from(a) for a in found]

    def _exactly_one(self, accounts: list[Account], what: str) -> Account | None:
        live = [a for a in accounts if a.state is not AccountState.DELETED]
        if len(live) > 1:
            raise errors.MultipleMatches(f"Multiple entries for search: {len(live)} accounts match {what}")
        return live[0] if live else None

    def get_account(self, account_id: str) -> Account | None:
        return self._exactly_one(self._find_accounts(_equals(A["id"], account_id), "reading an account"),
                                 f"id {account_id}")

    def find_by_username(self, name: str) -> Account | None:
        """By current username or any alias, any case, with or without @domain."""
        if "@" in name:
            local, _, domain = name.strip().rpartition("@")
            if domain.lower() != self.config.mail_domain.lower():
                return None
        else:
            local = name.strip()
        if not local:
            return None
        return self._exactly_one(self._find_accounts(_equals(A["names"], local), "finding an account by username"),
                                 "that username")

    def find_by_upn_hash(self, upn_hash: str) -> Account | None:
        """The one live account of a learner, matched across schools (M-6); MultipleMatches if more."""
        return self._exactly_one(
            self._find_accounts(_equals(A["upn_hash"], upn_hash), "finding a learner by UPN"),
            "that UPN",
        )

    def find_by_upn_hashes(self, upn_hashes: Iterable[str], chunk: int = 200) -> dict[str, list[Account]]:
        """Live accounts carrying each of these UPN hashes (a few searches, not one per hash)."""
        found: dict[str, list[Account]] = {}
        wanted = sorted(set(upn_hashes))
        for start in range(0, len(wanted), chunk):
            part = wanted[start:start + chunk]
            search = "(|" + "".join(_equals(A["upn_hash"], h) for h in part) + ")"
            for account in self._find_accounts(search, "finding learners by UPN"):
                if account.state is not AccountState.DELETED and account.upn_hash:
                    found.setdefault(account.upn_hash, []).append(account)
        return found

    def iter_accounts(self, school: str | None = None, kind: AccountKind | None = None,
                      state: AccountState | None = None, organisation: str | None = None) -> Iterator[Account]:
        """All matching accounts, read from the server in pages."""
        filters = ["(objectClass=porthAccount)"]
        if school is not None:
            filters.append(_equals(A["school"], school))
        if organisation is not None:
            filters.append(_equals(A["organisation"], organisation))
        if kind is not None:
            filters.append(_equals(A["kind"], kind.value))
        if state is not None:
            filters.append(_equals(A["state"], state.value))
        for attributes in self._paged(self.people_dn, _all_of(*filters), _ACCOUNT_READ, "listing accounts"):
            yield _account_from(attributes)

    @staticmethod
    def _account_filters(query: AccountQuery) -> list[str]:
        filters = ["(objectClass=porthAccount)"]
        if query.school is not None:
            filters.append(_equals(A["school"], query.school))
        if query.organisation is not None:
            filters.append(_equals(A["organisation"], query.organisation))
        if query.kinds:
            filters.append("(|" + "".join(_equals(A["kind"], k.value) for k in query.kinds) + ")")
        if query.states:
            filters.append("(|" + "".join(_equals(A["state"], s.value) for s in query.states) + ")")
        for field, value in (("year_group", query.year_group), ("registration_group", query.registration_group),
                             ("classes", query.group_class)):
            if value:
                filters.append(_equals(A[field], value))
        if query.consent is Consent.NOT_OBTAINED:  # the default: an account may not carry the attribute at all
            filters.append(f"(|{_equals(A['consent'], query.consent.value)}(!({A['consent']}=*)))")
        elif query.consent is not None:
            filters.append(_equals(A["consent"], query.consent.value))
        if query.changed_since is not None:
            filters.append(f"(modifyTimestamp>={_generalized_time(query.changed_since)})")
        for word in query.words:  # each word must be in a surname, forename or username
            term = escape_filter_chars(word)
            filters.append(f"(|({A['surname']}=*{term}*)({A['forename']}=*{term}*)({A['names']}=*{term}*))")
        return filters

    def find_accounts(self, query: AccountQuery) -> list[Account]:
        """Accounts matching what a portal list asks for, whole (python-ldap's decoder:
        a 2,000-learner school reads in milliseconds); the caller sorts and pages."""
        filters = self._account_filters(query)
        attributes = _ACCOUNT_READ if query.fields is None else [A[f] for f in query.fields]
        return [_account_from(attrs) for attrs in self._bulk.search(
            self.people_dn, _all_of(*filters), attributes, "listing accounts")]

    def accounts_for_planning(self, school: str) -> list[Account]:
        """A school's accounts with only the fields the provisioning planner compares
        (PLANNING_FIELDS; mail, display name and the like are left empty)."""
        search = _all_of("(objectClass=porthAccount)", _equals(A["school"], school))
        return [_account_from(attrs) for attrs in self._bulk.search(
            self.people_dn, search, [A[f] for f in PLANNING_FIELDS], f"reading the accounts of school {school}")]

    def account_counts(self, state: AccountState = AccountState.ACTIVE) -> dict[str, Counter[AccountKind]]:
        """Per school: how many accounts of each kind are in `state`."""
        counts: dict[str, Counter[AccountKind]] = {}
        search = _all_of("(objectClass=porthAccount)", _equals(A["state"], state.value), f"({A['school']}=*)")
        for attributes in self._paged(self.people_dn, search, [A["school"], A["kind"]], "counting accounts"):
            school = _one(attributes, A["school"])
            counts.setdefault(school, Counter())[AccountKind(_one(attributes, A["kind"]))] += 1
        return counts

    def _names_starting(self, base: str) -> set[str]:
        search = f"({A['names']}={escape_filter_chars(base)}*)"
        found = self._search(self.people_dn, search, [A["names"]], "looking up taken usernames")
        return {name for attributes in found for name in _values(attributes, A["names"])}

    def _name_taken(self, name: str) -> bool:
        return bool(self._search(self.people_dn, _equals(A["names"], name), [A["id"]], "checking a username"))

    # -- writing accounts ----------------------------------------------------
    def _password_attributes(self, password: str, set_by_user: bool) -> dict[str, list[str]]:
        status = passwords.status_after_set_by_user() if set_by_user else passwords.status_after_set_by_administrator()
        return {
            # Hashed here, not by slapd: see directory/password_hash.py.
            A["password"]: [ldap_password_hash(password)],
            A["password_status"]: [status.value],
            A["password_vault"]: [self.vault.seal(password)] if passwords.keeps_reveal_copy(status) else [],
        }

    def add_account(self, new: NewAccount, now: datetime) -> Account:
        """Create an account with a freshly allocated username, in one LDAP add.

        The add is a single atomic operation: it either creates the whole entry
        (names, password hash, reveal copy) or nothing.
        """
        if new.kind.belongs_to_school and not new.school:
            raise errors.InvalidEntry(f"a {new.kind.value} account needs a school")
        if new.kind is AccountKind.LEARNER and not new.upn_hash:
            raise errors.InvalidEntry("a learner account needs a UPN hash (M-2)")
        if new.password is not None:
            passwords.check_policy(new.password)
        account_id = str(uuid.uuid4())
        display_name = f"{new.forename} {new.surname}".strip()
        attributes: dict[str, Any] = {
            "objectClass": ACCOUNT_OBJECT_CLASSES,
            A["id"]: account_id,
            A["common_name"]: display_name,
            A["display_name"]: display_name,
            A["kind"]: new.kind.value,
            A["state"]: AccountState.ACTIVE.value,
            A["state_changed_at"]: _generalized_time(now),
            A["state_changed_by"]: new.created_by,
            A["state_reason"]: "created",
            A["password_status"]: PasswordStatus.UNAVAILABLE.value,
        }
        for field in ("surname", "forename", "school", "organisation", "upn_hash", "admission_number",
                      "staff_code", "year_group", "registration_group", "classes", "consent", "expiry",
                      "leaving_date", "roles"):
            values = _encode(getattr(new, field))
            if values:
                attributes[A[field]] = values
        if new.password is not None:
            attributes.update({k: v for k, v in self._password_attributes(new.password, False).items() if v})
        if new.contact is not None:
            for field, attr in CONTACT_ATTRIBUTES.items():
                value = getattr(new.contact, field)
                if value:
                    attributes[attr] = value
            if new.contact.work_email:
                attributes["objectClass"] = ACCOUNT_OBJECT_CLASSES + [CONTACT_OBJECT_CLASS]

        def add_with(username: str) -> None:
            attributes.update({A["username"]: username, A["names"]: [username],
                               A["mail"]: usernames.address(username, self.config.mail_domain)})
            self._add(self.account_dn(account_id), attributes, f"adding account {username}")

        self._claim_username(usernames.username_base(new.surname, new.forename), add_with)
        created = dict(attributes)
        created[A["created_at"]] = _generalized_time(now)
        return _account_from(created)

    def _claim_username(self, base: str, write: Callable[[str], None]) -> str:
        """Write with the first free name for `base`; if another process claimed
        it first (the unique overlay refuses the write), take the next one.

        Names are never freed (A-2), so once this store has given `base`+n, every
        number up to n is taken and n+1 is the first free one unless another
        process took it: that name is tried first, and only if the overlay
        refuses it are all the base's names read (with thousands of Joneses that
        read grows with the directory and slowed a national load, bench/README.md).
        """
        key = base.casefold()
        hint = self._next_free_number.get(key)
        if hint is not None:
            username = usernames.candidate(base, hint)
            try:
                write(username)
            except errors.ConstraintViolation:
                if not self._name_taken(username):
                    raise
            else:
                self._next_free_number[key] = hint + 1
                return username
        for _ in range(_USERNAME_ATTEMPTS):
            username = usernames.next_free_username(base, self._names_starting(base))
            try:
                write(username)
            except errors.ConstraintViolation:
                if self._name_taken(username):
                    continue
                raise
            suffix = username[len(base):]
            self._next_free_number[key] = (int(suffix) if suffix else 1) + 1
            return username
        raise errors.UsernameUnavailable(f"no free username for {base} after {_USERNAME_ATTEMPTS} attempts")

    def update_account(self, account_id: str, changes: Mapping[str, Any]) -> None:
        """Replace the given fields (None removes one); one atomic modify."""
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"fields that update_account cannot change: {', '.join(sorted(unknown))}")
        modification = {A[field]: [(ldap3.MODIFY_REPLACE, _encode(value))] for field, value in changes.items()}
        if "surname" in changes or "forename" in changes:
            current = self.get_account(account_id)
            if current is None:
                raise errors.EntryNotFound(f"no account {account_id}")
            forename = changes.get("forename", current.forename)
            surname = changes.get("surname", current.surname)
            modification.setdefault(A["display_name"], [(ldap3.MODIFY_REPLACE, [f"{forename} {surname}"])])
            modification[A["common_name"]] = [(ldap3.MODIFY_REPLACE, [f"{forename} {surname}"])]
        if modification:
            self._modify(self.account_dn(account_id), modification, f"updating account {account_id}")

    def change_username(self, account_id: str, surname: str, forename: str) -> Account:
        """A new username from the names (A-5); the old one stays as an alias."""
        def rename_to(username: str) -> None:
            self._modify(self.account_dn(account_id), {
                A["names"]: [(ldap3.MODIFY_ADD, [username])],
                A["username"]: [(ldap3.MODIFY_REPLACE, [username])],
                A["mail"]: [(ldap3.MODIFY_REPLACE, [usernames.address(username, self.config.mail_domain)])],
            }, f"changing the username of account {account_id}")

        self._claim_username(usernames.username_base(surname, forename), rename_to)
        account = self.get_account(account_id)
        assert account is not None
        return account

    def set_password(self, account_id: str, password: str, set_by_user: bool = False) -> PasswordStatus:
        """Set a password (policy checked), its status and reveal copy, in one modify (A-3, A-4)."""
        passwords.check_policy(password)
        attributes = self._password_attributes(password, set_by_user)
        modification = {name: [(ldap3.MODIFY_REPLACE, values)] for name, values in attributes.items()}
        self._modify(self.account_dn(account_id), modification, f"setting the password of account {account_id}")
        return PasswordStatus(attributes[A["password_status"]][0])

    def forget_password_copy(self, account_id: str, status: PasswordStatus = PasswordStatus.UNAVAILABLE) -> None:
        """Destroy the reveal copy (e.g. on transfer between schools, M-6)."""
        self._modify(self.account_dn(account_id), {
            A["password_vault"]: [(ldap3.MODIFY_REPLACE, [])],
            A["password_status"]: [(ldap3.MODIFY_REPLACE, [status.value])],
        }, f"forgetting the password copy of account {account_id}")

    def reveal_password(self, account_id: str) -> str | None:
        """The administrator-set password, if a copy is kept (A-4). Callers audit the reveal."""
        found = self._search(self.people_dn, _equals(A["id"], account_id), [A["password_vault"]],
                             "reading a password copy")
        token = _one(found[0], A["password_vault"]) if found else None
        return self.vault.open(token) if token else None

    def accounts_with_passwords(self, query: AccountQuery) -> list[tuple[Account, str | None]]:
        """Accounts and their kept password copies (A-4) in one read: a school's credentials
        CSV (P-2). Callers audit every password revealed (R-7)."""
        filters = self._account_filters(query)
        found = []
        for attrs in self._bulk.search(self.people_dn, _all_of(*filters), _ACCOUNT_READ + [A["password_vault"]],
                                       "reading accounts and their password copies"):
            account = _account_from(attrs)
            token = _one(attrs, A["password_vault"])
            found.append((account, self.vault.open(token)
                           if token and account.password_status is PasswordStatus.AVAILABLE else None))
        return found

    def reveal_passwords(self, school: str, account_ids: Iterable[str]) -> dict[str, str]:
        """The kept copies (A-4) of these accounts of one school, in one read: printing a
        class's slips or a school's CSV. Callers audit every reveal (R-7)."""
        wanted = set(account_ids)
        search = _all_of("(objectClass=porthAccount)", _equals(A["school"], school),
                         _equals(A["password_status"], PasswordStatus.AVAILABLE.value))
        copies = {}
        for attributes in self._bulk.search(self.people_dn, search, [A["id"], A["password_vault"]],
                                            f"reading password copies of school {school}"):
            account_id, token = _one(attributes, A["id"]), _one(attributes, A["password_vault"])
            if account_id in wanted and token:
                copies[account_id] = self.vault.open(token)
        return copies

    def set_state(self, account_id: str, state: AccountState, by: str, reason: str, now: datetime,
                  changes: Mapping[str, Any] | None = None, forget_password: bool = False) -> None:
        """Move an account to a state, recording who, when and why (A-6).

        `changes` (updatable fields) and forgetting the password copy go in
        the same modify, so a transfer (M-6) or a leaver (M-5) is one atomic
        write: a killed run leaves the entry either before or after it.
        """
        if state is AccountState.DELETED:
            self.delete_account(account_id, by, reason, now)
            return
        changes = dict(changes or {})
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"fields that set_state cannot change: {', '.join(sorted(unknown))}")
        modification = {A[field]: [(ldap3.MODIFY_REPLACE, _encode(value))] for field, value in changes.items()}
        modification.update(_state_modification(state, by, reason, now))
        if forget_password:
            modification[A["password_vault"]] = [(ldap3.MODIFY_REPLACE, [])]
            modification[A["password_status"]] = [(ldap3.MODIFY_REPLACE, [passwords.status_after_transfer().value])]
        self._modify(self.account_dn(account_id), modification, f"changing the state of account {account_id}")

    def delete_account(self, account_id: str, by: str, reason: str, now: datetime) -> None:
        """Delete permanently (L-4): personal data is erased in one modify.

        What remains is a tombstone holding the account's names (uid), so the
        unique overlay keeps them from ever being given to someone else (A-2).
        """
        modification: dict[str, list] = {attr: [(ldap3.MODIFY_REPLACE, [])] for attr in _ERASED_ON_DELETE}
        modification.update({
            "sn": [(ldap3.MODIFY_REPLACE, ["deleted"])],
            "cn": [(ldap3.MODIFY_REPLACE, ["deleted"])],
        })
        modification.update(_state_modification(AccountState.DELETED, by, reason, now))
        self._modify(self.account_dn(account_id), modification, f"deleting account {account_id}")

    def record_sign_in(self, account_id: str, now: datetime) -> None:
        self._modify(self.account_dn(account_id), {
            A["last_sign_in"]: [(ldap3.MODIFY_REPLACE, [_generalized_time(now)])],
        }, "recording a sign-in")

    # -- authentication ----------------------------------------------------
    def authenticate(self, username: str, password: str) -> Account:
        """Check a password with an LDAP bind as the account (slapd verifies the
        Argon2 hash and applies the lockout policy). Wrong username, wrong
        password and a locked account all raise the same InvalidCredentials."""
        if not password:
            raise errors.InvalidCredentials("wrong username or password")
        account = self.find_by_username(username)
        if account is None or account.state is AccountState.DELETED:
            raise errors.InvalidCredentials("wrong username or password")
        server = ldap3.Server(self.config.url, get_info=ldap3.NONE, connect_timeout=self.config.timeout_seconds)
        with _mapped_errors(self.config, "checking a password"):
            conn = ldap3.Connection(server, user=self.account_dn(account.id), password=password,
                                    receive_timeout=math.ceil(self.config.timeout_seconds))
            try:
                if not conn.bind():
                    raise errors.InvalidCredentials("wrong username or password")
            finally:
                conn.unbind()
        return account


def store_for(settings) -> DirectoryStore:  # settings: config.settings.Settings (with secrets)
    ldap = settings.ldap
    config = DirectoryConfig(
        url=ldap.effective_url,
        base_dn=ldap.base_dn,
        bind_dn=ldap.effective_bind_dn,
        bind_password=ldap.bind_password.get_secret_value(),
        mail_domain=settings.accounts.username_domain,
        pool_size=ldap.pool_size,
        timeout_seconds=ldap.timeout_seconds,
        page_size=ldap.page_size,
    )
    return DirectoryStore(config, PasswordVault(settings.secrets.password_vault_key.get_secret_value()))

