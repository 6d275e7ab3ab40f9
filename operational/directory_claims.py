"""The claims of directory/claims.py kept in the operational database (issue 17 point 2).

Every process of a deployment, on every machine, shares this database, so a primary key on
(kind, value) makes a claim unique whichever directory server the account is then written to.
A claim is one INSERT in its own short transaction: the database refuses a second one for the
same key (IntegrityError, on SQLite and PostgreSQL alike; PostgreSQL makes a concurrent INSERT
wait for the first one's commit), and the loser reads who won. Nothing here knows LDAP; the
directory's side of the rules (which claims are given up, and when a stale one is taken over)
is in directory/claims.py and the directory adapter.

Any database failure is an OperationalStoreError with one line (no URL, no password); the
runtime hands this store to the directory wrapped so that it comes out as ClaimsUnavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import Table, and_, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from operational.db import Database, OperationalStoreError
from operational.tables import DirectoryClaim

T = TypeVar("T")
_CLAIMS = cast(Table, DirectoryClaim.__table__)
_C = _CLAIMS.c
# A claim released between our refused INSERT and our read of the winner is claimed again; a
# value changing hands more often than this while one process asks is not a real workload.
_ATTEMPTS = 5


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _one_line(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"the operational database failed: {lines[0] if lines else type(original).__name__}"


def _guarded(work: Callable[[], T]) -> T:
    """`work()`; a database failure as one OperationalStoreError line (a refused INSERT, the
    IntegrityError that means "claimed already", is passed on as it is)."""
    try:
        return work()
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise OperationalStoreError(_one_line(exc)) from None


def _key(kind: str, value: str):
    return and_(_C.kind == kind, _C.value == value)


class DatabaseClaims:
    """directory.claims.DirectoryClaims on the operational database."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = _utc_now):
        self._engine = db.engine
        self._clock = clock

    def claim(self, kind: str, value: str, holder: str) -> str:
        for _ in range(_ATTEMPTS):
            try:
                _guarded(lambda: self._insert(kind, value, holder))
                return holder
            except IntegrityError:
                pass
            current = _guarded(lambda: self._holder(kind, value))
            if current is not None:
                return current
        raise OperationalStoreError(f"a {kind} claim kept changing hands over {_ATTEMPTS} attempts")

    def _insert(self, kind: str, value: str, holder: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(insert(_CLAIMS).values(kind=kind, value=value, holder=holder,
                                                      claimed_at=self._clock()))

    def _holder(self, kind: str, value: str) -> str | None:
        with self._engine.connect() as connection:
            return connection.execute(select(_C.holder).where(_key(kind, value))).scalar_one_or_none()

    def take_over(self, kind: str, value: str, holder: str, older_than: timedelta) -> bool:
        def take() -> int:
            now = self._clock()
            with self._engine.begin() as connection:
                changed = connection.execute(update(_CLAIMS).where(_key(kind, value), _C.claimed_at < now - older_than)
                                             .values(holder=holder, claimed_at=now))
                return changed.rowcount

        return _guarded(take) == 1

    def release(self, kind: str, value: str, holder: str) -> None:
        def give_up() -> None:
            with self._engine.begin() as connection:
                connection.execute(delete(_CLAIMS).where(_key(kind, value), _C.holder == holder))

        _guarded(give_up)

    def claimed_starting(self, kind: str, prefix: str) -> set[str]:
        # A range over the primary key (values compare byte by byte, operational/tables.py), not
        # LIKE, which PostgreSQL serves from this index only under the "C" locale's operators.
        condition = [_C.kind == kind, _C.value >= prefix]
        if prefix:
            condition.append(_C.value < prefix[:-1] + chr(ord(prefix[-1]) + 1))

        def read() -> set[str]:
            with self._engine.connect() as connection:
                return set(connection.execute(select(_C.value).where(*condition)).scalars())

        return _guarded(read)

    def holders(self, kind: str, values: Iterable[str]) -> dict[str, str]:
        """Who holds each of these values (those claimed)."""
        wanted = list(dict.fromkeys(values))

        def read() -> dict[str, str]:
            found: dict[str, str] = {}
            with self._engine.connect() as connection:
                for start in range(0, len(wanted), 500):
                    rows = connection.execute(select(_C.value, _C.holder).where(
                        _C.kind == kind, _C.value.in_(wanted[start:start + 500])))
                    found.update((value, holder) for value, holder in rows)
            return found

        return _guarded(read)

    def add_missing(self, kind: str, rows: dict[str, str]) -> None:
        """Claim each value for its holder where nobody holds it yet (one statement)."""
        if not rows:
            return
        now = self._clock()
        statement = (postgresql_insert(_CLAIMS) if self._engine.dialect.name == "postgresql"
                     else sqlite_insert(_CLAIMS)).on_conflict_do_nothing()

        def add() -> None:
            with self._engine.begin() as connection:
                connection.execute(statement, [{"kind": kind, "value": value, "holder": holder, "claimed_at": now}
                                               for value, holder in rows.items()])

        _guarded(add)


@dataclass
class Backfill:
    """What `record_existing` found: claims written now, claims that were already there for the
    same account, and values claimed by another account than the directory entry that has it
    (two accounts with one username or UPN hash, made before the claims: kind, value, the
    directory's holder, the claim's holder)."""

    recorded: int = 0
    already: int = 0
    conflicts: list[tuple[str, str, str, str]] = field(default_factory=list)


def record_existing(db: Database, held: Iterable[tuple[str, str, str]], chunk: int = 1000,
                    clock: Callable[[], datetime] = _utc_now) -> Backfill:
    """Claim every (kind, value, holder) the directory already holds, for the accounts that hold
    them, leaving every existing claim as it is: safe to run again, and while Porth runs."""
    result = Backfill()
    claims = DatabaseClaims(db, clock)
    batch: list[tuple[str, str, str]] = []

    def flush() -> None:
        by_kind: dict[str, dict[str, str]] = {}
        for kind, value, holder in batch:
            seen = by_kind.setdefault(kind, {})
            if value in seen:  # two entries of this directory hold it
                result.conflicts.append((kind, value, holder, seen[value]))
            else:
                seen[value] = holder
        for kind, wanted in by_kind.items():
            before = claims.holders(kind, wanted)
            claims.add_missing(kind, {value: holder for value, holder in wanted.items() if value not in before})
            after = claims.holders(kind, wanted)
            for value, holder in wanted.items():
                if after.get(value) != holder:
                    result.conflicts.append((kind, value, holder, after.get(value, "")))
                elif value in before:
                    result.already += 1
                else:
                    result.recorded += 1
        batch.clear()

    for item in held:
        batch.append(item)
        if len(batch) >= chunk:
            flush()
    flush()
    return result
