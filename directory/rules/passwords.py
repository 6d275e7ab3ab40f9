"""Password policy, the two generators and password status (SPEC A-3, A-4).

The generators take a random source so tests can seed them; production
passes `secrets.SystemRandom()` (the default).
"""

from __future__ import annotations

import random
import secrets
import string
from functools import lru_cache
from importlib.resources import files

from directory.model import PasswordStatus

MIN_LENGTH = 8
# A spreadsheet takes a cell starting with one of these for a formula (OWASP "CSV Injection"): a password
# never starts with one, so the credentials download (P-2) can write every password exactly as it is.
FORMULA_FIRST_CHARACTERS = ("=", "+", "-", "@", "\t", "\r")
MAX_LENGTH = 128  # far beyond need; bounds the work an argon2 hash is asked to do
GENERATED_LENGTH = 12
LEARNER_PASSWORD_DIGITS = 4


class PasswordPolicyError(ValueError):
    """A password that does not meet the policy; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def policy_problems(password: str) -> list[str]:
    """Every way a password fails SPEC A-3, in words an administrator can act on."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    if not any(ch in string.ascii_uppercase for ch in password):
        problems.append("must contain an upper-case letter")
    if not any(ch in string.ascii_lowercase for ch in password):
        problems.append("must contain a lower-case letter")
    if not any(ch in string.digits for ch in password):
        problems.append("must contain a digit")
    if any(ch in "\r\n\t\0" for ch in password):
        problems.append("must not contain tabs, line breaks or NUL")
    if starts_like_formula(password):
        problems.append("must not start with = + - or @")
    return problems


def starts_like_formula(value: str) -> bool:
    """Would a spreadsheet opening the CSV run this cell as a formula?"""
    return value.startswith(FORMULA_FIRST_CHARACTERS)


def check_policy(password: str) -> None:
    problems = policy_problems(password)
    if problems:
        raise PasswordPolicyError(problems)


@lru_cache(maxsize=1)
def learner_words() -> tuple[str, ...]:
    """The shipped list of short, common, child-safe words."""
    text = files("directory.rules").joinpath("learner_words.txt").read_text("utf-8")
    return tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def generate_learner_password(rng: random.Random | None = None) -> str:
    """A word a child can read and type, then digits: e.g. Tiger4821 (a letter first: never a formula)."""
    rng = rng or secrets.SystemRandom()
    word = rng.choice(learner_words())
    digits = "".join(rng.choice(string.digits) for _ in range(LEARNER_PASSWORD_DIGITS))
    return word.capitalize() + digits


# Characters that are easy to misread on a printed slip are left out.
_UNAMBIGUOUS_UPPER = "".join(ch for ch in string.ascii_uppercase if ch not in "IO")
_UNAMBIGUOUS_LOWER = "".join(ch for ch in string.ascii_lowercase if ch != "l")
_UNAMBIGUOUS_DIGITS = "".join(ch for ch in string.digits if ch not in "01")


def generate_password(rng: random.Random | None = None, length: int = GENERATED_LENGTH) -> str:
    """A random mix of upper, lower and digits, at least 10 characters, always meeting A-3."""
    if length < 10:
        raise ValueError("generated passwords are at least 10 characters")
    rng = rng or secrets.SystemRandom()
    alphabet = _UNAMBIGUOUS_UPPER + _UNAMBIGUOUS_LOWER + _UNAMBIGUOUS_DIGITS
    chars = [
        rng.choice(_UNAMBIGUOUS_UPPER),
        rng.choice(_UNAMBIGUOUS_LOWER),
        rng.choice(_UNAMBIGUOUS_DIGITS),
    ] + [rng.choice(alphabet) for _ in range(length - 3)]
    rng.shuffle(chars)
    return "".join(chars)


# --- Password status (A-4) -------------------------------------------------
# Who set the password decides what an administrator may see afterwards.

def status_after_set_by_administrator() -> PasswordStatus:
    """Set by an administrator, a generator or the system: a reveal copy is kept."""
    return PasswordStatus.AVAILABLE


def status_after_set_by_user() -> PasswordStatus:
    """The user chose it: the stored copy is destroyed."""
    return PasswordStatus.USER_CHANGED


def status_after_transfer() -> PasswordStatus:
    """Moved between schools (M-6): the old school's copy is not passed on."""
    return PasswordStatus.UNAVAILABLE


def keeps_reveal_copy(status: PasswordStatus) -> bool:
    return status is PasswordStatus.AVAILABLE
