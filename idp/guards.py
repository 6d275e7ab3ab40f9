"""The IdP's state shared by every web worker, in the operational store:
answered request IDs (replay) and failed sign-in counters (SPEC S-3)."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError

from idp import throttling
from idp.throttling import Counter, Limits, Verdict
from operational.db import Database, KeptConnections
from operational.tables import SeenSamlRequest, SignInFailures


class RequestLedger:
    """Each AuthnRequest is answered once: a second use of its ID is a replay."""

    def __init__(self, connections: KeptConnections):
        self._connections = connections
        # A declarative class is mapped to a Table; SQLAlchemy types `__table__` as any FromClause.
        table = cast(Table, SeenSamlRequest.__table__)
        # Compiled once, values bound per call: this runs on every sign-in request (bench/login.py).
        self._record = connections.prepare(insert(table).values(issuer_and_id=bindparam("issuer_and_id"),
                                                                expires_at=bindparam("expires_at")))
        self._forget = connections.prepare(delete(table).where(table.c.expires_at < bindparam("now")))

    def first_use(self, issuer: str, request_id: str, keep_until: datetime, now: datetime) -> bool:
        key = hashlib.sha256(f"{issuer}\x00{request_id}".encode()).hexdigest()

        def record(cursor) -> None:
            # Now and then, forget IDs that can no longer be replayed: a chance, not a secret.
            if random.random() < 0.01:  # noqa: S311 - picks when to clean up, guards nothing
                self._forget.execute(cursor, {"now": now})
            self._record.execute(cursor, {"issuer_and_id": key, "expires_at": keep_until})

        try:
            self._connections.run(record)
        except IntegrityError:
            return False
        return True


class SignInThrottle:
    """Failure counters per username and per source address, keyed by a hash."""

    def __init__(self, db: Database, connections: KeptConnections, key: bytes, limits: Limits,
                 address_lock_at: int):
        self.db = db
        self._connections = connections
        self._key = key
        self.limits = limits
        self.address_lock_at = address_lock_at
        table = SignInFailures.__table__
        # Read on every attempt: built once, values bound per call (two plain parameters:
        # an expanding IN list is compiled again for every call).
        self._read = connections.prepare(
            select(table.c.key, table.c.failures, table.c.last_failure_at, table.c.locked_until).where(
                or_(table.c.key == bindparam("user_key"), table.c.key == bindparam("address_key"))))

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        name = username.strip().casefold().partition("@")[0] or "-"
        digest = lambda text: hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()  # noqa: E731
        return digest(f"user\x00{name}"), digest(f"address\x00{address}")

    def _counters(self, session, keys: tuple[str, ...]) -> dict[str, SignInFailures]:
        rows = session.execute(select(SignInFailures).where(SignInFailures.key.in_(keys))).scalars()
        return {row.key: row for row in rows}

    def _counter_rows(self, user_key: str, address_key: str) -> dict[str, Counter]:
        def read(cursor) -> dict[str, Counter]:
            self._read.execute(cursor, {"user_key": user_key, "address_key": address_key})
            return {key: Counter(failures, last_failure_at, locked_until)
                    for key, failures, last_failure_at, locked_until in self._read.rows(cursor)}

        return self._connections.run(read)

    @staticmethod
    def _counter(row: SignInFailures | None) -> Counter | None:
        return Counter(row.failures, row.last_failure_at, row.locked_until) if row else None

    def check(self, username: str, address: str, now: datetime) -> Verdict:
        """May this attempt go ahead? The stricter of the username's and the address's verdicts."""
        user_key, address_key = self._keys(username, address)
        rows = self._counter_rows(user_key, address_key)
        address_limits = Limits(self.address_lock_at // 2, self.address_lock_at, self.limits.lock)
        verdicts = [throttling.verdict(rows.get(user_key), now, self.limits),
                    throttling.verdict(rows.get(address_key), now, address_limits)]
        strictest = max(verdicts, key=lambda v: (v.locked, v.wait_seconds))
        return Verdict(strictest.wait_seconds, strictest.locked, username_has_failures=user_key in rows)

    def failed(self, username: str, address: str, now: datetime) -> None:
        user_key, address_key = self._keys(username, address)
        address_limits = Limits(self.address_lock_at // 2, self.address_lock_at, self.limits.lock)
        for _attempt in range(3):  # two workers counting the same key at once: retry the insert as an update
            with self.db.session() as session:
                rows = self._counters(session, (user_key, address_key))
                for key, limits, lock_at in ((user_key, self.limits, self.limits.failures_before_lock),
                                             (address_key, address_limits, self.address_lock_at)):
                    row = rows.get(key)
                    updated = throttling.after_failure(self._counter(row), now, limits, lock_at)
                    if row is None:
                        session.add(SignInFailures(key=key, failures=updated.failures,
                                                   last_failure_at=updated.last_failure_at,
                                                   locked_until=updated.locked_until))
                    else:
                        row.failures, row.last_failure_at = updated.failures, updated.last_failure_at
                        row.locked_until = updated.locked_until
                try:
                    session.commit()
                    return
                except IntegrityError:
                    session.rollback()

    def succeeded(self, username: str, address: str) -> None:
        """A right password clears the username's count (not the address's: others share it)."""
        user_key, _ = self._keys(username, address)
        with self.db.session() as session:
            session.execute(delete(SignInFailures).where(SignInFailures.key == user_key))
            session.commit()
