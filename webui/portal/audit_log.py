"""Writing the audit log from the portal (SPEC R-7): who, what, target, when, from where."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import current_app, request
from flask_login import current_user

from directory.model import Account
from operational import audit
from operational.audit import AuditEntry


def _entry(action: str, target: Account | None = None, *, outcome: str = "success", target_kind: str | None = None,
           target_id: str | None = None, target_label: str | None = None, school: str | None = None,
           organisation: str | None = None, detail: dict[str, Any] | None = None) -> AuditEntry:
    actor = current_user.account
    return AuditEntry(
        at=datetime.now(timezone.utc), actor=actor.username, actor_role=current_user.role.value, action=action,
        target_kind=target_kind or (target.kind.value if target else "portal"),
        target_id=target_id or (target.id if target else None),
        target_label=target_label or (target.username if target else None),
        school=school or (target.school if target else None),
        organisation=organisation or (target.organisation if target else None),
        source_address=request.remote_addr, outcome=outcome, detail=detail or {},
    )


def record(action: str, target: Account | None = None, **fields: Any) -> int:
    """One event for the signed-in person's action; an account target names itself."""
    return audit.record(current_app.extensions["porth"].db, _entry(action, target, **fields))


def record_each(action: str, targets: list[Account], **fields: Any) -> None:
    """One event per account, written together."""
    audit.record_many(current_app.extensions["porth"].db, [_entry(action, t, **fields) for t in targets])
