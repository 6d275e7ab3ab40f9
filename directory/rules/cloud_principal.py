"""The userPrincipalName of an account's Microsoft 365 user (SPEC G-3, S-1): one pure function,
so the Graph sync writes and the IdP sends (as `IDPEmail`) the same name.

Entra federation matches a sign-in's `IDPEmail` attribute against the user's UPN in the tenant
(Microsoft: "Use a SAML 2.0 Identity Provider (IdP) for Single Sign On",
how-to-connect-fed-saml-idp: "The 'UserPrincipalName' value must match the value that you will
send for 'IDPEmail' in your SAML 2.0 claim"). So both sides call `user_principal_name`.

The name is the account's Porth address, username@domain (directory/rules/usernames.address):
the domain Porth gives addresses in is the one the LA verifies and federates in its tenant
(docs/microsoft365.md). Graph's rules for it (the user resource, `userPrincipalName`): the
form alias@domain, the alias made only of `A-Z a-z 0-9 ' . - _ ! # ^ ~`, no accents; and Entra's
"username policies" page: at most 64 characters before the @ and 48 after (113 in all), no
period first, last or twice in a row in the alias. A name outside these
rules would be refused by Graph on create and could never match at sign-in, so it is refused
here, naming the account, before either side uses it.

Not to be confused with the learner's Unique Pupil Number (directory/rules/upn.py, SPEC M-3),
which never reaches Microsoft.
"""

from __future__ import annotations

from directory.model import Account

ALIAS_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~")
DOMAIN_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
MAX_ALIAS = 64
MAX_DOMAIN = 48


class InvalidUserPrincipalName(ValueError):
    """An account whose address Microsoft 365 would not take as a userPrincipalName."""


def user_principal_name(account: Account) -> str:
    """The account's userPrincipalName in the tenant: its Porth address, checked against Graph's rules."""
    alias, at, domain = account.mail.rpartition("@")
    problem = None
    if not at or not alias or not domain:
        problem = "it is not of the form alias@domain"
    elif len(alias) > MAX_ALIAS or len(domain) > MAX_DOMAIN:
        problem = f"the alias may have at most {MAX_ALIAS} characters and the domain {MAX_DOMAIN}"
    elif not set(alias) <= ALIAS_CHARACTERS:
        problem = "the alias has a character Graph refuses (letters, digits and ' . - _ ! # ^ ~ only)"
    elif alias.startswith(".") or alias.endswith(".") or ".." in alias:
        problem = "the alias starts or ends with a period, or has two in a row"
    elif not set(domain) <= DOMAIN_CHARACTERS or "." not in domain:
        problem = "the domain is not a DNS name"
    if problem:
        raise InvalidUserPrincipalName(f"account {account.id}: its address cannot be a Microsoft 365 "
                                       f"userPrincipalName: {problem}")
    return account.mail
