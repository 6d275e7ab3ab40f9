"""Badge sign-in for the youngest learners (issue 18): who may have a badge, and what a badge is.

Pure: no I/O, no clock. A badge is a card with a QR code that holds an opaque token,
`B1.<badge id>.<secret>`: the badge id (80 random bits) finds its row with one indexed read, the
secret (160 random bits) proves the card is the one printed. Neither says whose it is. The
operational store keeps only an HMAC-SHA256 of the secret (and of the PIN) under a server key, so
a copy of the table signs nobody in; an HMAC and not Argon2 because the secret is random and long
(nothing to guess), which keeps a badge check far cheaper than a password's.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from hashlib import sha256

from directory.model import Account, AccountKind, SchoolType
from directory.rules.year_groups import NC_YEARS

# Nursery (N1, N2), Reception and Years 1 and 2: the default years a school turns badges on for.
DEFAULT_YEARS: tuple[str, ...] = ("N1", "N2", "R", "1", "2")
# The years each type of school teaches; a middle (3-16, 3-19) or special school may have any.
_YEARS_TAUGHT: dict[SchoolType, tuple[str, ...]] = {
    SchoolType.NURSERY: ("N1", "N2"),
    SchoolType.PRIMARY: NC_YEARS[:NC_YEARS.index("6") + 1],
    SchoolType.SECONDARY: NC_YEARS[NC_YEARS.index("7"):],
}
TOKEN_PREFIX = "B1"  # noqa: S105 - the token's version, so a later shape can be told apart
ID_BYTES = 10  # 80 bits: 16 base32 characters
SECRET_BYTES = 20  # 160 bits (the issue asks for at least 128): 32 base32 characters
PIN_LENGTH = 4
# Base32 upper case and dots only: the QR code's alphanumeric mode holds it in a small code.
_TOKEN = re.compile(r"B1\.([A-Z2-7]{16})\.([A-Z2-7]{32})")


class BadgeMode(StrEnum):
    BADGE = "badge"  # the badge alone signs the learner in
    BADGE_AND_PIN = "badge-and-pin"  # the badge, then a 4-digit PIN


@dataclass(frozen=True)
class SchoolBadges:
    """A school's badge settings, chosen by its digital champion."""

    enabled: bool = False
    years: tuple[str, ...] = DEFAULT_YEARS
    mode: BadgeMode = BadgeMode.BADGE


def years_offered(school_type: SchoolType, chosen: tuple[str, ...]) -> tuple[str, ...]:
    """The year groups a school's champion may choose from: those its type of school teaches, and
    any already chosen (a school whose type changed keeps what it had), in the school's order."""
    taught = set(_YEARS_TAUGHT.get(school_type, NC_YEARS)) | set(chosen)
    return tuple(year for year in NC_YEARS if year in taught)


def default_years(school_type: SchoolType) -> tuple[str, ...]:
    """The years ticked before a champion chooses: nursery to Year 2, of those the school teaches."""
    return tuple(year for year in DEFAULT_YEARS if year in years_offered(school_type, ()))


class BadgeRefusal(StrEnum):
    """Why an account may not have (or sign in with) a badge of a school."""

    NOT_ENABLED = "not-enabled"  # the school has badges off
    NOT_A_LEARNER = "not-a-learner"  # staff and non-MIS accounts never have badges
    OTHER_SCHOOL = "other-school"  # the badge's school is not the learner's main school (any more)
    OUTSIDE_YEARS = "outside-years"  # the learner's year is not one the school chose


def badge_refusal(account: Account, school: str, settings: SchoolBadges) -> BadgeRefusal | None:
    """None if `account` may have, and sign in with, a badge of `school` under its settings.
    Checked when a badge is printed and again at every badge sign-in: a learner who moves up
    out of the chosen years (M-8's rollover) or to another school (M-6) stops signing in with it."""
    if not settings.enabled:
        return BadgeRefusal.NOT_ENABLED
    if account.kind is not AccountKind.LEARNER:
        return BadgeRefusal.NOT_A_LEARNER
    if account.school != school:
        return BadgeRefusal.OTHER_SCHOOL
    if account.year_group not in settings.years:
        return BadgeRefusal.OUTSIDE_YEARS
    return None


def _base32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class NewBadge:
    badge_id: str
    secret: str
    pin: str | None  # the PIN printed for the teacher (badge + PIN mode), else None

    @property
    def token(self) -> str:
        """What the QR code holds."""
        return f"{TOKEN_PREFIX}.{self.badge_id}.{self.secret}"


def new_badge(with_pin: bool) -> NewBadge:
    pin = "".join(secrets.choice("0123456789") for _ in range(PIN_LENGTH)) if with_pin else None
    return NewBadge(_base32(secrets.token_bytes(ID_BYTES)), _base32(secrets.token_bytes(SECRET_BYTES)), pin)


@dataclass(frozen=True)
class ScannedBadge:
    badge_id: str
    secret: str


def read_token(text: str) -> ScannedBadge | None:
    """The badge a scanned QR code names, or None for anything that is not a badge's token."""
    found = _TOKEN.fullmatch(text.strip())
    return ScannedBadge(found.group(1), found.group(2)) if found else None


def secret_digest(key: bytes, badge_id: str, secret: str) -> str:
    return hmac.new(key, f"secret\x00{badge_id}\x00{secret}".encode("ascii"), sha256).hexdigest()


def pin_digest(key: bytes, badge_id: str, pin: str) -> str:
    """A 4-digit PIN has only 10,000 values, so its strength is the throttle (per badge and per
    address), not the hash: keyed, so a copy of the table without the key says nothing."""
    return hmac.new(key, f"pin\x00{badge_id}\x00{pin}".encode("ascii"), sha256).hexdigest()


def matches(expected_digest: str | None, actual_digest: str) -> bool:
    return expected_digest is not None and hmac.compare_digest(expected_digest, actual_digest)


def pin_shape_ok(pin: str) -> bool:
    return len(pin) == PIN_LENGTH and pin.isascii() and pin.isdigit()
