"""Badges in the operational store (issue 18): each school's settings and every printed badge.

Written by the portal (settings, printing, revoking), read by the IdP at each badge sign-in with
one prepared statement on a kept connection (as the sign-in guards are, idp/guards.py): the badge
and its school's settings in one indexed read. Only keyed hashes of a badge's secret and PIN are
stored (directory/rules/badges.py makes them), never the token printed. Values are kept plain
here (this layer knows nothing of the directory's rules); idp/badges.py reads them as rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update

from operational.db import Database, KeptConnections
from operational.tables import Badge, SchoolBadgeSettings

REVOKED = "revoked"
REPRINTED = "reprinted"


@dataclass(frozen=True)
class StoredSettings:
    enabled: bool
    years: tuple[str, ...]
    mode: str  # badge | badge-and-pin


def read_settings(db: Database, school: str) -> StoredSettings | None:
    """The school's settings; None for a school that never chose."""
    with db.session() as session:
        row = session.get(SchoolBadgeSettings, school)
        return StoredSettings(row.enabled, tuple(row.years.split()), row.mode) if row else None


def save_settings(db: Database, school: str, settings: StoredSettings, by: str, at: datetime) -> None:
    with db.session() as session, session.begin():
        row = session.get(SchoolBadgeSettings, school)
        if row is None:
            row = SchoolBadgeSettings(school=school)
            session.add(row)
        row.enabled = settings.enabled
        row.years = " ".join(settings.years)
        row.mode = settings.mode
        row.changed_by = by
        row.changed_at = at


@dataclass(frozen=True)
class NewRow:
    """A badge to store: its id and the keyed hashes of its secret and PIN."""

    account_id: str
    badge_id: str
    secret_digest: str
    pin_digest: str | None


def issue_badges(db: Database, school: str, rows: list[NewRow], by: str, at: datetime) -> None:
    """Store new badges, replacing any the accounts had (those are useless from now on): in one
    transaction, so a failure prints nothing and revokes nothing."""
    account_ids = [row.account_id for row in rows]
    with db.session() as session, session.begin():
        if account_ids:
            session.execute(update(Badge).where(Badge.account_id.in_(account_ids), Badge.revoked_at.is_(None))
                            .values(revoked_at=at, revoked_why=REPRINTED))
            session.flush()  # the old ones leave the one-live-badge index before the new ones enter it
        session.add_all([Badge(badge_id=row.badge_id, account_id=row.account_id, school=school,
                               secret_digest=row.secret_digest, pin_digest=row.pin_digest, issued_by=by,
                               issued_at=at) for row in rows])


def revoke_badges(db: Database, account_ids: list[str], at: datetime) -> list[str]:
    """Revoke the live badges of these accounts at once; the accounts that had one."""
    if not account_ids:
        return []
    with db.session() as session, session.begin():
        had = list(session.scalars(select(Badge.account_id).where(Badge.account_id.in_(account_ids),
                                                                  Badge.revoked_at.is_(None))))
        session.execute(update(Badge).where(Badge.account_id.in_(account_ids), Badge.revoked_at.is_(None))
                        .values(revoked_at=at, revoked_why=REVOKED))
    return had


@dataclass(frozen=True)
class BadgeState:
    """An account's last badge of a school, as the portal's Badges table shows it."""

    issued_at: datetime
    with_pin: bool  # printed with a PIN (the school was in badge + PIN mode then)
    revoked_at: datetime | None  # None while it is live; else when it was revoked (none is live)


def badge_states(db: Database, school: str) -> dict[str, BadgeState]:
    """Each account's last badge of the school, live or revoked (a reprinted one is always followed
    by its reprint, so it is never the last). Accounts never given one are not in it."""
    with db.session() as session:
        rows = session.execute(select(Badge.account_id, Badge.issued_at, Badge.pin_digest.is_not(None),
                                      Badge.revoked_at)
                               .where(Badge.school == school).order_by(Badge.issued_at, Badge.revoked_at.is_(None)))
        return {account_id: BadgeState(issued_at, bool(with_pin), revoked_at)
                for account_id, issued_at, with_pin, revoked_at in rows.all()}


def badge_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Badge)) or 0


@dataclass(frozen=True)
class FoundBadge:
    """A badge as the sign-in reads it, with its school's settings."""

    badge_id: str
    account_id: str
    school: str
    secret_digest: str
    pin_digest: str | None
    revoked_why: str | None  # None while it is live
    settings: StoredSettings | None  # its school's, None if the school never chose


class BadgeLookup:
    """The read every badge sign-in makes: compiled once, values bound per call (bench/login.py)."""

    def __init__(self, connections: KeptConnections):
        self._connections = connections
        badges = cast(Table, Badge.__table__).c
        schools = cast(Table, SchoolBadgeSettings.__table__)
        s = schools.c
        joined = cast(Table, Badge.__table__).outerjoin(schools, s.school == badges.school)
        self._find = connections.prepare(
            select(badges.account_id, badges.school, badges.secret_digest, badges.pin_digest, badges.revoked_at,
                   badges.revoked_why, s.enabled, s.years, s.mode)
            .select_from(joined).where(badges.badge_id == bindparam("badge_id")))

    def find(self, badge_id: str) -> FoundBadge | None:
        def read(cursor):
            self._find.execute(cursor, {"badge_id": badge_id})
            return self._find.rows(cursor)

        rows = self._connections.run(read)
        if not rows:
            return None
        account_id, school, secret, pin, revoked_at, revoked_why, enabled, years, mode = rows[0]
        settings = StoredSettings(bool(enabled), tuple((years or "").split()), mode) if mode else None
        why = (revoked_why or REVOKED) if revoked_at is not None else None
        return FoundBadge(badge_id, account_id, school, secret, pin, why, settings)
