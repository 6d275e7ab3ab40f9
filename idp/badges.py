"""Checking a scanned badge at sign-in (issue 18 points 2, 3; SPEC S-3, R-7).

What a badge sign-in costs: one indexed read of the badge with its school's settings
(operational/badges.py), an HMAC, and the account read by id, as a live single sign-on session
reads it: no Argon2 (bench/login.py measures it). The throttle is the password sign-in's own
(idp/guards.py), keyed by the badge id instead of a username and by the address as ever, so a
PIN guessed again and again, or a stream of made-up badges from one address, slows and locks
just as passwords do. Every refusal is written to the audit log with its reason; the person sees
one message for every reason, so a refusal tells nothing about the badge.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from directory.errors import DirectoryError
from directory.model import Account, SchoolType
from directory.rules.badges import (
    BadgeMode,
    BadgeRefusal,
    NewBadge,
    ScannedBadge,
    SchoolBadges,
    badge_refusal,
    default_years,
    matches,
    new_badge,
    pin_digest,
    pin_shape_ok,
    secret_digest,
)
from operational import audit
from operational import badges as badge_store
from operational.audit import AuditEntry
from operational.badges import BadgeLookup, NewRow, StoredSettings
from operational.db import Database
from operational.statuses import AuditOutcome

log = logging.getLogger("porth.idp")

AUDIT_ACTION = "badge-sign-in"
AUDIT_ACTOR = "badge"  # who refused badge sign-ins are by: someone at the sign-in page holding a card
# Why a badge was refused, for the audit log (worded for champions by webui/portal/words.py), besides
# operational.badges' REVOKED and REPRINTED and directory.rules.badges.BadgeRefusal's values.
NOT_A_BADGE = "not a badge"
UNKNOWN_BADGE = "unknown badge"
WRONG_PIN = "wrong PIN"
NO_SUCH_ACCOUNT = "no such account"
# Usernames are letters and digits (SPEC A-2): a throttle key starting with this is never one.
THROTTLE_PREFIX = "#badge#"
# The audit reason of a badge printed without a PIN, scanned while its school is in badge + PIN mode.
NO_PIN_PRINTED = "printed without a PIN"


def badge_key(persistent_id_key: bytes) -> bytes:
    """The badges' HMAC key, derived from the persistent NameID key: that key is backed up and
    must never change (docs/deployment.md), which is what a printed badge needs of its key too."""
    return hmac.new(persistent_id_key, b"porth badge key v1", hashlib.sha256).digest()


def school_badges(stored: StoredSettings | None, school_type: SchoolType | None = None) -> SchoolBadges:
    """A school's settings as the rules read them: a school that never chose has badges off, with
    the default years of those its type teaches ticked (a secondary: none)."""
    if stored is None:
        return SchoolBadges() if school_type is None else SchoolBadges(years=default_years(school_type))
    try:
        mode = BadgeMode(stored.mode)
    except ValueError:  # never: the table's CHECK allows only the modes
        return SchoolBadges()
    return SchoolBadges(enabled=stored.enabled, years=stored.years, mode=mode)


def read_school_badges(db: Database, school: str, school_type: SchoolType | None = None) -> SchoolBadges:
    return school_badges(badge_store.read_settings(db, school), school_type)


def save_school_badges(db: Database, school: str, settings: SchoolBadges, by: str, at: datetime) -> None:
    badge_store.save_settings(db, school, StoredSettings(settings.enabled, settings.years, settings.mode.value),
                              by, at)


def issue_badges(db: Database, key: bytes, school: str, account_ids: list[str], with_pin: bool, by: str,
                 at: datetime) -> dict[str, NewBadge]:
    """A new badge (and PIN) for each account; only their keyed hashes are stored."""
    made = {account_id: new_badge(with_pin) for account_id in account_ids}
    badge_store.issue_badges(db, school, [
        NewRow(account_id, badge.badge_id, secret_digest(key, badge.badge_id, badge.secret),
               pin_digest(key, badge.badge_id, badge.pin) if badge.pin else None)
        for account_id, badge in made.items()], by, at)
    return made


def throttle_name(scanned: ScannedBadge | None) -> str:
    """What the throttle counts a badge attempt against: the badge scanned (one counter per card,
    like one per username); anything unreadable shares one counter."""
    return THROTTLE_PREFIX + (scanned.badge_id if scanned else "unreadable")


class Outcome(StrEnum):
    SIGNED_IN = "signed-in"
    NEEDS_PIN = "needs-pin"  # a right badge of a school in badge + PIN mode, and no PIN yet
    REFUSED = "refused"


@dataclass(frozen=True)
class BadgeResult:
    outcome: Outcome
    account: Account | None = None
    reason: str | None = None  # why refused, for the audit log and the log line only
    account_id: str | None = None  # whose badge it is, once the badge is known
    school: str | None = None  # the school that printed it, once the badge is known (whose audit log shows it)


class BadgeSignIn:
    def __init__(self, lookup: BadgeLookup, key: bytes, db: Database):
        self.lookup = lookup
        self.key = key
        self.db = db

    def check(self, scanned: ScannedBadge | None, pin: str | None, read_account) -> BadgeResult:
        """`read_account(account_id)`: the account as the directory has it now (None if gone)."""
        if scanned is None:
            return BadgeResult(Outcome.REFUSED, reason=NOT_A_BADGE)
        found = self.lookup.find(scanned.badge_id)
        if found is None or not matches(found.secret_digest,
                                        secret_digest(self.key, scanned.badge_id, scanned.secret)):
            return BadgeResult(Outcome.REFUSED, reason=UNKNOWN_BADGE)
        if found.revoked_why is not None:
            # Revoked, or replaced by a reprint: a photo of the old card opens nothing.
            return BadgeResult(Outcome.REFUSED, reason=found.revoked_why, account_id=found.account_id,
                               school=found.school)
        settings = school_badges(found.settings)
        if not settings.enabled:
            # Badges off: refused as the card is scanned, before any PIN is asked for (a PIN could
            # open nothing), as a card with no PIN is in badge + PIN mode (badge_refusal says it again).
            return BadgeResult(Outcome.REFUSED, reason=BadgeRefusal.NOT_ENABLED.value, account_id=found.account_id,
                               school=found.school)
        if settings.mode is BadgeMode.BADGE_AND_PIN:
            if found.pin_digest is None:
                # Printed before the school chose badge + PIN: it has no PIN, so none is asked for
                # (the child could never give one); refused like any other, until printed again.
                return BadgeResult(Outcome.REFUSED, reason=NO_PIN_PRINTED, account_id=found.account_id,
                                   school=found.school)
            if not pin:
                return BadgeResult(Outcome.NEEDS_PIN, account_id=found.account_id, school=found.school)
            if not pin_shape_ok(pin) or not matches(found.pin_digest, pin_digest(self.key, found.badge_id, pin)):
                return BadgeResult(Outcome.REFUSED, reason=WRONG_PIN, account_id=found.account_id,
                                   school=found.school)
        account = read_account(found.account_id)
        if account is None:
            return BadgeResult(Outcome.REFUSED, reason=NO_SUCH_ACCOUNT, account_id=found.account_id,
                               school=found.school)
        refused = badge_refusal(account, found.school, settings)
        if refused is not None:
            return BadgeResult(Outcome.REFUSED, account=account, reason=refused.value, account_id=account.id,
                               school=found.school)
        return BadgeResult(Outcome.SIGNED_IN, account=account, account_id=account.id, school=found.school)

    def audit_refusal(self, result: BadgeResult, scanned: ScannedBadge | None, address: str, at: datetime,
                      read_account=None) -> None:
        """R-7: a refused badge (a revoked card, a guessed PIN, a photo replayed) is on the record,
        naming the learner whose card it is: `read_account(account_id)` reads them when the check
        stopped before it did (a refusal is rare; the right badge's path reads nothing more)."""
        account = result.account
        if account is None and result.account_id and read_account is not None:
            try:
                account = read_account(result.account_id)
            except DirectoryError:
                account = None  # the entry keeps the account's id: the refusal is recorded all the same
        audit.record(self.db, AuditEntry(
            at=at, actor=AUDIT_ACTOR, action=AUDIT_ACTION, target_kind="badge",
            target_id=result.account_id, target_label=account.username if account else None,
            # The printing school's log shows it (an unknown badge has none: national administrators see it).
            school=result.school, source_address=address,
            outcome=AuditOutcome.REFUSED,
            detail={"reason": result.reason or "", "badge": scanned.badge_id if scanned else None}))
