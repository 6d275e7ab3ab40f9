"""The planner: one school's MIS records against its accounts -> a Plan. Pure.

Rules (SPEC): learners need legal names, a permanent UPN, an admission
number and an admission date on or before today (M-2); staff need a unique
staff code and a start date (M-4). Leavers (leaving date on or before today,
or no longer in a full export) are deactivated and released (M-5). A
released learner admitted elsewhere is moved, not duplicated; one still
active at the old school is a pending transfer (M-6). Staff moving school
get a new account (M-7). Which fields follow the MIS on every run (year
group, registration group, classes: M-8) and which only at creation (legal
names: A-5) is the table of field_policy.py. A plan deactivating too much of
a school is held (M-11).

The caller gives the school's MIS accounts (any state but deleted) and, for
the UPN hashes not found there, the live accounts elsewhere that carry them
(see `hashes_to_look_up`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors.mis.records import MISSING_UPN, LearnerRecord, SchoolExport, StaffRecord
from connectors.provisioning.field_policy import forced_values
from connectors.provisioning.plan import (
    DUPLICATE_STAFF_CODE,
    DUPLICATE_UPN,
    GROUPS,
    INVALID_NAME,
    LEARNERS,
    LEAVERS,
    MISSING_ADMISSION_DATE,
    MISSING_ADMISSION_NUMBER,
    MISSING_LEGAL_NAME,
    MISSING_STAFF_CODE,
    MULTIPLE_ENTRIES,
    PENDING_TRANSFER,
    SCHOOL_DETAILS,
    STAFF,
    UNREADABLE_FIELD,
    Action,
    AddGroup,
    CreateAccount,
    Deactivate,
    Hold,
    Plan,
    Reactivate,
    RecordError,
    RemoveGroup,
    TransferIn,
    UpdateAccount,
    UpdateSchoolName,
)
from directory.model import Account, AccountKind, AccountState, Group, GroupKind
from directory.rules.usernames import UsernameError, username_base

MISSING_START_DATE = "Missing start date"
LEFT_EXPORT = "no longer in the MIS export"


@dataclass(frozen=True)
class GuardPolicy:
    """SPEC M-11: hold a plan deactivating more than this share of a school's
    active accounts, once it reaches `min_accounts`."""

    max_share: float = 0.10
    min_accounts: int = 25

    def limit(self, active_accounts: int) -> int:
        """The most deactivations a plan may carry without being held."""
        return max(self.min_accounts - 1, math.floor(self.max_share * active_accounts))


def hashes_to_look_up(export: SchoolExport, school_accounts: Sequence[Account]) -> set[str]:
    """UPN hashes of this export that no learner account of the school carries."""
    known = {a.upn_hash for a in school_accounts if a.kind is AccountKind.LEARNER and a.upn_hash}
    return {r.upn.hash for r in export.learners if r.upn.hash and r.upn.hash not in known}


def _is_past(day: date | None, today: date) -> bool:
    return day is not None and day <= today


def _changes(account: Account, record: LearnerRecord | StaffRecord, today: date) -> tuple[tuple[str, Any], ...]:
    """The FORCED fields (field_policy.py) whose directory value differs from the MIS."""
    return tuple((name, value) for name, value in forced_values(account.kind, record, today).items()
                 if getattr(account, name) != value)


def _left_on(record: LearnerRecord | StaffRecord, today: date) -> date | None:
    """The record's leaving date once it has come (M-5), else None."""
    return record.leaving_date if _is_past(record.leaving_date, today) else None


def _leaver(account: Account, record: LearnerRecord | StaffRecord, left_on: date) -> Deactivate:
    """M-5: a record whose leaving date has come deactivates its account."""
    return Deactivate(LEAVERS, account.id, record.reference, f"left on {left_on.isoformat()}", left_on)


class _SchoolPlanner:
    def __init__(self, export: SchoolExport, today: date):
        self.export = export
        self.today = today
        self.actions: list[Action] = []
        self.errors: list[RecordError] = []

    def error(self, workflow: str, record: str, error: str, field: str | None = None,
              detail: str | None = None) -> None:
        self.errors.append(RecordError(workflow, record, error, field, detail))

    def _names_problem(self, workflow: str, record: LearnerRecord | StaffRecord) -> bool:
        if not record.legal_surname or not record.legal_forename:
            missing = "legal surname" if not record.legal_surname else "legal forename"
            self.error(workflow, record.reference, MISSING_LEGAL_NAME, missing)
            return True
        try:
            username_base(record.legal_surname, record.legal_forename)
        except UsernameError as exc:
            self.error(workflow, record.reference, INVALID_NAME, "legal name", str(exc))
            return True
        return False

    # -- learners -------------------------------------------------------------
    def learners(self, accounts: list[Account], elsewhere: Mapping[str, Sequence[Account]]) -> None:
        by_hash: dict[str, list[Account]] = defaultdict(list)
        by_admission: dict[str, list[Account]] = defaultdict(list)
        for account in accounts:
            if account.upn_hash:
                by_hash[account.upn_hash].append(account)
            if account.admission_number:
                by_admission[account.admission_number.casefold()].append(account)
        present: set[str] = set()
        records_per_hash = Counter(r.upn.hash for r in self.export.learners if r.upn.hash)

        for record in self.export.learners:
            ref = record.reference
            # Whatever else is wrong, an account this record names is not a leaver.
            for account in by_hash.get(record.upn.hash or "", []) + by_admission.get(
                    (record.admission_number or "").casefold(), []):
                present.add(account.id)
            upn_hash = record.upn.hash
            if record.upn.error or upn_hash is None:
                # A UpnField carries its hash or the M-9 error why not (records.py), never neither.
                self.error(LEARNERS, ref, record.upn.error or MISSING_UPN, "UPN", record.upn.detail)
                continue
            if records_per_hash[upn_hash] > 1:
                self.error(LEARNERS, ref, DUPLICATE_UPN, "UPN", "two records of this school carry the same UPN")
                continue
            matched = by_hash.get(upn_hash, [])
            if len(matched) > 1:
                self.error(LEARNERS, ref, MULTIPLE_ENTRIES, "UPN", f"{len(matched)} accounts of this school match")
                continue
            leaving = _left_on(record, self.today)
            if matched:
                self._existing_learner(matched[0], record, leaving)
            elif not leaving:
                self._new_learner(record, elsewhere.get(upn_hash, ()))

        if self.export.has_learners:
            self._absent(accounts, present, LEARNERS)

    def _existing_learner(self, account: Account, record: LearnerRecord, leaving: date | None) -> None:
        if leaving:
            if account.state is AccountState.ACTIVE:
                self.actions.append(_leaver(account, record, leaving))
            return
        changes = _changes(account, record, self.today)
        if account.state is AccountState.DEACTIVATED:
            if _is_past(record.admission_date, self.today):
                self.actions.append(Reactivate(LEARNERS, account.id, record.reference, changes))
        elif changes:
            self.actions.append(UpdateAccount(LEARNERS, account.id, record.reference, changes))

    def _new_learner(self, record: LearnerRecord, elsewhere: Sequence[Account]) -> None:
        ref = record.reference
        if self._names_problem(LEARNERS, record):
            return
        if not record.admission_number:
            self.error(LEARNERS, ref, MISSING_ADMISSION_NUMBER, "admission number")
            return
        if record.admission_date is None:
            self.error(LEARNERS, ref, MISSING_ADMISSION_DATE, "admission date")
            return
        if record.admission_date > self.today:
            return  # pre-admission / new intake: created once admitted (M-2)
        live = [a for a in elsewhere if a.state is not AccountState.DELETED]
        if len(live) > 1:
            self.error(LEARNERS, ref, MULTIPLE_ENTRIES, "UPN", f"{len(live)} accounts in other schools match")
        elif live and live[0].state is AccountState.ACTIVE:
            self.error(LEARNERS, ref, PENDING_TRANSFER, "UPN",
                       f"the account is still active at school {live[0].school}; it moves once that school releases it")
        elif live:
            forced = forced_values(AccountKind.LEARNER, record, self.today)
            changes = tuple((forced | {"school": self.export.school}).items())
            self.actions.append(TransferIn(LEARNERS, live[0].id, ref, live[0].school, changes))
        else:
            self.actions.append(CreateAccount(LEARNERS, record))

    # -- staff ------------------------------------------------------------------
    def staff(self, accounts: list[Account]) -> None:
        by_code: dict[str, list[Account]] = defaultdict(list)
        by_name: dict[tuple[str, str], list[Account]] = defaultdict(list)
        for account in accounts:
            if account.staff_code:
                by_code[account.staff_code.casefold()].append(account)
            by_name[(account.surname.casefold(), account.forename.casefold())].append(account)
        codes = Counter((r.staff_code or "").casefold() for r in self.export.staff if r.staff_code)
        present: set[str] = set()
        for record in self.export.staff:
            ref = record.reference
            if not record.staff_code:
                # Keep whoever this is from looking like a leaver while the code is fixed.
                name = ((record.legal_surname or "").casefold(), (record.legal_forename or "").casefold())
                present.update(a.id for a in by_name.get(name, []))
                self.error(STAFF, ref, MISSING_STAFF_CODE, "staff code")
                continue
            code = record.staff_code.casefold()
            matched = by_code.get(code, [])
            present.update(a.id for a in matched)
            if codes[code] > 1:
                self.error(STAFF, ref, DUPLICATE_STAFF_CODE, "staff code",
                           f"{codes[code]} staff records of this school share it")
                continue
            if len(matched) > 1:
                self.error(STAFF, ref, MULTIPLE_ENTRIES, "staff code", f"{len(matched)} accounts of this school match")
                continue
            leaving = _left_on(record, self.today)
            if matched:
                account = matched[0]
                if leaving and account.state is AccountState.ACTIVE:
                    self.actions.append(_leaver(account, record, leaving))
                elif not leaving and account.state is AccountState.ACTIVE:
                    changes = _changes(account, record, self.today)
                    if changes:
                        self.actions.append(UpdateAccount(STAFF, account.id, ref, changes))
                # A deactivated staff account is reactivated by an administrator (L-5).
                continue
            if leaving or self._names_problem(STAFF, record):
                continue
            if record.start_date is None:
                self.error(STAFF, ref, MISSING_START_DATE, "start date")
                continue
            if record.start_date <= self.today:
                self.actions.append(CreateAccount(STAFF, record))
        if self.export.has_staff:
            self._absent(accounts, present, STAFF)

    # -- leavers by absence, groups, school -------------------------------------------
    def _absent(self, accounts: list[Account], present: set[str], workflow: str) -> None:
        for account in accounts:
            if account.id not in present and account.state is AccountState.ACTIVE:
                reference = account.admission_number or account.staff_code or account.username
                self.actions.append(Deactivate(LEAVERS, account.id, reference, LEFT_EXPORT, None))

    def groups(self, existing: Sequence[Group]) -> None:
        wanted: set[tuple[str, str]] = set()
        current_learners = [r for r in self.export.learners if not _is_past(r.leaving_date, self.today)]
        for record in current_learners:
            if record.registration_group:
                wanted.add((GroupKind.REGISTRATION_GROUP.value, record.registration_group))
            wanted.update((GroupKind.CLASS.value, c) for c in record.classes)
        for staff_record in self.export.staff:
            if not _is_past(staff_record.leaving_date, self.today):
                wanted.update((GroupKind.CLASS.value, c) for c in staff_record.classes)
        # None marks a group this plan adds, so the same code in other case is added once.
        have: dict[tuple[str, str], Group | None] = {(g.kind.value, g.code.casefold()): g for g in existing}
        wanted_folded = {(kind, code.casefold()) for kind, code in wanted}
        for kind, code in sorted(wanted):
            if (kind, code.casefold()) not in have:
                self.actions.append(AddGroup(GROUPS, self.export.school, kind, code))
                have[(kind, code.casefold())] = None  # the same code twice in other case: once
        described: set[str] = set()
        if self.export.has_learners:
            described.add(GroupKind.REGISTRATION_GROUP.value)
            if self.export.has_staff:
                described.add(GroupKind.CLASS.value)
        for key, group in sorted(have.items(), key=lambda item: item[0]):
            if group is not None and key not in wanted_folded and group.kind.value in described:
                self.actions.append(RemoveGroup(GROUPS, group.id, group.code))

    def school_details(self, current_name: str | None) -> None:
        name = self.export.school_name
        if name and current_name is not None and name != current_name:
            self.actions.append(UpdateSchoolName(SCHOOL_DETAILS, self.export.school, name))

    def problems(self) -> None:
        """Fields the parser could not read: logged against the record, never fatal."""
        for problem in self.export.problems:
            workflow = STAFF if problem.source.file.lower().endswith("staff.csv") else LEARNERS
            self.error(workflow, problem.record or str(problem.source), UNREADABLE_FIELD, problem.field,
                       f"{problem.source}: {problem.reason}")


def plan_school(
    export: SchoolExport,
    school_accounts: Sequence[Account],
    elsewhere: Mapping[str, Sequence[Account]],
    groups: Sequence[Group],
    current_name: str | None,
    today: date,
    guard: GuardPolicy = GuardPolicy(),
    allowed_deactivations: int | None = None,
) -> Plan:
    """Plan one school. `allowed_deactivations` is an administrator's release (M-11)."""
    mis_accounts = [a for a in school_accounts if a.school == export.school and a.state is not AccountState.DELETED]
    planner = _SchoolPlanner(export, today)
    planner.problems()
    planner.school_details(current_name)
    if export.has_staff:
        planner.staff([a for a in mis_accounts if a.kind is AccountKind.STAFF])
    if export.has_learners:
        planner.learners([a for a in mis_accounts if a.kind is AccountKind.LEARNER], elsewhere)
    planner.groups(groups)

    deactivations = sum(1 for a in planner.actions if isinstance(a, Deactivate))
    active = sum(1 for a in mis_accounts if a.state is AccountState.ACTIVE)
    limit = guard.limit(active) if allowed_deactivations is None else allowed_deactivations
    hold = Hold(deactivations, active, limit) if deactivations > limit else None
    workflows = tuple(
        w for w in (SCHOOL_DETAILS, STAFF if export.has_staff else None, LEARNERS if export.has_learners else None,
                     GROUPS, LEAVERS) if w
    )
    return Plan(export.school, tuple(planner.actions), tuple(planner.errors), hold, workflows)
