"""The IdP's state shared by every web worker, in the operational store:
answered request IDs (replay) and failed sign-in counters (SPEC S-3)."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    delete,
    insert,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from idp import throttling
from idp.throttling import Counter, Limits, Verdict
from operational.db import KeptConnections
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
    """Failure counters per username and per source address, keyed by a hash (SPEC S-3).

    An attempt is counted before its password is checked, by one statement that adds it only
    where the counter lets it go ahead (an UPSERT whose update has a WHERE; the rows it wrote are
    RETURNed): the database decides row by row, so parallel attempts are counted one after
    another and no more of them reach the directory than the limits allow. A right password
    gives the attempt back: the username's counter is cleared, the address's loses the one."""

    def __init__(self, connections: KeptConnections, key: bytes, limits: Limits, address_lock_at: int):
        self._connections = connections
        self._key = key
        self.limits = limits
        self.address_limits = Limits(address_lock_at // 2, address_lock_at, limits.lock)
        table = cast(Table, SignInFailures.__table__)
        c = table.c
        when = c.last_failure_at.type
        self._now = bindparam("now", type_=when)
        # Read only to say how long a refused attempt waits: built once, values bound per call.
        self._read = connections.prepare(
            select(c.key, c.failures, c.last_failure_at, c.locked_until).where(
                or_(c.key == bindparam("user_key"), c.key == bindparam("address_key"))))
        self._count = connections.prepare(self._counting(table, connections.engine.dialect.name))
        one_less = c.failures - literal_column("1")
        self._give_back = connections.prepare(update(table).where(c.key == bindparam("key")).values(
            failures=one_less,
            locked_until=case((one_less < self._per_row(c, "failures_before_lock"), null()), else_=c.locked_until)))
        self._clear = connections.prepare(delete(table).where(c.key == bindparam("user_key")))

    def _per_row(self, c, limit: str):
        """The username's or the address's limit, for the row the statement is at (whole
        numbers from the settings, written into the statement)."""
        return case((c.key == bindparam("user_key"), literal_column(str(int(getattr(self.limits, limit))))),
                    else_=literal_column(str(int(getattr(self.address_limits, limit)))))

    def _ready(self, c, limits: Limits, prefix: str):
        """The latest last-failure time at which one more attempt may go ahead, by the count."""
        steps = limits.delay_steps()
        ready = [bindparam(f"{prefix}_ready_{n}", type_=c.last_failure_at.type) for n in range(len(steps))]
        # Below the first delay an attempt goes ahead whenever the last one was: never "now", which
        # a concurrent request that started later has already written (its clock ahead of this
        # one's), so that parallel right passwords from one school's address were refused (bench/login.py).
        whens = [(c.failures < literal_column(str(int(limits.failures_before_delay))), c.last_failure_at)]
        whens += [(c.failures == literal_column(str(int(failures))), ready[n])
                  for n, (failures, _delay) in enumerate(steps[:-1])]
        return case(*whens, else_=ready[-1])

    def _counting(self, table: Table, dialect: str):
        c = table.c
        one: ColumnElement[int] = literal_column("1", Integer)
        not_locked = or_(c.locked_until.is_(None), c.locked_until <= self._now)
        forgiven = and_(c.last_failure_at <= bindparam("forgive_before", type_=c.last_failure_at.type), not_locked)
        ready = case((c.key == bindparam("user_key"), self._ready(c, self.limits, "user")),
                     else_=self._ready(c, self.address_limits, "address"))
        may_go_ahead = or_(forgiven, and_(not_locked, c.failures < self._per_row(c, "failures_before_lock"),
                                          c.last_failure_at <= ready))
        counted = case((forgiven, one), else_=c.failures + one)
        new_row = {"failures": one, "last_failure_at": self._now, "locked_until": null()}
        insert_into = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert_into(table).values([{"key": bindparam("user_key"), **new_row},
                                               {"key": bindparam("address_key"), **new_row}])
        lock_until = bindparam("lock_until", type_=c.locked_until.type)
        return statement.on_conflict_do_update(
            index_elements=[c.key],
            set_={"failures": counted, "last_failure_at": self._now,
                  "locked_until": case((counted >= self._per_row(c, "failures_before_lock"), lock_until),
                                       else_=null())},
            where=may_go_ahead,
        ).returning(c.key, c.locked_until)

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        digest = lambda text: hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()  # noqa: E731
        return (digest(f"user\x00{throttling.username_key(username)}"),
                digest(f"address\x00{throttling.address_key(address)}"))

    def _counting_values(self, user_key: str, address_key: str, now: datetime) -> dict[str, object]:
        values: dict[str, object] = {"user_key": user_key, "address_key": address_key, "now": now,
                                     "forgive_before": now - self.limits.lock, "lock_until": now + self.limits.lock}
        for prefix, limits in (("user", self.limits), ("address", self.address_limits)):
            for n, (_failures, delay) in enumerate(limits.delay_steps()):
                values[f"{prefix}_ready_{n}"] = now - delay
        return values

    def attempt(self, username: str, address: str, now: datetime) -> Verdict:
        """Counts this attempt as a failure if it may go ahead (Verdict() then, and the password
        may be checked); else how long it must wait."""
        user_key, address_key = self._keys(username, address)

        def count(cursor) -> dict[str, bool]:
            self._count.execute(cursor, self._counting_values(user_key, address_key, now))
            counted = {key: locked_until is not None for key, locked_until in cursor.fetchall()}
            # Both counters must let it go ahead; otherwise the one that counted it gives it back.
            for key in counted if len(counted) == 1 else ():
                self._give_back.execute(cursor, {"key": key, "user_key": user_key})
            return counted

        counted = self._connections.run(count)
        if len(counted) == 2:
            # The count that reaches the lock writes it, so a lock written now is this attempt's.
            return Verdict(locks_if_wrong=tuple(kind for kind, key in (("username", user_key), ("address", address_key))
                                                if counted[key]))
        return self._wait(user_key, address_key, now)

    def _wait(self, user_key: str, address_key: str, now: datetime) -> Verdict:
        def read(cursor) -> dict[str, Counter]:
            self._read.execute(cursor, {"user_key": user_key, "address_key": address_key})
            return {key: Counter(failures, last_failure_at, locked_until)
                    for key, failures, last_failure_at, locked_until in self._read.rows(cursor)}

        rows = self._connections.run(read)
        verdicts = [throttling.verdict(rows.get(user_key), now, self.limits),
                    throttling.verdict(rows.get(address_key), now, self.address_limits)]
        strictest = max(verdicts, key=lambda v: (v.locked, v.wait_seconds))
        # Refused by the counters a moment ago: however they read now, it waits at least a second.
        return strictest if strictest.wait_seconds else Verdict(wait_seconds=1)

    def standing(self, username: str, address: str, now: datetime) -> tuple[Verdict, bool]:
        """The counters read, not written: whether an attempt may go ahead now, and whether the
        username's counter holds failures. For a secret nobody can guess (a badge's 160 random
        bits, issue 18), checked before it is counted: a burst may then outrun the count, which
        matters only for what can be guessed (a PIN is counted first, by `attempt`), and a right
        badge costs this one read instead of a count and its give-back (bench/login.py)."""
        user_key, address_key = self._keys(username, address)

        def read(cursor) -> dict[str, Counter]:
            self._read.execute(cursor, {"user_key": user_key, "address_key": address_key})
            return {key: Counter(failures, last_failure_at, locked_until)
                    for key, failures, last_failure_at, locked_until in self._read.rows(cursor)}

        rows = self._connections.run(read)
        verdicts = [throttling.verdict(rows.get(user_key), now, self.limits),
                    throttling.verdict(rows.get(address_key), now, self.address_limits)]
        return max(verdicts, key=lambda v: (v.locked, v.wait_seconds)), user_key in rows

    def failed(self, username: str, address: str, now: datetime) -> Verdict:
        """A failure found before it was counted (see `standing`): counted now, as `attempt` would
        (its verdict says which counters this failure locked)."""
        return self.attempt(username, address, now)

    def forget_failures(self, username: str) -> None:
        """A right secret whose counter held failures: they are forgotten (the address keeps its own)."""
        user_key, _address_key = self._keys(username, "-")
        self._connections.run(lambda cursor: self._clear.execute(cursor, {"user_key": user_key}))

    def succeeded(self, username: str, address: str) -> None:
        """A right password clears the username's count and gives the address back the attempt
        (no more: others share the address)."""
        user_key, address_key = self._keys(username, address)

        def give_back(cursor) -> None:
            self._clear.execute(cursor, {"user_key": user_key})
            self._give_back.execute(cursor, {"key": address_key, "user_key": user_key})

        self._connections.run(give_back)

    def not_checked(self, username: str, address: str) -> None:
        """The password could not be checked (the directory did not answer): no failure, so
        both counters give the attempt back."""
        user_key, address_key = self._keys(username, address)

        def give_back(cursor) -> None:
            for key in (user_key, address_key):
                self._give_back.execute(cursor, {"key": key, "user_key": user_key})

        self._connections.run(give_back)
