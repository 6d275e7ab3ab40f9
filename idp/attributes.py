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
KNOWN_ATTRIBUTES = frozenset(ATTRIBUTES)

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


def released(account: Account, release: tuple[str, ...],
             named: tuple[NamedAttribute, ...] = ()) -> list[ReleasedAttribute]:
    """The service's release list and named attributes applied to the account;
    attributes without a value are left out."""
    out = []
    for name in release:
        definition = ATTRIBUTES[name]
        values = definition.values(account)
        if values:
            out.append(ReleasedAttribute(definition.uri, definition.friendly_name, values))
    for attribute in named:
        values = VALUES[attribute.value](account)
        if values:
            out.append(ReleasedAttribute(attribute.name, None, values, attribute.name_format))
    return out


def persistent_id(key: bytes, account_id: str, service_entity_id: str) -> str:
    """Opaque, stable per person and service, different between services, and
    unchanged by a username change (it is keyed on the account's UUID)."""
    digest = hmac.new(key, f"{account_id}\x00{service_entity_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
