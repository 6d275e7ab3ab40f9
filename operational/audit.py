"""The audit log (SPEC R-7): every administrative action and password reveal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from operational.db import Database
from operational.statuses import AuditOutcome
from operational.tables import AuditEvent

# The actor role of what the team that runs Porth does with the `porth` command on a server
# (entrypoints/cli/administrators.py): the actor is their login, the address the host.
OPERATOR_ROLE = "operator"


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target_kind: str
    target_id: str | None = None
    target_label: str | None = None
    school: str | None = None
    organisation: str | None = None
    source_address: str | None = None
    actor_role: str | None = None
    outcome: AuditOutcome = AuditOutcome.SUCCESS
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditFilter:
    """What an administrator narrows the log to; schools/organisations bound the scope."""

    schools: tuple[str, ...] | None = None
    organisations: tuple[str, ...] | None = None
    actor: str | None = None
    action: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    before_id: int | None = None  # keyset paging: newest first


def _event(entry: AuditEntry) -> AuditEvent:
    if "password" in {key.lower() for key in entry.detail}:
        raise ValueError("audit details never carry a password")
    return AuditEvent(
        at=entry.at, actor=entry.actor, actor_role=entry.actor_role, action=entry.action,
        target_kind=entry.target_kind, target_id=entry.target_id, target_label=entry.target_label,
        school=entry.school, organisation=entry.organisation, source_address=entry.source_address,
        outcome=entry.outcome, detail=entry.detail or None,
    )


def record(db: Database, entry: AuditEntry) -> int:
    """Write one audit event; returns its id."""
    event = _event(entry)
    with db.session() as session, session.begin():
        session.add(event)
        session.flush()
        return event.id


def record_many(db: Database, entries: list[AuditEntry]) -> None:
    """Several events in one transaction (a class's printed passwords: one event per learner)."""
    events_ = [_event(entry) for entry in entries]
    with db.session() as session, session.begin():
        session.add_all(events_)


def _entry(event: AuditEvent) -> tuple[int, AuditEntry]:
    return event.id, AuditEntry(
        at=event.at, actor=event.actor, actor_role=event.actor_role, action=event.action,
        target_kind=event.target_kind, target_id=event.target_id, target_label=event.target_label,
        school=event.school, organisation=event.organisation, source_address=event.source_address,
        outcome=AuditOutcome(event.outcome), detail=event.detail or {},
    )


def events(db: Database, wanted: AuditFilter) -> list[tuple[int, AuditEntry]]:
    """Matching events, newest first, with their ids (for paging with before_id)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(wanted.limit, 1000)))
    if wanted.schools is not None or wanted.organisations is not None:
        scope = []
        if wanted.schools is not None:
            scope.append(AuditEvent.school.in_(wanted.schools))
        if wanted.organisations is not None:
            scope.append(AuditEvent.organisation.in_(wanted.organisations))

        query = query.where(or_(*scope))
    if wanted.actor is not None:
        query = query.where(AuditEvent.actor == wanted.actor)
    if wanted.action is not None:
        query = query.where(AuditEvent.action == wanted.action)
    if wanted.target_id is not None:
        query = query.where(AuditEvent.target_id == wanted.target_id)
    if wanted.since is not None:
        query = query.where(AuditEvent.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEvent.at < wanted.until)
    if wanted.before_id is not None:
        query = query.where(AuditEvent.id < wanted.before_id)
    with db.session() as session:
        return [_entry(event) for event in session.scalars(query)]
