"""A provisioning plan: the changes one school's MIS export asks of the directory.

Working out a change is separate from applying it (DESIGN.md, after LSC):
the planner returns this as data, which can be printed (--dry-run), held
(SPEC M-11) or applied. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.mis.records import LearnerRecord, StaffRecord

# The five workflows of a school (SPEC M-10).
SCHOOL_DETAILS = "school-details"
STAFF = "staff"
LEARNERS = "learners"
GROUPS = "groups"
LEAVERS = "leavers"
WORKFLOWS = (SCHOOL_DETAILS, STAFF, LEARNERS, GROUPS, LEAVERS)

# SPEC M-9 error names (and the few more a record can earn).
MISSING_STAFF_CODE = "Missing staff code"
DUPLICATE_STAFF_CODE = "Duplicate staff code"
MISSING_LEGAL_NAME = "Missing legal name"
MISSING_ADMISSION_DATE = "Missing admission date"
MULTIPLE_ENTRIES = "Multiple entries for search"
PENDING_TRANSFER = "Pending transfer"
MISSING_ADMISSION_NUMBER = "Missing admission number"
DUPLICATE_UPN = "Duplicate UPN"
UNREADABLE_FIELD = "Unreadable field"
INVALID_NAME = "Invalid legal name"
DIRECTORY_REFUSED = "Directory refused the change"
UNREADABLE_RECORD = "Unreadable record"  # a rule failed on something the record holds; the rest is planned
DEACTIVATED_BY_ADMINISTRATOR = "Deactivated by an administrator"  # not reactivated from the MIS

# Who a state change made by a provisioning run is recorded as: the applier writes it
# (applier.PROVISIONING, the same value); any other name is an administrator's decision.
PROVISIONING = "provisioning"

# Which rule of the guard held a plan (M-11; guard.py).
GUARD_DISAPPEARANCES = "disappearances"
GUARD_REPLACEMENT = "replacement"


@dataclass(frozen=True)
class RecordError:
    """One record's error: `record` is an admission number or staff code (never a UPN)."""

    workflow: str
    record: str
    error: str
    field: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class CreateAccount:
    workflow: str
    record: LearnerRecord | StaffRecord

    @property
    def reference(self) -> str:
        return self.record.reference


@dataclass(frozen=True)
class UpdateAccount:
    """Forced fields that differ from the MIS (M-8); names are never here (A-5). Dual registration
    changes are updates too: a subsidiary school's groups, joining or leaving one (in LEAVERS), and
    the main school moving to the school whose record says M (its old main becomes subsidiary)."""

    workflow: str
    account_id: str
    reference: str
    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class TransferIn:
    """A released learner admitted here (M-6): moved, reactivated, password status '-'; if the
    learner was dual registered here, this school's subsidiary membership goes with the move."""

    workflow: str
    account_id: str
    reference: str
    from_school: str | None
    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Reactivate:
    """A learner released here by provisioning who is current again in the MIS (re-admitted); an
    account an administrator deactivated is never reactivated from the MIS (A-6)."""

    workflow: str
    account_id: str
    reference: str
    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Deactivate:
    """A leaver (M-5): deactivated and released from the school."""

    workflow: str
    account_id: str
    reference: str
    reason: str
    leaving_date: date | None


@dataclass(frozen=True)
class UpdateSchoolName:
    workflow: str
    school: str
    name: str


@dataclass(frozen=True)
class AddGroup:
    workflow: str
    school: str
    kind: str
    code: str
    name: str | None = None  # as a person reads it ("Year 7"); None: the code


@dataclass(frozen=True)
class RemoveGroup:
    workflow: str
    group_id: str
    code: str


Action = (CreateAccount | UpdateAccount | TransferIn | Reactivate | Deactivate | UpdateSchoolName | AddGroup
          | RemoveGroup)


@dataclass(frozen=True)
class Hold:
    """Why a plan is held (M-11) instead of applied.

    `deactivations` counts the accounts that disappear from the export (what a release allows);
    `reason` is one sentence for the run's note saying which rule held it and with what counts;
    `rule` is GUARD_DISAPPEARANCES or GUARD_REPLACEMENT.
    """

    deactivations: int
    active_accounts: int
    limit: int
    reason: str = ""
    rule: str = GUARD_DISAPPEARANCES


@dataclass(frozen=True)
class Plan:
    school: str
    actions: tuple[Action, ...] = ()
    errors: tuple[RecordError, ...] = ()
    hold: Hold | None = None
    workflows: tuple[str, ...] = WORKFLOWS  # the workflows this export feeds
    notes: tuple[str, ...] = field(default=())

    def actions_of(self, workflow: str) -> list[Action]:
        return [a for a in self.actions if a.workflow == workflow]

    def errors_of(self, workflow: str) -> list[RecordError]:
        return [e for e in self.errors if e.workflow == workflow]

    @property
    def is_empty(self) -> bool:
        return not self.actions
