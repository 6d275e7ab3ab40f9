"""The order a school's lists are shown in: a register's, surname then forename, then username so
that two people of the same name always come in the same order (SPEC R-2: staff find a learner
as in the class register). Case does not count.

The directory sorts a list page itself where it can (server-side sorting, directory/ldap/accounts.py
`find_page`); this key is the same order for lists sorted in Porth. The directory folds case with
its own rule: slapd compares the names as their equality rule (caseIgnoreMatch) prepares them,
simple lower case, then NFKC, then runs of spaces made one (directory/rules/uid_matching.py says
how), where Python's casefold is used here. They agree on Welsh and other accented letters (ŵ, ŷ,
â, ë, é, ö: each sorts by its code point, after z, in both), on apostrophes straight or curly and
hyphens (O'Brien, Jones-Evans: before any letter in both), on particles (ap Rhys sorts under "a"
in both), Mac/Mc, and the ligatures casefold also unpicks (ﬁ). They differ only on
(tests/integration/test_directory_paging.py shows the first two):

- ß and the few letters whose full case folding is longer: casefold makes "Straße" "strasse",
  slapd keeps "ß", which sorts after z;
- an accent typed as a combining mark (E + U+0301): slapd composes it into É first, which sorts
  after z, where here the plain E decides;
- full-width and other compatibility letters (slapd makes them plain letters first) and runs of
  spaces or spaces at either end (slapd ignores them);
- a missing forename, which slapd sorts after every forename and this key before.

Neither is Welsh collation (where "ll" follows "l" as one letter, and "ch" follows "c"):
the portal's registers never sorted so.
"""

from __future__ import annotations

from typing import Protocol


class Named(Protocol):
    @property
    def surname(self) -> str: ...

    @property
    def forename(self) -> str: ...

    @property
    def username(self) -> str: ...


# The Account fields the order is made of, most significant first.
REGISTER_ORDER_FIELDS = ("surname", "forename", "username")


def register_key(person: Named) -> tuple[str, str, str]:
    return person.surname.casefold(), person.forename.casefold(), person.username.casefold()
