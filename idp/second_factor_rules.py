"""The rules of second factors (issue 18 points 6 and 9), pure: the clock and the keys come in.

TOTP (RFC 6238): 6 digits, 30-second steps, the step before and after accepted for a phone's
clock being a little off; a code is accepted once: a step at or before the last one accepted for
the factor is refused, so a code seen over a shoulder (or replayed) opens nothing within its window.
Recovery codes: one-time, high-entropy, kept only as a keyed hash (HMAC-SHA256), so the
operational database alone (a backup, a copy) opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp

TOTP_PERIOD_SECONDS = 30
TOTP_DIGITS = 6
TOTP_DRIFT_STEPS = 1  # one step either side: a phone's clock half a minute out still works
RECOVERY_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread on paper
RECOVERY_CODE_LENGTH = 12  # ~58 bits: guessing is stopped long before by the sign-in throttle


def new_totp_secret() -> str:
    """A random base32 secret (160 bits, RFC 4226's recommendation)."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, account_name: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the enrolment QR code."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer)


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // TOTP_PERIOD_SECONDS


def totp_code(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS).generate_otp(step)


def normalised_code(typed: str) -> str:
    """What people type: spaces and dashes (as apps group the digits) left out."""
    return "".join(ch for ch in typed if ch not in " -\t")


def accepted_step(secret: str, typed: str, now: datetime, last_step: int | None) -> int | None:
    """The time step of a right code newer than the last one accepted, or None (wrong, or used already)."""
    code = normalised_code(typed)
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    current = time_step(now)
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp_code(secret, step), code):
            return step if last_step is None or step > last_step else None
    return None


def new_recovery_codes(count: int) -> list[str]:
    """Codes as printed for the person: `abcd-efgh-jkmn`."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4)))
    return codes


def recovery_code_hash(key: bytes, typed: str) -> str:
    """The keyed hash a recovery code is kept as, whatever case and grouping it was typed in."""
    return hmac.new(key, b"porth recovery code\x00" + normalised_code(typed).lower().encode("utf-8"),
                    hashlib.sha256).hexdigest()
