"""The one value that ties a Porth account to its Microsoft 365 user (SPEC G-1, S-1).

Entra ID federation matches the SAML NameID a federated IdP sends against the user's
`onPremisesImmutableId`, in the persistent format (Microsoft: "Use a SAML 2.0 Identity
Provider (IdP) for Single Sign On", how-to-connect-fed-saml-idp: "the NameID ... must be
unique and match the ImmutableID of the user in Microsoft Entra ID"). So the Graph sync
writes, and the IdP's `immutable-id` NameID mode sends, exactly `immutable_id(account id)`.

The account id is a UUID4 (directory/ldap/mapping.py): 36 characters of hex digits and
hyphens, fixed for the account's life (a username change or a move of school keeps it).
That satisfies both sides' rules: Graph's `onPremisesImmutableId` must not contain `_` or `$`
(the user resource's documentation: "the onPremisesImmutableId ... can't contain ... $ or _")
and SAML 2.0 caps a persistent identifier at 256 characters, Entra its ImmutableID at 64.
"""

from __future__ import annotations

MAX_LENGTH = 64
FORBIDDEN = frozenset("_$")


class InvalidImmutableId(ValueError):
    """An id neither Entra nor Graph would accept as an immutable id."""


def immutable_id(account_id: str) -> str:
    """The `onPremisesImmutableId` (and federated NameID) of the account with this id."""
    if not account_id or len(account_id) > MAX_LENGTH or FORBIDDEN & set(account_id) or not account_id.isascii():
        raise InvalidImmutableId(
            f"account id {account_id!r} cannot be an immutable id: 1 to {MAX_LENGTH} ASCII characters, no _ or $")
    return account_id
