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
from typing import assert_never

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
from directory.errors import DirectoryError, DirectoryUnavailable, InvalidEntry
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
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # workflow -> created/updated/moved/deactivated
    errors: list[RecordError] = field(default_factory=list)

    def count(self, workflow: str, what: str) -> None:
        self.counts.setdefault(workflow, Counter())[what] += 1


def new_account(record: LearnerRecord | StaffRecord, school: str) -> NewAccount:
    surname, forename = record.legal_surname, record.legal_forename
    if not surname or not forename:
        # The planner never makes a CreateAccount from such a record (M-9 "Missing legal name");
        # should one come anyway, the store is not asked to name an account after nothing.
        raise InvalidEntry(f"record {record.reference} has no legal surname or forename")
    if isinstance(record, LearnerRecord):
        return NewAccount(
            kind=AccountKind.LEARNER, surname=surname, forename=forename,
            created_by=PROVISIONING, school=school, upn_hash=record.upn.hash,
            admission_number=record.admission_number, year_group=record.year_group,
            registration_group=record.registration_group, classes=tuple(sorted(record.classes)),
            consent=Consent.NOT_OBTAINED, password=passwords.generate_learner_password(),
        )
    return NewAccount(
        kind=AccountKind.STAFF, surname=surname, forename=forename,
        created_by=PROVISIONING, school=school, staff_code=record.staff_code,
        classes=tuple(sorted(record.classes)), password=passwords.generate_password(),
    )


def _write(store: DirectoryStore, school: str, now: datetime, action: Action) -> None:
    """The one LDAP write an action asks for."""
    match action:
        case CreateAccount():
            store.add_account(new_account(action.record, school), now)
        case UpdateAccount():
            store.update_account(action.account_id, dict(action.changes))
        case TransferIn():
            store.set_state(
                action.account_id, AccountState.ACTIVE, PROVISIONING,
                f"transferred from school {action.from_school}", now,
                changes=dict(action.changes), forget_password=True,
            )
        case Reactivate():
            store.set_state(
                action.account_id, AccountState.ACTIVE, PROVISIONING, "current again in the MIS", now,
                changes=dict(action.changes),
            )
        case Deactivate():
            store.set_state(
                action.account_id, AccountState.DEACTIVATED, PROVISIONING, action.reason, now,
                changes={"leaving_date": action.leaving_date or now.date()},
            )
        case UpdateSchoolName():
            store.rename_school(action.school, action.name)
        case AddGroup():
            store.add_group(action.school, GroupKind(action.kind), action.code)
        case RemoveGroup():
            store.remove_group(action.group_id)
        case _:
            assert_never(action)


def _reference(action: Action, school: str) -> str:
    """How a refused action's record error names it: the record, the group's code, else the school."""
    match action:
        case AddGroup() | RemoveGroup():
            return action.code
        case UpdateSchoolName():
            return school
        case _:
            return action.reference or school


def apply_plan(store: DirectoryStore, plan: Plan, now: datetime,
               progress: Callable[[Action], None] | None = None) -> ApplyResult:
    """Apply every action; per-entry failures become record errors.

    DirectoryUnavailable is not a record's fault: it stops the run (and the
    next run converges from wherever this one stopped).
    """
    result = ApplyResult()
    for action in plan.actions:
        try:
            _write(store, plan.school, now, action)
        except DirectoryUnavailable:
            raise
        except (DirectoryError, UsernameError, PasswordPolicyError) as exc:
            result.errors.append(RecordError(action.workflow, _reference(action, plan.school), DIRECTORY_REFUSED,
                                             None, str(exc)))
        else:
            result.count(action.workflow, COUNTED[type(action)])
        if progress is not None:
            progress(action)
    return result
