"""Second factors and recovery codes in the operational store (issue 18 points 6-9).

What must hold once whatever runs at once (two tabs, two web nodes) is decided by one UPDATE
with a WHERE, never read first and written later: a TOTP time step is accepted only if it is
newer than the last one (so a code is used once), a WebAuthn signature counter only if it
moves on, a recovery code only while it is unused."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from operational.db import Database
from operational.tables import RecoveryCode, SecondFactor

TOTP = "totp"
WEBAUTHN = "webauthn"


@dataclass(frozen=True)
class Factor:
    id: int
    account_id: str
    kind: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    totp_secret_sealed: str | None = None
    last_time_step: int | None = None
    credential_id: str | None = None
    public_key: str | None = None
    sign_count: int = 0


def _factor(row: SecondFactor) -> Factor:
    return Factor(id=row.id, account_id=row.account_id, kind=row.kind, label=row.label, created_at=row.created_at,
                  last_used_at=row.last_used_at, totp_secret_sealed=row.totp_secret_sealed,
                  last_time_step=row.last_time_step, credential_id=row.credential_id, public_key=row.public_key,
                  sign_count=row.sign_count)


def _changed(session: Session, statement) -> int:
    """How many rows an UPDATE or DELETE changed (its CursorResult's rowcount)."""
    return cast(CursorResult, session.execute(statement)).rowcount


class SecondFactors:
    def __init__(self, db: Database):
        self.db = db

    # -- reading ---------------------------------------------------------------------
    def factors_of(self, account_id: str) -> list[Factor]:
        with self.db.session() as session:
            return [_factor(row) for row in session.scalars(
                select(SecondFactor).where(SecondFactor.account_id == account_id).order_by(SecondFactor.id))]

    def has_factor(self, account_id: str) -> bool:
        with self.db.session() as session:
            return session.scalar(select(SecondFactor.id).where(SecondFactor.account_id == account_id)
                                  .limit(1)) is not None

    def accounts_with_factors(self, account_ids: Iterable[str]) -> set[str]:
        wanted = list(account_ids)
        with self.db.session() as session:
            return set(session.scalars(select(SecondFactor.account_id).where(
                SecondFactor.account_id.in_(wanted)).distinct())) if wanted else set()

    def factor(self, account_id: str, factor_id: int) -> Factor | None:
        with self.db.session() as session:
            row = session.scalar(select(SecondFactor).where(SecondFactor.id == factor_id,
                                                            SecondFactor.account_id == account_id))
            return _factor(row) if row else None

    def by_credential(self, credential_id: str) -> Factor | None:
        with self.db.session() as session:
            row = session.scalar(select(SecondFactor).where(SecondFactor.credential_id == credential_id,
                                                            SecondFactor.kind == WEBAUTHN))
            return _factor(row) if row else None

    # -- enrolling -------------------------------------------------------------------
    def add_totp(self, account_id: str, label: str, sealed_secret: str, accepted_step: int, now: datetime) -> int:
        """The app's first code, checked at enrolment, counts as used."""
        return self._add(SecondFactor(account_id=account_id, kind=TOTP, label=label, totp_secret_sealed=sealed_secret,
                                      last_time_step=accepted_step, sign_count=0, created_at=now))

    def add_webauthn(self, account_id: str, label: str, credential_id: str, public_key: str, sign_count: int,
                     now: datetime) -> int:
        return self._add(SecondFactor(account_id=account_id, kind=WEBAUTHN, label=label, credential_id=credential_id,
                                      public_key=public_key, sign_count=sign_count, created_at=now))

    def _add(self, row: SecondFactor) -> int:
        with self.db.session() as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    def remove(self, account_id: str, factor_id: int) -> bool:
        """One factor taken away; the recovery codes go with the last one (they recover a factor)."""
        with self.db.session() as session, session.begin():
            gone = _changed(session, delete(SecondFactor).where(SecondFactor.id == factor_id,
                                                                SecondFactor.account_id == account_id))
            left = session.scalar(select(func.count()).select_from(SecondFactor)
                                  .where(SecondFactor.account_id == account_id))
            if gone and not left:
                session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
            return bool(gone)

    def reset(self, account_id: str) -> int:
        """Every factor and recovery code of the account gone: it must enrol again. How many factors went."""
        with self.db.session() as session, session.begin():
            gone = _changed(session, delete(SecondFactor).where(SecondFactor.account_id == account_id))
            session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
            return gone

    # -- using -----------------------------------------------------------------------
    def accept_time_step(self, factor_id: int, step: int, now: datetime) -> bool:
        """True once per time step and factor: a second use of the code, however close, is refused."""
        with self.db.session() as session, session.begin():
            return bool(_changed(session, update(SecondFactor).where(
                SecondFactor.id == factor_id, SecondFactor.kind == TOTP,
                or_(SecondFactor.last_time_step.is_(None), SecondFactor.last_time_step < step),
            ).values(last_time_step=step, last_used_at=now)))

    def accept_sign_count(self, factor_id: int, seen: int, new_count: int, now: datetime) -> bool:
        """The counter moves from the value the assertion was checked against (`seen`) to
        `new_count`; False when another use got there first (a cloned key's or a replay's)."""
        with self.db.session() as session, session.begin():
            return bool(_changed(session, update(SecondFactor).where(
                SecondFactor.id == factor_id, SecondFactor.kind == WEBAUTHN, SecondFactor.sign_count == seen,
            ).values(sign_count=new_count, last_used_at=now)))

    # -- recovery codes ----------------------------------------------------------------
    def replace_recovery_codes(self, account_id: str, code_hashes: list[str], now: datetime) -> None:
        """New codes; every earlier one (used or not) stops working."""
        with self.db.session() as session, session.begin():
            session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
            session.add_all(RecoveryCode(account_id=account_id, code_hash=h, created_at=now) for h in code_hashes)

    def use_recovery_code(self, account_id: str, code_hash: str, now: datetime) -> bool:
        with self.db.session() as session, session.begin():
            return bool(_changed(session, update(RecoveryCode).where(
                RecoveryCode.account_id == account_id, RecoveryCode.code_hash == code_hash,
                RecoveryCode.used_at.is_(None)).values(used_at=now)))

    def recovery_codes_left(self, account_id: str) -> int:
        with self.db.session() as session:
            return session.scalar(select(func.count()).select_from(RecoveryCode).where(
                RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None))) or 0
