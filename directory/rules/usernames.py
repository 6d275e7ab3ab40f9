"""Usernames (SPEC A-2): legal surname + first initial of the legal forename.

Names are folded to ASCII letters (Welsh and other diacritics dropped, a few
letters transliterated, apostrophes/spaces/hyphens removed; particles such as
`ap`, `ab`, `de`, `van` stay as letters). When a name is taken a number is
appended: BloggsJ, BloggsJ2, BloggsJ3, ...

Uniqueness against every current username and every alias is decided here
from a set of taken names; making it safe between processes is the store's
job (the directory enforces it atomically, see directory/ldap/usernames.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Letters that do not decompose into an ASCII base letter + combining marks.
_TRANSLITERATIONS = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
    "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d",
    "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i", "ŀ": "l", "Ŀ": "L", "ħ": "h",
    "Ħ": "H", "ŧ": "t", "Ŧ": "T",
}
_NAME_PARTS = re.compile(r"[\s\-]+")
# A surname is cut here so that username@domain stays well inside the
# 64-character local part Microsoft 365 allows for a userPrincipalName.
MAX_SURNAME_LETTERS = 40


class UsernameError(ValueError):
    """A name from which no username can be made; the message says which."""


def fold_to_ascii_letters(text: str) -> str:
    """Fold a name to ASCII letters only, keeping their case.

    >>> fold_to_ascii_letters("Llŷr ap Gwŷn-O'Neill")
    'LlyrapGwynONeill'
    """
    transliterated = "".join(_TRANSLITERATIONS.get(ch, ch) for ch in text)
    decomposed = unicodedata.normalize("NFKD", transliterated)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalpha())


def _tidy_case(part: str) -> str:
    """MIS exports often shout (JONES) or whisper (jones): make it Jones.

    Mixed case as given (McDonald, ap, de) is the family's own and is kept.
    """
    if part.isupper() or part.islower():
        letters = part.lower()
        # Particles written in lower case stay lower case; a shouted name
        # becomes capitalised.
        if part.islower() and part in {"ap", "ab", "de", "van", "von", "der", "la", "le", "du", "di", "da"}:
            return letters
        return letters[:1].upper() + letters[1:]
    return part


def username_base(surname: str, forename: str) -> str:
    """The username before any numeric suffix: e.g. ("Bloggs", "Joe") -> BloggsJ."""
    surname_letters = "".join(
        _tidy_case(fold_to_ascii_letters(part)) for part in _NAME_PARTS.split(surname.strip())
    )
    if not surname_letters:
        raise UsernameError(
            f"legal surname {surname!r} has no letters to make a username from"
        )
    forename_letters = fold_to_ascii_letters(forename)
    if not forename_letters:
        raise UsernameError(
            f"legal forename {forename!r} has no letters to make a username from"
        )
    surname_letters = surname_letters[:MAX_SURNAME_LETTERS]
    return surname_letters[0].upper() + surname_letters[1:] + forename_letters[0].upper()


def candidate(base: str, n: int) -> str:
    """The n-th candidate for a base: n=1 is the base itself, then base2, base3..."""
    if n < 1:
        raise ValueError("candidates are numbered from 1")
    return base if n == 1 else f"{base}{n}"


def next_free_username(base: str, taken: Iterable[str]) -> str:
    """The first candidate not among `taken` (usernames and aliases, any case)."""
    taken_folded = {name.casefold() for name in taken}
    n = 1
    while candidate(base, n).casefold() in taken_folded:
        n += 1
    return candidate(base, n)


_USERNAME_SHAPE = re.compile(r"^[A-Za-z]+[0-9]*$")


def is_well_formed(username: str) -> bool:
    """A username Porth could have made: letters then an optional number."""
    return bool(_USERNAME_SHAPE.match(username))


def address(username: str, domain: str) -> str:
    """The sign-in and mail address: BloggsJ@hwbcymru.net."""
    return f"{username}@{domain}"


# Longer than any name Porth makes: what is typed beyond it is not looked up.
MAX_SIGN_IN_NAME = 256


def username_in(name_or_address: str, domain: str) -> str | None:
    """The name to look up for what someone typed: BloggsJ, or BloggsJ@<domain> in any case;
    None for an address at another domain, or nothing usable."""
    name = name_or_address.strip()
    if "@" in name:
        name, _, at = name.rpartition("@")
        if at.lower() != domain.lower():
            return None
    return name if 0 < len(name) <= MAX_SIGN_IN_NAME else None
