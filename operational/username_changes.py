"""The queue of Generate New Username requests (SPEC A-5): written by the portal,
worked through by the scheduled job (issue 6)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from operational.db import Database
from operational.statuses import ChangeState
from operational.tables import UsernameChange


def request_change(db: Database, account_id: str, requested_by: str, now: datetime) -> bool:
    """Queue a new username for the account; False when one is already waiting (asking twice is harmless)."""
    with db.session() as session, session.begin():
        waiting = session.scalar(select(UsernameChange.id).where(
            UsernameChange.account_id == account_id, UsernameChange.state == ChangeState.PENDING))
        if waiting is not None:
            return False
        session.add(UsernameChange(account_id=account_id, requested_by=requested_by, requested_at=now,
                                   state=ChangeState.PENDING))
        return True


def pending_among(db: Database, account_ids: Iterable[str]) -> set[str]:
    """Which of these accounts wait for a new username (the portal shows them as pending)."""
    wanted = list(account_ids)
    if not wanted:
        return set()
    found: set[str] = set()
    with db.session() as session:
        for start in range(0, len(wanted), 500):
            found.update(session.scalars(select(UsernameChange.account_id).where(
                UsernameChange.state == ChangeState.PENDING, UsernameChange.account_id.in_(wanted[start:start + 500]))))
    return found


@dataclass(frozen=True)
class QueuedChange:
    id: int
    account_id: str
    requested_by: str
    requested_at: datetime
    old_username: str | None  # set once the job has begun this change (a rerun then finishes it)


def pending(db: Database, limit: int = 1000) -> list[QueuedChange]:
    """The oldest waiting requests first."""
    with db.session() as session:
        return [QueuedChange(r.id, r.account_id, r.requested_by, r.requested_at, r.old_username)
                for r in session.scalars(select(UsernameChange).where(UsernameChange.state == ChangeState.PENDING)
                                         .order_by(UsernameChange.requested_at, UsernameChange.id).limit(limit))]


def note_begun(db: Database, change_id: int, old_username: str) -> None:
    """Before the directory is written: a killed job's rerun knows the old name."""
    with db.session() as session, session.begin():
        session.get_one(UsernameChange, change_id).old_username = old_username


def finish(db: Database, change_id: int, now: datetime, new_username: str | None = None,
           error: str | None = None) -> None:
    with db.session() as session, session.begin():
        row = session.get_one(UsernameChange, change_id)
        row.state, row.done_at = (ChangeState.FAILED if error else ChangeState.APPLIED), now
        row.new_username, row.error = new_username, error
