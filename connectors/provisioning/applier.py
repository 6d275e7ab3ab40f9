"""The applier: writes a Plan to the directory, entry by entry.

Every action is one LDAP write (an add or a single modify), so a killed
run leaves each entry either before or after its change, and the next run's
plan picks up exactly what is left: accounts are matched by UPN hash or
staff code, never created twice. A failure on one entry, whatever it is, is
logged against its record and the rest go on (M-9); only a DirectoryFailure
(the directory cannot do any work: down, disk full, busy) stops the school's
run, since every later write would fail the same way and none is the record's
fault. A creation the directory refuses because another school created the
same learner meanwhile (UpnHashTaken) is no error either: the record waits for
the run's last pass, which plans it again against the account that now exists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import assert_never

from connectors.mis.records import LearnerRecord, StaffRecord
from connectors.provisioning.field_policy import creation_values
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
from directory.errors import DirectoryError, DirectoryFailure, InvalidEntry, UpnHashTaken
from directory.model import AccountKind, AccountState, Consent, GroupKind, NewAccount
from directory.rules import passwords
from directory.store import DirectoryStore

PROVISIONING = "provisioning"
# The record error of a change that failed for a reason other than the directory's refusal
# (a fault of Porth's on that one record): logged like any record error, the run goes on (M-9).
COULD_NOT_APPLY = "Could not apply the change"
COUNTED = {CreateAccount: "created", UpdateAccount: "updated", Reactivate: "updated", TransferIn: "moved",
           Deactivate: "deactivated", AddGroup: "created", RemoveGroup: "deactivated", UpdateSchoolName: "updated"}


@dataclass
class ApplyResult:
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # workflow -> created/updated/moved/deactivated
    errors: list[RecordError] = field(default_factory=list)
    # Creations refused because the learner's UPN hash is already on an account (UpnHashTaken):
    # another school of this run created it first; planned again in the run's last pass.
    taken: list[CreateAccount] = field(default_factory=list)

    def count(self, workflow: str, what: str) -> None:
        self.counts.setdefault(workflow, Counter())[what] += 1

    def merge(self, later: ApplyResult) -> None:
        """Fold a later pass over the same school into this one (the same workflow runs)."""
        for workflow, counter in later.counts.items():
            self.counts.setdefault(workflow, Counter()).update(counter)
        self.errors.extend(later.errors)
        self.taken = list(later.taken)


def new_account(record: LearnerRecord | StaffRecord, school: str, today: date) -> NewAccount:
    """The account a CreateAccount makes, with every field the field-policy table takes from the
    MIS (`creation_values`: M-1, a rerun changes nothing); `today` (the run's day) decides whether
    a leaving date is still to come (kept) or has come (a leaver instead)."""
    if not record.legal_surname or not record.legal_forename:
        # The planner never makes a CreateAccount from such a record (M-9 "Missing legal name");
        # should one come anyway, the store is not asked to name an account after nothing.
        raise InvalidEntry(f"record {record.reference} has no legal surname or forename")
    if isinstance(record, LearnerRecord):
        return NewAccount(
            kind=AccountKind.LEARNER, created_by=PROVISIONING, school=school,
            **creation_values(AccountKind.LEARNER, record, today),
            consent=Consent.NOT_OBTAINED, password=passwords.generate_learner_password(),
        )
    return NewAccount(
        kind=AccountKind.STAFF, created_by=PROVISIONING, school=school,
        **creation_values(AccountKind.STAFF, record, today), password=passwords.generate_password(),
    )


def _write(store: DirectoryStore, school: str, now: datetime, action: Action) -> None:
    """The one LDAP write an action asks for."""
    match action:
        case CreateAccount():
            store.add_account(new_account(action.record, school, now.date()), now)
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
            store.add_group(action.school, GroupKind(action.kind), action.code, action.name)
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
               progress: Callable[[Action, ApplyResult], None] | None = None,
               result: ApplyResult | None = None) -> ApplyResult:
    """Apply every action into `result` (a new one if None); whatever fails on one entry
    becomes that record's error.

    A DirectoryFailure is not a record's fault: it stops the run (and the
    next run converges from wherever this one stopped); what was done until
    then is in the `result` the caller passed. `progress` is told of each
    action once it is done, with the result so far.
    """
    result = ApplyResult() if result is None else result
    for action in plan.actions:
        try:
            _write(store, plan.school, now, action)
        except DirectoryFailure:
            raise
        except UpnHashTaken as exc:
            if isinstance(action, CreateAccount):
                result.taken.append(action)
            else:
                result.errors.append(RecordError(action.workflow, _reference(action, plan.school),
                                                 DIRECTORY_REFUSED, None, str(exc)))
        except DirectoryError as exc:
            result.errors.append(RecordError(action.workflow, _reference(action, plan.school), DIRECTORY_REFUSED,
                                             None, str(exc)))
        except Exception as exc:  # noqa: BLE001 - nothing a record holds may stop the run (M-9)
            result.errors.append(RecordError(action.workflow, _reference(action, plan.school), COULD_NOT_APPLY,
                                             None, f"{type(exc).__name__}: {exc}"))
        else:
            result.count(action.workflow, COUNTED[type(action)])
        if progress is not None:
            progress(action, result)
    return result
