"""What each service receives about a person (pure: no I/O, no clock).

Two ways, both declared in a service's policy (its .toml, see idp/services.py):

- `release = ["mail", ...]`: Porth's attributes by name, sent with their URI
  names (`urn:oasis:names:tc:SAML:2.0:attrname-format:uri`, saml2int): standard
  OIDs where one exists (eduPerson, inetOrgPerson), Porth's own schema OIDs
  otherwise;
- `[attributes]`: an attribute under the name and NameFormat the service needs,
  holding one of Porth's values, e.g. Office 365's
  `IDPEmail = { value = "upn", name_format = "unspecified" }` (Entra:
  how-to-connect-fed-saml-idp, "IDPEmail ... The user's UserPrincipalName").
  The values are those of `release` plus `upn` (the Microsoft 365
  userPrincipalName, directory/rules/cloud_principal.py) and `immutable_id`
  (the onPremisesImmutableId, directory/rules/cloud_identity.py): the same
  functions the Graph sync writes them with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from directory.model import Account, AccountKind
from directory.rules.cloud_identity import immutable_id
from directory.rules.cloud_principal import user_principal_name

PORTH_ATTRIBUTE_ARC = "2.25.298160738874564124985748203221283306760.1"  # config/ldap/porth-schema.ldif


@dataclass(frozen=True)
class AttributeDefinition:
    uri: str
    friendly_name: str
    values: Callable[[Account], tuple[str, ...]]


def _one(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()


def _affiliation(account: Account) -> tuple[str, ...]:
    if account.kind is AccountKind.LEARNER:
        return ("student", "member")
    if account.kind is AccountKind.STAFF:
        return ("staff", "member")
    return ("affiliate",)


ATTRIBUTES: dict[str, AttributeDefinition] = {
    "username": AttributeDefinition("urn:oid:0.9.2342.19200300.100.1.1", "uid", lambda a: _one(a.username)),
    "mail": AttributeDefinition("urn:oid:0.9.2342.19200300.100.1.3", "mail", lambda a: _one(a.mail)),
    "principal_name": AttributeDefinition("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", "eduPersonPrincipalName",
                                          lambda a: _one(a.mail)),
    "given_name": AttributeDefinition("urn:oid:2.5.4.42", "givenName", lambda a: _one(a.forename)),
    "surname": AttributeDefinition("urn:oid:2.5.4.4", "sn", lambda a: _one(a.surname)),
    "display_name": AttributeDefinition("urn:oid:2.16.840.1.113730.3.1.241", "displayName",
                                        lambda a: _one(a.display_name)),
    "affiliation": AttributeDefinition("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "eduPersonAffiliation", _affiliation),
    "account_kind": AttributeDefinition(f"urn:oid:{PORTH_ATTRIBUTE_ARC}.2", "porthAccountKind",
                                        lambda a: _one(a.kind.value)),
    "school": AttributeDefinition(f"urn:oid:{PORTH_ATTRIBUTE_ARC}.7", "porthSchool", lambda a: _one(a.school)),
    "year_group": AttributeDefinition(f"urn:oid:{PORTH_ATTRIBUTE_ARC}.12", "porthYearGroup",
                                      lambda a: _one(a.year_group)),
    "registration_group": AttributeDefinition(f"urn:oid:{PORTH_ATTRIBUTE_ARC}.13", "porthRegistrationGroup",
                                              lambda a: _one(a.registration_group)),
    "roles": AttributeDefinition(f"urn:oid:{PORTH_ATTRIBUTE_ARC}.21", "porthRole",
                                 lambda a: tuple(sorted(r.value for r in a.roles))),
}

# -- SAML V2.0 Subject Identifier Attributes Profile (saml2int SDP-IDP13) -----------------
SUBJECT_ID = "urn:oasis:names:tc:SAML:attribute:subject-id"
PAIRWISE_ID = "urn:oasis:names:tc:SAML:attribute:pairwise-id"
# The metadata entity attribute a service asks for one of them with (profile section 2.4).
SUBJECT_ID_REQUIREMENT = "urn:oasis:names:tc:SAML:profiles:subject-id:req"
SUBJECT_ID_REQUIREMENTS = frozenset({"subject-id", "pairwise-id", "any", "none"})


@dataclass(frozen=True)
class IdentifierDefinition:
    uri: str
    friendly_name: str


# Release-list names of the two identifiers; their values need more than the account (the key,
# the scope, the service), so they are not in ATTRIBUTES.
IDENTIFIERS: dict[str, IdentifierDefinition] = {
    "subject_id": IdentifierDefinition(SUBJECT_ID, "subject-id"),
    "pairwise_id": IdentifierDefinition(PAIRWISE_ID, "pairwise-id"),
}
KNOWN_ATTRIBUTES = frozenset(ATTRIBUTES) | frozenset(IDENTIFIERS)


def attribute_uri(name: str) -> str:
    """The SAML Name of a release-list entry."""
    return IDENTIFIERS[name].uri if name in IDENTIFIERS else ATTRIBUTES[name].uri


class InvalidSubjectIdentifier(ValueError):
    """A subject-id or pairwise-id value the profile does not allow."""


# Profile 3.3.1 and 3.4.1, ABNF: <uniqueID> "@" <scope>, each 1..127 characters, alphanumeric first.
_UNIQUE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9=-]{0,126}")
_SCOPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,126}")


def scoped_identifier(unique_id: str, scope: str) -> str:
    """`unique_id@scope`, checked against the profile's grammar. Lower case: values are compared
    case-insensitively, and the profile recommends a single case for the unique ID."""
    if not _UNIQUE_ID.fullmatch(unique_id):
        raise InvalidSubjectIdentifier("a unique ID is 1 to 127 letters, digits, '=' or '-', "
                                       "starting with a letter or digit")
    if not _SCOPE.fullmatch(scope):
        raise InvalidSubjectIdentifier("a scope is 1 to 127 letters, digits, '.' or '-', "
                                       "starting with a letter or digit")
    return f"{unique_id}@{scope}".lower()


def _opaque(key: bytes, *parts: str) -> str:
    """52 lower-case base32 characters (a-z, 2-7) of an HMAC-SHA256: opaque, fixed, in the profile's alphabet."""
    digest = hmac.new(key, "\x00".join(parts).encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(digest).rstrip(b"=").decode("ascii").lower()


def subject_id(key: bytes, account_id: str, scope: str) -> str:
    """The same at every service, for life: keyed on the account's UUID (never the username, which
    changes), hashed so it is not the UUID Porth's other systems know the account by."""
    return scoped_identifier(_opaque(key, "subject-id", account_id), scope)


def pairwise_id(key: bytes, account_id: str, service_entity_id: str, scope: str) -> str:
    """Like subject_id, but different at every service, so services cannot join their records by it."""
    return scoped_identifier(_opaque(key, "pairwise-id", account_id, service_entity_id), scope)


def with_required_identifiers(release: tuple[str, ...], requirement: str | None) -> tuple[str, ...]:
    """The release list with the identifier a service's metadata requires (SubjectIdRequirement,
    saml2int SDP-IDP15): `subject-id` or `pairwise-id` adds that one; `any` adds pairwise-id (the
    one that tells the service least) unless the policy already releases either; `none`, no
    requirement, or a value the profile does not define, leave the list as the policy has it."""
    wanted = {"subject-id": "subject_id", "pairwise-id": "pairwise_id"}.get(requirement or "")
    if requirement == "any" and not set(release) & set(IDENTIFIERS):
        wanted = "pairwise_id"
    if wanted is None or wanted in release:
        return release
    return (*release, wanted)


@dataclass(frozen=True)
class IdentifierContext:
    """What the subject identifiers are made from besides the account."""

    key: bytes  # the persistent-id key (settings.secrets.persistent_id_key)
    scope: str  # the accounts' domain, published as shibmd:Scope in the metadata
    service_entity_id: str

# What an `[attributes]` entry may hold: every released value, and the two Microsoft 365 needs.
VALUES: dict[str, Callable[[Account], tuple[str, ...]]] = {
    **{name: definition.values for name, definition in ATTRIBUTES.items()},
    "upn": lambda a: (user_principal_name(a),),
    "immutable_id": lambda a: (immutable_id(a.id),),
}
KNOWN_VALUES = frozenset(VALUES)

# saml-core 2.7.3.1: an Attribute's NameFormat; with none given, `unspecified` is in effect.
ATTRNAME_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
NAME_FORMATS = {
    "uri": ATTRNAME_URI,
    "basic": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
    "unspecified": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
}


@dataclass(frozen=True)
class NamedAttribute:
    """An `[attributes]` entry of a service's policy: Porth's `value` sent as `name` in `name_format`."""

    name: str
    value: str  # a key of VALUES
    name_format: str  # a full NameFormat URI (NAME_FORMATS)


@dataclass(frozen=True)
class ReleasedAttribute:
    name: str
    friendly_name: str | None
    values: tuple[str, ...]
    name_format: str = ATTRNAME_URI


def released(account: Account, release: tuple[str, ...], named: tuple[NamedAttribute, ...] = (),
             identifiers: IdentifierContext | None = None) -> list[ReleasedAttribute]:
    """The service's release list and named attributes applied to the account;
    attributes without a value are left out."""
    out = []
    for name in release:
        if name in IDENTIFIERS:
            if identifiers is None:
                raise ValueError(f"{name} is released without the key and scope it is made from")
            out.append(_identifier(name, account, identifiers))
            continue
        definition = ATTRIBUTES[name]
        values = definition.values(account)
        if values:
            out.append(ReleasedAttribute(definition.uri, definition.friendly_name, values))
    for attribute in named:
        values = VALUES[attribute.value](account)
        if values:
            out.append(ReleasedAttribute(attribute.name, None, values, attribute.name_format))
    return out


def _identifier(name: str, account: Account, context: IdentifierContext) -> ReleasedAttribute:
    if name == "subject_id":
        value = subject_id(context.key, account.id, context.scope)
    else:
        value = pairwise_id(context.key, account.id, context.service_entity_id, context.scope)
    return ReleasedAttribute(IDENTIFIERS[name].uri, IDENTIFIERS[name].friendly_name, (value,))


def persistent_id(key: bytes, account_id: str, service_entity_id: str) -> str:
    """Opaque, stable per person and service, different between services, and
    unchanged by a username change (it is keyed on the account's UUID)."""
    digest = hmac.new(key, f"{account_id}\x00{service_entity_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
