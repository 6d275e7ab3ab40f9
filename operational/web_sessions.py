"""Browser sessions kept in the operational store, shared by every web node (issue 15 point 1).

The browser holds only a random session id; its row here holds the session's data, who is signed
in through it, and when it ends. A row is found by the SHA-256 of the id, so neither the table nor
a copy of it opens a session. Each request reads its row once (one prepared statement on a kept
connection, as the sign-in guards do, idp/guards.py); it writes only when the data changed, the id
is renewed, or the last write of `last_seen_at` is a minute old, so reading pages costs no write.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, insert, or_, select, update

from operational.db import Database, KeptConnections
from operational.tables import WebSession

# last_seen_at is written at most this often: the idle timeout is kept to within a minute.
TOUCH_EVERY = timedelta(minutes=1)
# The share of new sessions that also delete the rows that have ended (a chance, not a secret).
SWEEP_SHARE = 0.01


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """The accounts signed in through a session: at single sign-on (the IdP) and at the portal."""

    sso: str | None = None
    portal: str | None = None


@dataclass(frozen=True)
class StoredSession:
    data: dict[str, Any]
    signed_in: SignedIn
    created_at: datetime
    last_seen_at: datetime

    def needs_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= TOUCH_EVERY


@dataclass(frozen=True)
class Lifetimes:
    lifetime: timedelta  # from sign-in (when the id was last renewed), however busy
    idle: timedelta  # from the last request

    def expiry(self, created_at: datetime, last_seen_at: datetime) -> datetime:
        return min(created_at + self.lifetime, last_seen_at + self.idle)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _signed_in_as(c, account):
    """The sessions an account is signed in through, at single sign-on or at the portal."""
    return or_(c.sso_account_id == account, c.portal_account_id == account)


def end_sessions_of(db: Database, account_id: str) -> int:
    """For code outside a web request (the scheduled jobs): end every session of the account on
    every browser and node; how many ended."""
    with db.session() as session, session.begin():
        ended = session.execute(delete(WebSession).where(_signed_in_as(cast(Table, WebSession.__table__).c,
                                                                       account_id)))
        return cast(CursorResult, ended).rowcount


class WebSessionStore:
    def __init__(self, connections: KeptConnections, lifetimes: Lifetimes):
        self.lifetimes = lifetimes
        self._connections = connections
        # A declarative class is mapped to a Table; SQLAlchemy types `__table__` as any FromClause.
        table = cast(Table, WebSession.__table__)
        c = table.c
        prepare = connections.prepare
        # Compiled once, values bound per call: the read runs on every request with a cookie.
        self._read = prepare(select(c.data, c.sso_account_id, c.portal_account_id, c.created_at, c.last_seen_at)
                             .where(c.id_hash == bindparam("id_hash"), c.expires_at > bindparam("now")))
        self._insert = prepare(insert(table).values(
            id_hash=bindparam("id_hash"), data=bindparam("data"), sso_account_id=bindparam("sso"),
            portal_account_id=bindparam("portal"), created_at=bindparam("now"), last_seen_at=bindparam("now"),
            expires_at=bindparam("expires_at")))
        self._write = prepare(update(table).where(c.id_hash == bindparam("old_hash")).values(
            id_hash=bindparam("new_hash"), data=bindparam("data"), sso_account_id=bindparam("sso"),
            portal_account_id=bindparam("portal"), created_at=bindparam("created_at"),
            last_seen_at=bindparam("now"), expires_at=bindparam("expires_at")))
        self._touch = prepare(update(table).where(c.id_hash == bindparam("id_hash")).values(
            last_seen_at=bindparam("now"), expires_at=bindparam("expires_at")))
        self._end = prepare(delete(table).where(c.id_hash == bindparam("id_hash")))
        self._end_of_account = prepare(delete(table).where(_signed_in_as(c, bindparam("account")),
                                                           c.id_hash != bindparam("keep")))
        self._forget = prepare(delete(table).where(c.expires_at <= bindparam("now")))

    def read(self, session_id: str, now: datetime) -> StoredSession | None:
        """The session with this id, unless it has ended (signed out, expired, idle too long)."""
        def read(cursor) -> list[tuple[Any, ...]]:
            self._read.execute(cursor, {"id_hash": id_hash(session_id), "now": now})
            return self._read.rows(cursor)

        rows = self._connections.run(read)
        if not rows:
            return None
        data, sso, portal, created_at, last_seen_at = rows[0]
        return StoredSession(json.loads(data), SignedIn(sso, portal), created_at, last_seen_at)

    def create(self, session_id: str, data: dict[str, Any], signed_in: SignedIn, now: datetime) -> None:
        values = {"id_hash": id_hash(session_id), "data": _json(data), "sso": signed_in.sso,
                  "portal": signed_in.portal, "now": now, "expires_at": self.lifetimes.expiry(now, now)}

        def create(cursor) -> None:
            if random.random() < SWEEP_SHARE:  # noqa: S311 - picks when to clean up, guards nothing
                self._forget.execute(cursor, {"now": now})
            self._insert.execute(cursor, values)

        self._connections.run(create)

    def write(self, session_id: str, data: dict[str, Any], signed_in: SignedIn, created_at: datetime,
              now: datetime, new_id: str | None = None) -> bool:
        """Store the session's new data (under `new_id` when the id is renewed: the old id then
        opens nothing, and the session's lifetime starts again). False: the session had been ended
        meanwhile (by a sign-out elsewhere, say), and is not brought back."""
        if new_id is not None:
            created_at = now
        values = {"old_hash": id_hash(session_id), "new_hash": id_hash(new_id or session_id), "data": _json(data),
                  "sso": signed_in.sso, "portal": signed_in.portal, "created_at": created_at, "now": now,
                  "expires_at": self.lifetimes.expiry(created_at, now)}
        return self._changed(self._write, values)

    def touch(self, session_id: str, created_at: datetime, now: datetime) -> bool:
        """Record a request (for the idle timeout); False if the session had ended."""
        return self._changed(self._touch, {"id_hash": id_hash(session_id), "now": now,
                                           "expires_at": self.lifetimes.expiry(created_at, now)})

    def end(self, session_id: str) -> None:
        self._changed(self._end, {"id_hash": id_hash(session_id)})

    def end_sessions_of(self, account_id: str, keep: str | None = None) -> int:
        """End every session the account is signed in through, on every browser and node
        (but the session `keep`, when given); how many were ended."""
        return self._count(self._end_of_account, {"account": account_id, "keep": id_hash(keep) if keep else ""})

    def forget_ended(self, now: datetime) -> int:
        return self._count(self._forget, {"now": now})

    def _count(self, statement, values: dict[str, Any]) -> int:
        def run(cursor) -> int:
            statement.execute(cursor, values)
            return cursor.rowcount

        return self._connections.run(run)

    def _changed(self, statement, values: dict[str, Any]) -> bool:
        return self._count(statement, values) > 0
