"""What a person's name may hold (issue 15 point 4; SPEC A-2, A-5), checked where a name enters Porth:
the MIS readers (connectors/mis) and the portal's forms (webui/portal/forms.py).

A name travels far from where it is typed: into LDAP, into every SAML assertion that releases it, into
Microsoft 365, onto printed slips and CSV files. XML 1.0 cannot carry most control characters or the
noncharacters U+FFFE and U+FFFF, so such a name, once stored, broke every later sign-in to a service that
releases it. Nothing in a real name needs them, so they are refused at the door:

- control characters (Unicode category Cc: C0 U+0000..U+001F, DEL, C1 U+0080..U+009F), tabs and line breaks
  included: a name is one line;
- surrogates (a lone one cannot be encoded at all) and the 66 Unicode noncharacters (U+FDD0..U+FDEF and the
  last two code points of every plane, U+FFFE, U+FFFF ... U+10FFFE, U+10FFFF);
- a name with no letter at all (Unicode category L*): `123`, `-`, an emoji.

Letters of any script are names; whether one folds to a username (A-2 needs ASCII letters) is the username
rule's question (directory/rules/usernames.py), asked only where a username is made.
"""

from __future__ import annotations

import unicodedata

# The problems, in words an administrator can act on; the portal shows its own translation of each.
CONTROL_CHARACTERS = "contains control characters (a tab, a line break or another invisible character)"
NONCHARACTERS = "contains code points that are not characters (such as U+FFFE or U+FFFF)"
NO_LETTER = "must contain a letter"


def is_noncharacter(code_point: int) -> bool:
    """One of the 66 code points Unicode reserves as never characters (Unicode 15, section 23.7)."""
    return 0xFDD0 <= code_point <= 0xFDEF or (code_point & 0xFFFE) == 0xFFFE


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as one line of a person's details (CONTROL_CHARACTERS or NONCHARACTERS),
    or None when it may be: the same door as a name's, for free text such as a job title, without asking
    for a letter."""
    for character in text:
        category = unicodedata.category(character)
        if category == "Cc":
            return CONTROL_CHARACTERS
        if category == "Cs" or is_noncharacter(ord(character)):
            return NONCHARACTERS
    return None


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a person's name (one of the constants above), or None when it may be.

    An empty name is not this rule's business: whether a name is required is the caller's."""
    problem = text_problem(name)
    if problem:
        return problem
    if name and not any(unicodedata.category(character).startswith("L") for character in name):
        return NO_LETTER
    return None
