"""The outcomes and states the operational store records, one enum each.

String enums: a member is its value, the very string the rows hold and the
CHECK constraints of tables.py (and of the migrations that made them) allow,
so rows written before these types existed read back as members, and a
template or a caller comparing with the plain string still matches.
"""

from __future__ import annotations

from enum import StrEnum


class WorkflowOutcome(StrEnum):
    """How a run of one of a school's workflows ended (SPEC M-10), or that it still runs."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    HELD = "held"  # M-11: nothing applied until an administrator releases it


class JobOutcome(StrEnum):
    """How a run of a scheduled job ended, or that it still runs."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTLY_FAILED = "partly failed"  # some of its records applied, some not (counts say how many)
    FAILED = "failed"
    HELD = "held"  # waiting for an operator's confirmation (e.g. more deletions than allowed)
    SKIPPED = "skipped"


class ChangeState(StrEnum):
    """Where a change queued for another system is: a new username (A-5), a staff licence
    request (G-2), or what Porth last sent the tenant for an account (G-3)."""

    PENDING = "pending"  # not sent yet, or to be sent again (a transient failure)
    APPLIED = "applied"
    FAILED = "failed"  # refused for good, with the reason recorded


class AuditOutcome(StrEnum):
    """SPEC R-7: what came of an audited action."""

    SUCCESS = "success"
    REFUSED = "refused"
    FAILED = "failed"
