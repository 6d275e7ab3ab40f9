"""The applier: writes a Plan to the directory, entry by entry.

Every action is one LDAP write (an add or a single modify), so a killed
run leaves each entry either before or after its change, and the next run's
plan picks up exactly what is left: accounts are matched by UPN hash or
staff code, never created twice. A failure on one entry is logged against
its record and the rest go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from connectors.mis.records import LearnerRecord, StaffRecord
from connectors.provisioning.plan import (
    DIRECTORY_REFUSED,
    Action,
    AddGroup,
    CreateAccount,
    Deactivate,
    Plan,
    Reactivate,
    RecordError,
    RemoveGroup,
    TransferIn,
    UpdateAccount,
    UpdateSchoolName,
)
from directory.errors import DirectoryError, DirectoryUnavailable
from directory.model import AccountKind, AccountState, Consent, GroupKind, NewAccount
from directory.rules import passwords
from directory.rules.passwords import PasswordPolicyError
from directory.rules.usernames import UsernameError
from directory.store import DirectoryStore

PROVISIONING = "provisioning"
COUNTED = {CreateAccount: "created", UpdateAccount: "updated", Reactivate: "updated", TransferIn: "moved",
           Deactivate: "deactivated", AddGroup: "created", RemoveGroup: "deactivated", UpdateSchoolName: "updated"}


@dataclass
class ApplyResult:
    counts: dict[str, Counter] = field(default_factory=dict)  # workflow -> created/updated/moved/deactivated
    errors: list[RecordError] = field(default_factory=list)

    def count(self, workflow: str, what: str) -> None:
        self.counts.setdefault(workflow, Counter())[what] += 1


def new_account(record: LearnerRecord | StaffRecord, school: str) -> NewAccount:
    if isinstance(record, LearnerRecord):
        return NewAccount(
            kind=AccountKind.LEARNER, surname=record.legal_surname, forename=record.legal_forename,
            created_by=PROVISIONING, school=school, upn_hash=record.upn.hash,
            admission_number=record.admission_number, year_group=record.year_group,
            registration_group=record.registration_group, classes=tuple(sorted(record.classes)),
            consent=Consent.NOT_OBTAINED, password=passwords.generate_learner_password(),
        )
    return NewAccount(
        kind=AccountKind.STAFF, surname=record.legal_surname, forename=record.legal_forename,
        created_by=PROVISIONING, school=school, staff_code=record.staff_code,
        classes=tuple(sorted(record.classes)), password=passwords.generate_password(),
    )


def _writer(store: DirectoryStore, school: str, now: datetime) -> dict[type, Callable[[Action], None]]:
    return {
        CreateAccount: lambda a: store.add_account(new_account(a.record, school), now),
        UpdateAccount: lambda a: store.update_account(a.account_id, dict(a.changes)),
        TransferIn: lambda a: store.set_state(
            a.account_id, AccountState.ACTIVE, PROVISIONING, f"transferred from school {a.from_school}", now,
            changes=dict(a.changes), forget_password=True,
        ),
        Reactivate: lambda a: store.set_state(
            a.account_id, AccountState.ACTIVE, PROVISIONING, "current again in the MIS", now,
            changes=dict(a.changes),
        ),
        Deactivate: lambda a: store.set_state(
            a.account_id, AccountState.DEACTIVATED, PROVISIONING, a.reason, now,
            changes={"leaving_date": a.leaving_date or now.date()},
        ),
        UpdateSchoolName: lambda a: store.rename_school(a.school, a.name),
        AddGroup: lambda a: store.add_group(a.school, GroupKind(a.kind), a.code),
        RemoveGroup: lambda a: store.remove_group(a.group_id),
    }


def apply_plan(store: DirectoryStore, plan: Plan, now: datetime,
               progress: Callable[[Action], None] | None = None) -> ApplyResult:
    """Apply every action; per-entry failures become record errors.

    DirectoryUnavailable is not a record's fault: it stops the run (and the
    next run converges from wherever this one stopped).
    """
    result = ApplyResult()
    write = _writer(store, plan.school, now)
    for action in plan.actions:
        try:
            write[type(action)](action)
        except DirectoryUnavailable:
            raise
        except (DirectoryError, UsernameError, PasswordPolicyError) as exc:
            reference = getattr(action, "reference", None) or getattr(action, "code", plan.school)
            result.errors.append(RecordError(action.workflow, reference, DIRECTORY_REFUSED, None, str(exc)))
        else:
            result.count(action.workflow, COUNTED[type(action)])
        if progress is not None:
            progress(action)
    return result
