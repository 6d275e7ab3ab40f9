"""The one value that ties a Porth account to its Microsoft 365 user (SPEC G-1, S-1).

Entra ID federation matches the SAML NameID a federated IdP sends against the user's
`onPremisesImmutableId`, in the persistent format (Microsoft: "Use a SAML 2.0 Identity
Provider (IdP) for Single Sign On", how-to-connect-fed-saml-idp: "the NameID ... must be
unique and match the ImmutableID of the user in Microsoft Entra ID"). So the Graph sync
writes, and the IdP's `immutable-id` NameID mode sends, exactly `immutable_id(account id)`.

The account id is a UUID4 (directory/ldap/mapping.py): 36 characters of hex digits and
hyphens, fixed for the account's life (a username change or a move of school keeps it).

Three documents bound the value; the strictest binds:
- Graph's user resource: `onPremisesImmutableId` may not contain `$` or `_`.
- The SAML IdP page: the NameID (the immutable id) at most 64 characters; SAML 2.0 allows a
  persistent identifier 256.
- Entra Connect's rules for the same value, its sourceAnchor ("Microsoft Entra Connect: Design
  concepts", plan-connect-design-concepts): "Fewer than 60 characters in length", where
  "Characters not being a-z, A-Z, or 0-9 are encoded and counted as three characters", and none
  of `\\ ! # $ % & * + / = ? ^ ` { } | ~ < > ( ) ' ; : , [ ] " @ _`.
Entra Connect's is the strictest and the only one that counts characters the way the directory
stores them, so it is the rule here: a UUID weighs 32 + 4 x 3 = 44, well inside 59.
"""

from __future__ import annotations

MAX_WEIGHT = 59  # "fewer than 60", each character outside a-z A-Z 0-9 counted three
SPECIAL = frozenset("\\!#$%&*+/=?^`{}|~<>()';:,[]\"@_")


class InvalidImmutableId(ValueError):
    """An id Entra, Entra Connect or Graph would not accept as an immutable id."""


def weight(value: str) -> int:
    """The length Entra Connect counts: 1 for each of a-z A-Z 0-9, 3 for any other character."""
    return sum(1 if character.isascii() and character.isalnum() else 3 for character in value)


def immutable_id(account_id: str) -> str:
    """The `onPremisesImmutableId` (and federated NameID) of the account with this id."""
    if (not account_id or not account_id.isascii() or not account_id.isprintable() or SPECIAL & set(account_id)
            or weight(account_id) > MAX_WEIGHT):
        raise InvalidImmutableId(
            f"account id {account_id!r} cannot be an immutable id: ASCII, none of {''.join(sorted(SPECIAL))}, "
            f"and under 60 characters with each one outside a-z A-Z 0-9 counted three")
    return account_id
