"""Unique Pupil Numbers (SPEC M-2, M-3; FORMATS.md "Unique Pupil Number").

A UPN is 13 characters: a check letter, then 12 characters. Permanent UPNs
end in a digit; temporary ones end in a letter and never create an account.
The UPN itself is never stored: only its keyed HMAC-SHA256 leaves the parser.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

# The DfE check-letter table: 23 letters, no I, O or S.
CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
# Only ASCII digits: str.isdigit() also accepts full-width (U+FF18), Arabic-Indic (U+0668) and
# superscript (U+00B2) digits, and int() of a superscript one would crash the check-letter sum.
DIGITS = frozenset("0123456789")


class InvalidUpn(ValueError):
    """A UPN that is not well formed; the message gives the reason (never the UPN)."""


@dataclass(frozen=True)
class Upn:
    value: str

    @property
    def is_temporary(self) -> bool:
        return self.value[-1] not in DIGITS

    @property
    def la_number(self) -> str:
        return self.value[1:4]

    def __repr__(self) -> str:  # a UPN is personal data: keep it out of logs
        return "Upn(<redacted>)"

    __str__ = __repr__


def check_letter(body: str) -> str:
    """The check letter for the 12 characters after it (positions 2..13).

    Each character at position n is weighted by n; a final letter (temporary
    UPN) counts as its index in the table.
    """
    if len(body) != 12:
        raise InvalidUpn("the characters after the check letter must number 12")
    total = 0
    for position, ch in enumerate(body, start=2):
        if ch in DIGITS:
            value = ord(ch) - ord("0")
        elif position == 13 and ch in CHECK_LETTERS:
            value = CHECK_LETTERS.index(ch)
        else:
            raise InvalidUpn(f"character {position} must be a digit")
        total += value * position
    return CHECK_LETTERS[total % 23]


def parse_upn(raw: str) -> Upn:
    """Validate a UPN (trimmed, upper-cased first) or raise InvalidUpn with the reason."""
    text = raw.strip().upper()
    if not text:
        raise InvalidUpn("the UPN is empty")
    if len(text) != 13:
        raise InvalidUpn(f"a UPN has 13 characters, this one has {len(text)}")
    if text[0] not in CHECK_LETTERS:
        raise InvalidUpn("the first character must be a check letter (A-Z without I, O, S)")
    for position, ch in enumerate(text[1:12], start=2):
        if ch not in DIGITS:
            raise InvalidUpn(f"character {position} must be a digit")
    last = text[12]
    if not (last in DIGITS or last in CHECK_LETTERS):
        raise InvalidUpn("the last character must be a digit, or a letter other than I, O, S")
    if check_letter(text[1:]) != text[0]:
        raise InvalidUpn("the check letter does not match the rest of the UPN")
    return Upn(text)


def is_temporary(raw: str) -> bool:
    """True for a well-formed temporary UPN (final letter)."""
    return parse_upn(raw).is_temporary


def upn_hash(upn: Upn, key: bytes) -> str:
    """Keyed HMAC-SHA256 of a UPN, hex: matches a learner across schools (M-3, M-6)."""
    if len(key) < 16:
        raise ValueError("the UPN hash key must be at least 16 bytes")
    return hmac.new(key, upn.value.encode("ascii"), hashlib.sha256).hexdigest()
