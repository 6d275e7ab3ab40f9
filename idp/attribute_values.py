"""Which released values a Response can carry (pure: no I/O, no clock).

A Response must never fail because of a value (issue 15 point 4). Names are cleaned where they enter
(directory/rules/names.py), but an account written before that rule, or by hand in LDAP, can still hold a
value XML 1.0 cannot carry (most control characters, U+FFFE, U+FFFF, a lone surrogate): building the
Response then raised, and every sign-in to a service releasing that value answered HTTP 500.

So each value is checked before it becomes XML, and one that cannot go is left out, never cut:

- a character outside XML 1.0's `Char` production (XML 1.0, 2.2) cannot be written at all;
- a value longer than 256 characters: saml2int v2.0 SDP-G02, "deployments MUST limit the size of each
  string-valued XML element and attribute they produce to 256 characters", aimed chiefly at NameID and
  AttributeValue. Cutting would send a different value that looks right (a shortened address, a name
  that is someone else's); a missing attribute is something a service already handles. So the value is
  left out (docs/sign-in.md says so).

An attribute left with no value is left out whole. What was left out is returned (the attribute's name and
why, never the value) for the caller to log with the account id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from idp.attributes import ReleasedAttribute

MAX_VALUE_CHARACTERS = 256  # saml2int v2.0 SDP-G02
NOT_XML = "holds a character XML cannot carry"
TOO_LONG = f"is longer than {MAX_VALUE_CHARACTERS} characters (saml2int SDP-G02)"

# Anything outside XML 1.0's Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class LeftOut:
    """A value not sent: which attribute it belonged to and why (one of the constants above)."""

    attribute: str
    reason: str


def value_problem(value: str) -> str | None:
    """Why a Response cannot carry `value` (NOT_XML or TOO_LONG), or None when it can."""
    if _NOT_XML_CHARACTER.search(value):
        return NOT_XML
    if len(value) > MAX_VALUE_CHARACTERS:
        return TOO_LONG
    return None


def carriable(attributes: list[ReleasedAttribute]) -> tuple[list[ReleasedAttribute], list[LeftOut]]:
    """The attributes with only the values a Response can carry, and what was left out."""
    kept: list[ReleasedAttribute] = []
    left_out: list[LeftOut] = []
    for attribute in attributes:
        values = []
        for value in attribute.values:
            problem = value_problem(value)
            if problem:
                left_out.append(LeftOut(attribute.friendly_name or attribute.name, problem))
            else:
                values.append(value)
        if len(values) == len(attribute.values):
            kept.append(attribute)
        elif values:
            kept.append(replace(attribute, values=tuple(values)))
    return kept, left_out
