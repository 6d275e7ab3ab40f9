"""Staff licence requests from the portal (SPEC G-2), queued for the Graph job (issue 6).

An account's latest request is its wanted state: allocated (wanted) or not,
and where the tenant is with it (pending / applied / failed, with the Graph
error). Requests are only ever added, so the history stays for the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from operational.db import Database
from operational.statuses import ChangeState
from operational.tables import LicenceRequest


@dataclass(frozen=True)
class LicenceState:
    wanted: bool
    state: ChangeState
    requested_at: datetime
    error: str | None = None


def _state(row: LicenceRequest) -> LicenceState:
    return LicenceState(row.wanted, ChangeState(row.state), row.requested_at, row.error)


class OverQuota(Exception):
    """The allocation would take the school beyond its staff licence quota."""


def latest(db: Database, school: str, account_ids: Iterable[str] | None = None) -> dict[str, LicenceState]:
    newest = (select(func.max(LicenceRequest.id).label("id")).where(LicenceRequest.school == school)
              .group_by(LicenceRequest.account_id).subquery())
    query = select(LicenceRequest).join(newest, LicenceRequest.id == newest.c.id)
    if account_ids is not None:
        query = query.where(LicenceRequest.account_id.in_(list(account_ids)))
    with db.session() as session:
        return {r.account_id: _state(r) for r in session.scalars(query)}


def request(db: Database, school: str, account_ids: list[str], wanted: bool, by: str, now: datetime,
            allowed: Callable[[dict[str, LicenceState]], bool] | None = None) -> list[str]:
    """Queue allocations (wanted) or revocations for the accounts whose wanted state changes;
    returns them. `allowed` sees the school's current states inside the same transaction
    (the quota check), so two administrators cannot both take the last licence."""
    with db.session() as session, session.begin():
        db.serialise(session, f"licences:{school}", LicenceRequest.__tablename__)
        newest = (select(func.max(LicenceRequest.id).label("id")).where(LicenceRequest.school == school)
                  .group_by(LicenceRequest.account_id).subquery())
        current = {r.account_id: _state(r)
                   for r in session.scalars(select(LicenceRequest).join(newest, LicenceRequest.id == newest.c.id))}
        changing = [a for a in dict.fromkeys(account_ids)
                    if (current[a].wanted if a in current else False) != wanted]
        if allowed is not None and not allowed({**current, **{a: LicenceState(wanted, ChangeState.PENDING, now)
                                                              for a in changing}}):
            raise OverQuota(school)
        session.add_all(LicenceRequest(account_id=a, school=school, wanted=wanted, requested_by=by,
                                       requested_at=now, state=ChangeState.PENDING) for a in changing)
        return changing


def latest_everywhere(db: Database) -> dict[str, LicenceState]:
    """Every account's latest request, whatever its school (the tenant sync reads them all)."""
    newest = select(func.max(LicenceRequest.id).label("id")).group_by(LicenceRequest.account_id).subquery()
    with db.session() as session:
        return {r.account_id: _state(r)
                for r in session.scalars(select(LicenceRequest).join(newest, LicenceRequest.id == newest.c.id))}


def settle(db: Database, account_id: str, applied: bool, now: datetime, error: str | None = None) -> None:
    """The tenant answered the account's latest pending request: applied, or failed with Graph's code."""
    with db.session() as session, session.begin():
        settle_in(session, {account_id: (applied, error)}, now)


def settle_in(session: Session, answers: dict[str, tuple[bool, str | None]], now: datetime) -> None:
    """`settle` for many accounts inside the caller's transaction (the tenant sync records a
    whole batch's outcomes in one): {account id: (applied, error)}."""
    ids = list(answers)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        newest = (select(func.max(LicenceRequest.id)).where(LicenceRequest.account_id.in_(part))
                  .group_by(LicenceRequest.account_id))
        for row in session.scalars(select(LicenceRequest).where(LicenceRequest.id.in_(newest))):
            if row.state != ChangeState.APPLIED:
                applied, error = answers[row.account_id]
                row.state, row.done_at, row.error = (ChangeState.APPLIED if applied else ChangeState.FAILED), now, error
