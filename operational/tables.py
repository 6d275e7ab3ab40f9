"""Tables of the operational store. Changing one needs a migration (tests check)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from operational.statuses import AuditOutcome, ChangeState, JobOutcome, WorkflowOutcome

WORKFLOWS = ("school-details", "staff", "learners", "groups", "leavers")  # SPEC M-10


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in and out, on every engine (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the operational store only takes timezone-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK that the column holds one of these values (an enum's: its members' strings)."""
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


_BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AuditEvent(Base):
    """SPEC R-7: who, what, target, when, from where."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(256), nullable=False)
    actor_role: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target_kind: Mapped[str] = mapped_column(String(32), nullable=False)
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_label: Mapped[str | None] = mapped_column(String(256))
    school: Mapped[str | None] = mapped_column(String(16))
    organisation: Mapped[str | None] = mapped_column(String(16))
    source_address: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default=AuditOutcome.SUCCESS)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_school_at", "school", "at"),
        Index("ix_audit_events_organisation_at", "organisation", "at"),
        Index("ix_audit_events_actor_at", "actor", "at"),
        Index("ix_audit_events_target_id", "target_id"),
        CheckConstraint(_one_of("outcome", AuditOutcome), name="outcome"),
    )


class WorkflowRun(Base):
    """SPEC M-10: one run of one of a school's five workflows."""

    __tablename__ = "workflow_runs"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    school: Mapped[str] = mapped_column(String(16), nullable=False)
    workflow: Mapped[str] = mapped_column(String(32), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default=WorkflowOutcome.RUNNING)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    source: Mapped[str | None] = mapped_column(String(512))
    created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    moved: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deactivated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    # SPEC M-11: a held run's deactivation count, and when an administrator released it.
    held_deactivations: Mapped[int | None] = mapped_column(Integer)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    errors: Mapped[list[WorkflowError]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="WorkflowError.id"
    )

    __table_args__ = (
        Index("ix_workflow_runs_school_workflow_started", "school", "workflow", "started_at"),
        Index("ix_workflow_runs_started_at", "started_at"),
        CheckConstraint(_one_of("workflow", WORKFLOWS), name="workflow"),
        CheckConstraint(_one_of("outcome", WorkflowOutcome), name="outcome"),
    )


class WorkflowError(Base):
    """One record's error in a run (SPEC M-9): named by admission number or staff code."""

    __tablename__ = "workflow_errors"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    record: Mapped[str] = mapped_column(String(128), nullable=False)
    error: Mapped[str] = mapped_column(String(64), nullable=False)
    field: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)

    run: Mapped[WorkflowRun] = relationship(back_populates="errors")


class SeenSamlRequest(Base):
    """IDs of AuthnRequests already answered, kept until they would have expired
    anyway: a replayed request is refused by every web worker (issue 4)."""

    __tablename__ = "seen_saml_requests"

    issuer_and_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of issuer + ID
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)


class SignInFailures(Base):
    """Failed sign-ins per username or per source address (SPEC S-3), shared
    by every web worker. The key is a keyed hash, so what people typed into
    the username box (sometimes their password) is never stored."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A browser's session with Porth (the single sign-on session and the portal's), shared by
    every web node (issue 15 point 1). The cookie holds only a random id; the row is keyed by its
    SHA-256, so the table alone (a backup, a log of it) opens no session. Ending a row ends the
    session on every node at its next request."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text, nullable=False)  # the session's JSON
    # Who is signed in through it, to end "every session of account X" (sign-out everywhere).
    sso_account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    portal_account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # The sooner of its lifetime's end and its idle timeout from last_seen_at.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)


class UsernameChange(Base):
    """A queued Generate New Username (SPEC A-5), done by a scheduled job within minutes.
    The new name comes from the account's names when the job runs (they change at once)."""

    __tablename__ = "username_changes"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(256), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=ChangeState.PENDING)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    old_username: Mapped[str | None] = mapped_column(String(256))
    new_username: Mapped[str | None] = mapped_column(String(256))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_username_changes_state_requested_at", "state", "requested_at"),
        Index("ix_username_changes_account_id", "account_id"),
        CheckConstraint(_one_of("state", ChangeState), name="state"),
    )


class LicenceRequest(Base):
    """A staff licence allocated or revoked in the portal (SPEC G-2), queued for the
    Graph job; its state is what the licence page shows (pending / applied / failed)."""

    __tablename__ = "licence_requests"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64), nullable=False)
    school: Mapped[str] = mapped_column(String(16), nullable=False)
    wanted: Mapped[bool] = mapped_column(Boolean, nullable=False)  # allocate (true) or revoke (false)
    requested_by: Mapped[str] = mapped_column(String(256), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=ChangeState.PENDING)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)  # e.g. the Graph error code

    __table_args__ = (
        Index("ix_licence_requests_school_account", "school", "account_id", "id"),
        Index("ix_licence_requests_state", "state"),
        CheckConstraint(_one_of("state", ChangeState), name="state"),
    )


class JobRun(Base):
    """One run of a scheduled job (issue 6), recorded like a workflow run (M-10)."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default=JobOutcome.RUNNING)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False, default="schedule")  # schedule | by hand
    holder: Mapped[str | None] = mapped_column(String(128))  # which scheduler process ran it
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[list[Any] | None] = mapped_column(JSON)  # [{record, error, detail}], the first few hundred
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_job_runs_job_started", "job", "started_at"),
        CheckConstraint(_one_of("outcome", JobOutcome), name="outcome"),
    )


class JobLock(Base):
    """Who runs a job now: a lease a second scheduler cannot take while it lasts (issue 6)."""

    __tablename__ = "job_locks"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# APScheduler 3's own job store table (SQLAlchemyJobStore), declared here so that the
# migrations create it and the models-versus-database check knows it.
from sqlalchemy import Column, Float, LargeBinary, Table, Unicode  # noqa: E402

apscheduler_jobs = Table(
    "apscheduler_jobs", Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class CloudAccount(Base):
    """What Porth last applied to Microsoft 365 for an account (issue 6, G-1..G-3): its cloud
    user, licence and the state of the last change, with Graph's error code when it failed
    (or Porth's finding, e.g. ImmutableIdConflict: the tenant's user with the account's UPN
    belongs to another on-premises identity, for an administrator to resolve)."""

    __tablename__ = "cloud_accounts"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cloud_id: Mapped[str | None] = mapped_column(String(64))
    upn: Mapped[str | None] = mapped_column(String(256))
    licence: Mapped[str | None] = mapped_column(String(64))  # skuPartNumber
    digest: Mapped[str | None] = mapped_column(String(32))  # of the desired state last applied
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=ChangeState.PENDING)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_permanent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # Issue 14: when Porth deleted the cloud user (it sits in directory/deletedItems for 30 days,
    # to be restored if the account comes back); None while the user exists.
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_cloud_accounts_state", "state"),
        CheckConstraint(_one_of("state", ChangeState), name="state"),
    )


class SyncMark(Base):
    """Where an incremental job got to (e.g. the directory time of the last good tenant sync)."""

    __tablename__ = "sync_marks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


# A claimed value compares byte by byte on PostgreSQL too (collation "C"; SQLite's default is
# binary): the values are ASCII and the prefix search of directory_claims.claimed_starting is a
# range over the primary key's index, which a locale's collation would not keep in byte order.
_ClaimValue = String(256).with_variant(String(256, collation="C"), "postgresql")


class DirectoryClaim(Base):
    """Issue 17 point 2: a username (or alias) or UPN hash claimed for one account before any
    directory server is written with it; the primary key makes the claim unique for the whole
    deployment, whichever provider the account is written to (directory/claims.py)."""

    __tablename__ = "directory_claims"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # directory.claims.ClaimKind
    value: Mapped[str] = mapped_column(_ClaimValue, primary_key=True)  # a username casefolded, or a UPN hash
    holder: Mapped[str] = mapped_column(String(64), nullable=False)  # the account's id
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (
        Index("ix_directory_claims_holder", "holder"),
    )


# -- badge sign-in (issue 18) ------------------------------------------------------------------
class SchoolBadgeSettings(Base):
    """A school's badge sign-in, as its digital champion set it (directory/rules/badges.py)."""

    __tablename__ = "school_badge_settings"

    school: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    years: Mapped[str] = mapped_column(String(128), nullable=False)  # year codes, space separated
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    changed_by: Mapped[str] = mapped_column(String(256), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (CheckConstraint(_one_of("mode", ("badge", "badge-and-pin")), name="mode"),)


class Badge(Base):
    """One printed badge. Only keyed hashes of its secret and PIN are kept; reprinting or
    revoking sets `revoked_at`, and from then on it signs nobody in. At most one badge of an
    account is live (the partial unique index), whoever prints at the same moment."""

    __tablename__ = "badges"

    badge_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the token's first part
    account_id: Mapped[str] = mapped_column(String(64), nullable=False)
    school: Mapped[str] = mapped_column(String(16), nullable=False)
    secret_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    pin_digest: Mapped[str | None] = mapped_column(String(64))
    issued_by: Mapped[str] = mapped_column(String(256), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_why: Mapped[str | None] = mapped_column(String(16))  # revoked | reprinted

    __table_args__ = (
        Index("ix_badges_account_live", "account_id", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
        Index("ix_badges_school_account", "school", "account_id"),
    )
# -- second factors (issue 18 points 6-9) ------------------------------------------
SECOND_FACTOR_KINDS = ("totp", "webauthn")


class SecondFactor(Base):
    """One enrolled second factor of an account: an authenticator app (TOTP; its secret sealed
    with the password-vault key, never in the clear) or a security key or passkey (WebAuthn; its
    public key and signature counter). The account is named by its directory id, never its UPN."""

    __tablename__ = "second_factors"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    label: Mapped[str] = mapped_column(String(64), nullable=False)
    totp_secret_sealed: Mapped[str | None] = mapped_column(Text)
    # The last TOTP time step accepted: a code of that step or before is refused (used once).
    last_time_step: Mapped[int | None] = mapped_column(BigInteger)
    credential_id: Mapped[str | None] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[str | None] = mapped_column(Text)  # COSE key, base64url
    sign_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint(_one_of("kind", SECOND_FACTOR_KINDS), name="kind"),)


class RecoveryCode(Base):
    """A one-time recovery code, kept as a keyed hash (idp/second_factor_rules.py); used once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
