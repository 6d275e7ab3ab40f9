"""The queue of Generate New Username requests (SPEC A-5): written by the portal,
worked through by the scheduled job (issue 6)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from directory.operational.db import Database
from directory.operational.tables import UsernameChange


def request_change(db: Database, account_id: str, requested_by: str, now: datetime) -> bool:
    """Queue a new username for the account; False when one is already waiting (asking twice is harmless)."""
    with db.session() as session, session.begin():
        waiting = session.scalar(select(UsernameChange.id).where(
            UsernameChange.account_id == account_id, UsernameChange.state == "pending"))
        if waiting is not None:
            return False
        session.add(UsernameChange(account_id=account_id, requested_by=requested_by, requested_at=now,
                                   state="pending"))
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
                UsernameChange.state == "pending", UsernameChange.account_id.in_(wanted[start:start + 500]))))
    return found
