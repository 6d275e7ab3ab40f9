"""The planner: one school's MIS records against its accounts -> a Plan. Pure.

Rules (SPEC): learners need legal names, a permanent UPN, an admission
number and an admission date on or before today (M-2); staff need a unique
staff code and a start date (M-4). Leavers (leaving date on or before today,
or no longer in a full export) are deactivated and released (M-5). A
released learner admitted elsewhere is moved, not duplicated; one still
active at the old school is a pending transfer (M-6). Staff moving school
get a new account (M-7). Each year group, registration group and class in use
is a group entry of the school, made when a record first names it and removed
when no record does (M-8). Which fields follow the MIS on every run (year
group, registration group, classes: M-8) and which only at creation (legal
names: A-5) is the table of field_policy.py. An account an administrator
deactivated is not reactivated from the MIS (A-6). A plan that looks like a
broken export is held (M-11, guard.py).

Dual registration (docs/architecture.md, "How provisioning decides"): one
account per learner, main at one school, with subsidiary memberships (and
their groups) at the others. A record's enrolment status says which: M main,
S subsidiary, C or none single registration.

The caller gives the school's MIS accounts (any state but deleted): those
whose main school it is and those dual registered here; and, for the UPN
hashes not found among them, the live accounts elsewhere that carry them
(see `hashes_to_look_up`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from functools import partial
from typing import Any

from connectors.mis.records import MISSING_UPN, LearnerRecord, SchoolExport, StaffRecord
from connectors.provisioning.field_policy import forced_values
from connectors.provisioning.guard import GuardCounts, GuardPolicy, hold_for
from connectors.provisioning.plan import (
    DEACTIVATED_BY_ADMINISTRATOR,
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
    PROVISIONING,
    SCHOOL_DETAILS,
    STAFF,
    UNREADABLE_FIELD,
    UNREADABLE_RECORD,
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
from directory.model import Account, AccountKind, AccountState, Group, GroupKind, subsidiary_group
from directory.rules.usernames import UsernameError, username_base
from directory.rules.year_groups import year_group_name

__all__ = ["LEFT_EXPORT", "GuardPolicy", "hashes_to_look_up", "plan_school"]

DEFAULT_GUARD = GuardPolicy()  # SPEC M-11's defaults
MISSING_START_DATE = "Missing start date"
LEFT_EXPORT = "no longer in the MIS export"
# Enrolment statuses of dual registration (CTF EnrolStatus; OneRoster's first school org is M, the others S).
MAIN = "M"
SUBSIDIARY = "S"


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


def _enrolment(record: LearnerRecord) -> str:
    """MAIN, SUBSIDIARY, or anything else for a single registration."""
    return (record.enrolment_status or "").strip().upper()


def _administrators_decision(account: Account) -> str | None:
    """Why the MIS may not reactivate this account (A-6), or None: deactivated by someone other
    than a provisioning run, it stays so until an administrator reactivates it."""
    change = account.state_change
    if account.state is not AccountState.DEACTIVATED or change is None or change.by == PROVISIONING:
        return None
    return (f"deactivated by {change.by} on {change.at.date().isoformat()}; not reactivated from the MIS "
            "until an administrator reactivates it")


def _group_school(value: str) -> str:
    """The school of one subsidiary-group value (`DFES:kind:code`)."""
    return value.split(":", 1)[0]


def _memberships(school: str, registration_group: str | None, classes: Iterable[str]) -> set[str]:
    values = {subsidiary_group(school, GroupKind.CLASS, code) for code in classes}
    if registration_group:
        values.add(subsidiary_group(school, GroupKind.REGISTRATION_GROUP, registration_group))
    return values


def _subsidiary_changes(account: Account, schools: set[str], groups: set[str]) -> tuple[tuple[str, Any], ...]:
    """The subsidiary fields that differ from these, as sorted tuples (the directory reads them sorted)."""
    changes: list[tuple[str, Any]] = []
    if schools != set(account.subsidiary_schools):
        changes.append(("subsidiary_schools", tuple(sorted(schools))))
    if groups != set(account.subsidiary_groups):
        changes.append(("subsidiary_groups", tuple(sorted(groups))))
    return tuple(changes)


def _membership_changes(account: Account, school: str,
                        record: LearnerRecord | None) -> tuple[tuple[str, Any], ...]:
    """Make `school` a subsidiary school of the account with the record's groups, or, without a
    record, take it and its groups off the account."""
    schools = set(account.subsidiary_schools) - {school}
    groups = {g for g in account.subsidiary_groups if _group_school(g) != school}
    if record is not None:
        schools.add(school)
        groups.update(_memberships(school, record.registration_group, record.classes))
    return _subsidiary_changes(account, schools, groups)


class _SchoolPlanner:
    def __init__(self, export: SchoolExport, today: date):
        self.export = export
        self.today = today
        self.actions: list[Action] = []
        self.errors: list[RecordError] = []
        # What the guard weighs (guard.py): accounts gone from a full export, and learners of this
        # school that a record planned as a new account still names by admission number.
        self.disappeared: Counter[AccountKind] = Counter()
        self.replaced_learners = 0

    def error(self, workflow: str, record: str, error: str, field: str | None = None,
              detail: str | None = None) -> None:
        self.errors.append(RecordError(workflow, record, error, field, detail))

    def guarded(self, workflow: str, record: LearnerRecord | StaffRecord,
                plan_record: Callable[[], None]) -> None:
        """Plan one record; whatever a rule raises on what it holds becomes that record's error and the
        rest of the school is planned (M-9). What it planned before failing is dropped with it."""
        actions, errors = len(self.actions), len(self.errors)
        try:
            plan_record()
        except Exception as exc:  # noqa: BLE001 - nothing a record holds may stop the school's run
            del self.actions[actions:]
            del self.errors[errors:]
            # The exception's type only: its message may quote the record's values (a UPN, M-3).
            self.error(workflow, record.reference, UNREADABLE_RECORD, None,
                       f"{type(exc).__name__} while planning this record; nothing is changed for it")

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

    def _admission_problem(self, record: LearnerRecord) -> bool:
        """M-2: a learner is on roll here (created, or made main here) once admitted. Logs what is
        missing; a pre-admission record (admission date to come) is no error, only not yet."""
        if not record.admission_number:
            self.error(LEARNERS, record.reference, MISSING_ADMISSION_NUMBER, "admission number")
            return True
        if record.admission_date is None:
            self.error(LEARNERS, record.reference, MISSING_ADMISSION_DATE, "admission date")
            return True
        return record.admission_date > self.today

    # -- learners -------------------------------------------------------------
    def learners(self, accounts: list[Account], subsidiary: list[Account],
                 elsewhere: Mapping[str, Sequence[Account]]) -> None:
        """`accounts`: learners whose main school this is; `subsidiary`: learners main elsewhere and
        dual registered here (each held apart: only this school's membership is theirs to change)."""
        by_hash: dict[str, list[Account]] = defaultdict(list)
        by_admission: dict[str, list[Account]] = defaultdict(list)
        for account in accounts + subsidiary:
            if account.upn_hash:
                by_hash[account.upn_hash].append(account)
        for account in accounts:
            # A subsidiary account's admission number is its main school's, not one of this school's.
            if account.admission_number:
                by_admission[account.admission_number.casefold()].append(account)
        present: set[str] = set()
        records_per_hash = Counter(r.upn.hash for r in self.export.learners if r.upn.hash)

        def plan_record(record: LearnerRecord) -> None:
            # Whatever else is wrong, an account this record names is not a leaver.
            for account in by_hash.get(record.upn.hash or "", []) + by_admission.get(
                    (record.admission_number or "").casefold(), []):
                present.add(account.id)
            self._learner(record, by_hash, records_per_hash, elsewhere)

        for record in self.export.learners:
            self.guarded(LEARNERS, record, partial(plan_record, record))

        replaced = {account.id for action in self.actions
                    if isinstance(action, CreateAccount) and isinstance(action.record, LearnerRecord)
                    for account in by_admission.get((action.record.admission_number or "").casefold(), [])
                    if account.is_active}
        self.replaced_learners = len(replaced)
        if self.export.has_learners:
            self._absent(accounts, present, AccountKind.LEARNER)
            self._absent_here(subsidiary, present)

    def _learner(self, record: LearnerRecord, by_hash: Mapping[str, list[Account]], records_per_hash: Counter[str],
                 elsewhere: Mapping[str, Sequence[Account]]) -> None:
        ref = record.reference
        if record.refused is not None:
            # The parser refused it whole (e.g. a UPN in the admission-number column): named, never quoted.
            self.error(LEARNERS, ref, record.refused.error, record.refused.field, record.refused.detail)
            return
        upn_hash = record.upn.hash
        if record.upn.error or upn_hash is None:
            # A UpnField carries its hash or the M-9 error why not (records.py), never neither.
            self.error(LEARNERS, ref, record.upn.error or MISSING_UPN, "UPN", record.upn.detail)
            return
        if records_per_hash[upn_hash] > 1:
            self.error(LEARNERS, ref, DUPLICATE_UPN, "UPN", "two records of this school carry the same UPN")
            return
        leaving = _left_on(record, self.today)
        # A learner dual registered here is one of this school's, whichever list the caller put it in.
        here = by_hash.get(upn_hash) or [
            a for a in elsewhere.get(upn_hash, ())
            if a.state is not AccountState.DELETED and self.export.school in a.subsidiary_schools]
        if len(here) > 1:
            self.error(LEARNERS, ref, MULTIPLE_ENTRIES, "UPN", f"{len(here)} accounts of this school match")
        elif here and here[0].school == self.export.school:
            self._existing_learner(here[0], record, leaving)
        elif here:
            self._subsidiary_learner(here[0], record, leaving)
        elif not leaving:
            self._new_learner(record, elsewhere.get(upn_hash, ()))

    def _existing_learner(self, account: Account, record: LearnerRecord, leaving: date | None) -> None:
        if leaving:
            if account.state is AccountState.ACTIVE:
                self.actions.append(_leaver(account, record, leaving))
            return
        changes = _changes(account, record, self.today)
        if account.state is AccountState.DEACTIVATED:
            if not _is_past(record.admission_date, self.today):
                return
            decision = _administrators_decision(account)
            if decision is None:
                self.actions.append(Reactivate(LEARNERS, account.id, record.reference, changes))
                return
            # the state stays as the administrator left it; the groups still follow the MIS (M-8).
            self.error(LEARNERS, record.reference, DEACTIVATED_BY_ADMINISTRATOR, "state", decision)
        if changes:
            self.actions.append(UpdateAccount(LEARNERS, account.id, record.reference, changes))

    def _subsidiary_learner(self, account: Account, record: LearnerRecord, leaving: date | None) -> None:
        """A learner main elsewhere and dual registered here."""
        school, ref = self.export.school, record.reference
        if leaving:
            # Leaving this school only ends this membership; the main school decides the account.
            changes = _membership_changes(account, school, None)
            if changes:
                self.actions.append(UpdateAccount(LEAVERS, account.id, ref, changes))
            return
        if not account.is_active:
            decision = _administrators_decision(account)
            if decision is not None:
                self.error(LEARNERS, ref, DEACTIVATED_BY_ADMINISTRATOR, "state", decision)
            elif account.state is AccountState.DEACTIVATED and _is_past(record.admission_date, self.today):
                # Released by its main school, still on roll here: this school becomes its main (M-6).
                self._transfer_in(account, record)
                return
        elif _enrolment(record) == MAIN:
            if not self._admission_problem(record):
                self.actions.append(UpdateAccount(LEARNERS, account.id, ref, self._main_moved_here(account, record)))
            return
        changes = _membership_changes(account, school, record)
        if changes:
            self.actions.append(UpdateAccount(LEARNERS, account.id, ref, changes))

    def _new_learner(self, record: LearnerRecord, elsewhere: Sequence[Account]) -> None:
        ref = record.reference
        live = [a for a in elsewhere if a.state is not AccountState.DELETED]
        status = _enrolment(record)
        if len(live) == 1 and live[0].is_active and status in (MAIN, SUBSIDIARY):
            # Dual registration: the learner's one account, active at its main school, is joined here.
            if status == SUBSIDIARY:
                if record.admission_date is None:
                    self.error(LEARNERS, ref, MISSING_ADMISSION_DATE, "admission date")
                elif record.admission_date <= self.today:
                    changes = _membership_changes(live[0], self.export.school, record)
                    self.actions.append(UpdateAccount(LEARNERS, live[0].id, ref, changes))
            elif not self._admission_problem(record):
                self.actions.append(UpdateAccount(LEARNERS, live[0].id, ref, self._main_moved_here(live[0], record)))
            return
        if self._names_problem(LEARNERS, record) or self._admission_problem(record):
            return
        if len(live) > 1:
            self.error(LEARNERS, ref, MULTIPLE_ENTRIES, "UPN", f"{len(live)} accounts in other schools match")
        elif live and live[0].state is AccountState.ACTIVE:
            self.error(LEARNERS, ref, PENDING_TRANSFER, "UPN",
                       f"the account is still active at school {live[0].school}; it moves once that school releases it")
        elif live:
            # M-6. An account an administrator deactivated elsewhere moves too: admission to a new
            # school is that school's decision (docs/architecture.md, "How provisioning decides").
            self._transfer_in(live[0], record)
        else:
            self.actions.append(CreateAccount(LEARNERS, record))

    def _transfer_in(self, account: Account, record: LearnerRecord) -> None:
        school = self.export.school
        forced = forced_values(AccountKind.LEARNER, record, self.today)
        changes = tuple((forced | {"school": school}).items()) + _membership_changes(account, school, None)
        self.actions.append(TransferIn(LEARNERS, account.id, record.reference, account.school, changes))

    def _main_moved_here(self, account: Account, record: LearnerRecord) -> tuple[tuple[str, Any], ...]:
        """An M record here for a learner main elsewhere: this school becomes the main one, with the
        MIS's fields, and the old main school is kept as a subsidiary one with the groups it had."""
        school, old = self.export.school, account.school
        schools = set(account.subsidiary_schools) - {school}
        groups = {g for g in account.subsidiary_groups if _group_school(g) != school}
        if old:
            schools.add(old)
            groups.update(_memberships(old, account.registration_group, account.classes))
        return (*_changes(account, record, self.today), ("school", school),
                *_subsidiary_changes(account, schools, groups))

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

        def plan_record(record: StaffRecord) -> None:
            ref = record.reference
            if record.refused is not None or not record.staff_code:
                # Keep whoever this is from looking like a leaver while the record is fixed.
                name = ((record.legal_surname or "").casefold(), (record.legal_forename or "").casefold())
                present.update(a.id for a in by_name.get(name, []))
                present.update(a.id for a in by_code.get((record.staff_code or "").casefold(), []))
                if record.refused is not None:
                    self.error(STAFF, ref, record.refused.error, record.refused.field, record.refused.detail)
                else:
                    self.error(STAFF, ref, MISSING_STAFF_CODE, "staff code")
                return
            code = record.staff_code.casefold()
            matched = by_code.get(code, [])
            present.update(a.id for a in matched)
            if codes[code] > 1:
                self.error(STAFF, ref, DUPLICATE_STAFF_CODE, "staff code",
                           f"{codes[code]} staff records of this school share it")
                return
            if len(matched) > 1:
                self.error(STAFF, ref, MULTIPLE_ENTRIES, "staff code", f"{len(matched)} accounts of this school match")
                return
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
                return
            if leaving or self._names_problem(STAFF, record):
                return
            if record.start_date is None:
                self.error(STAFF, ref, MISSING_START_DATE, "start date")
                return
            if record.start_date <= self.today:
                self.actions.append(CreateAccount(STAFF, record))

        for record in self.export.staff:
            self.guarded(STAFF, record, partial(plan_record, record))
        if self.export.has_staff:
            self._absent(accounts, present, AccountKind.STAFF)

    # -- leavers by absence, groups, school -------------------------------------------
    def _absent(self, accounts: list[Account], present: set[str], kind: AccountKind) -> None:
        """M-5: an active account whose main school this is, gone from the full export, is a leaver."""
        for account in accounts:
            if account.id not in present and account.state is AccountState.ACTIVE:
                reference = account.admission_number or account.staff_code or account.username
                self.actions.append(Deactivate(LEAVERS, account.id, reference, LEFT_EXPORT, None))
                self.disappeared[kind] += 1

    def _absent_here(self, subsidiary: list[Account], present: set[str]) -> None:
        """A dual-registered learner gone from this school's full export loses this membership only;
        the account stays as its main school has it (never deactivated here, not weighed by the guard)."""
        for account in subsidiary:
            if account.id not in present:
                changes = _membership_changes(account, self.export.school, None)
                if changes:
                    # Named by username: the admission number it carries is the main school's.
                    self.actions.append(UpdateAccount(LEAVERS, account.id, account.username, changes))

    def groups(self, existing: Sequence[Group]) -> None:
        wanted: set[tuple[str, str]] = set()

        def learner_groups(record: LearnerRecord) -> None:
            if not _is_past(record.leaving_date, self.today):
                if record.year_group:
                    wanted.add((GroupKind.YEAR_GROUP.value, record.year_group))
                if record.registration_group:
                    wanted.add((GroupKind.REGISTRATION_GROUP.value, record.registration_group))
                wanted.update((GroupKind.CLASS.value, c) for c in record.classes)

        def staff_groups(record: StaffRecord) -> None:
            if not _is_past(record.leaving_date, self.today):
                wanted.update((GroupKind.CLASS.value, c) for c in record.classes)

        for record in self.export.learners:
            self.guarded(GROUPS, record, partial(learner_groups, record))
        for staff_record in self.export.staff:
            self.guarded(GROUPS, staff_record, partial(staff_groups, staff_record))
        # None marks a group this plan adds, so the same code in other case is added once.
        have: dict[tuple[str, str], Group | None] = {(g.kind.value, g.code.casefold()): g for g in existing}
        wanted_folded = {(kind, code.casefold()) for kind, code in wanted}
        for kind, code in sorted(wanted):
            if (kind, code.casefold()) not in have:
                name = year_group_name(code) if kind == GroupKind.YEAR_GROUP.value else None
                self.actions.append(AddGroup(GROUPS, self.export.school, kind, code, name))
                have[(kind, code.casefold())] = None  # the same code twice in other case: once
        described: set[str] = set()
        if self.export.has_learners:
            # A learners' export names every year group and registration group in use: one no
            # learner is in any more is removed (classes need the staff's export as well).
            described.update((GroupKind.YEAR_GROUP.value, GroupKind.REGISTRATION_GROUP.value))
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
    guard: GuardPolicy = DEFAULT_GUARD,
    allowed_deactivations: int | None = None,
) -> Plan:
    """Plan one school. `school_accounts` are the MIS accounts on its roll: those whose main school it
    is and learners dual registered here. `allowed_deactivations` is an administrator's release (M-11)."""
    school = export.school
    live = [a for a in school_accounts if a.state is not AccountState.DELETED]
    mis_accounts = [a for a in live if a.school == school]
    subsidiary = [a for a in live if a.school != school and school in a.subsidiary_schools
                  and a.kind is AccountKind.LEARNER]
    planner = _SchoolPlanner(export, today)
    planner.problems()
    planner.school_details(current_name)
    if export.has_staff:
        planner.staff([a for a in mis_accounts if a.kind is AccountKind.STAFF])
    if export.has_learners:
        planner.learners([a for a in mis_accounts if a.kind is AccountKind.LEARNER], subsidiary, elsewhere)
    planner.groups(groups)

    active = [a for a in mis_accounts if a.state is AccountState.ACTIVE]
    counts = GuardCounts(
        active_accounts=len(active),
        active_learners=sum(1 for a in active if a.kind is AccountKind.LEARNER),
        disappearances=sum(planner.disappeared.values()),
        learners_created=sum(1 for a in planner.actions
                             if isinstance(a, CreateAccount) and isinstance(a.record, LearnerRecord)),
        learners_vanished=planner.disappeared[AccountKind.LEARNER] + planner.replaced_learners,
    )
    hold = hold_for(counts, guard, allowed_deactivations)
    return Plan(school, tuple(planner.actions), tuple(planner.errors), hold, workflows_of(export))


def workflows_of(export: SchoolExport) -> tuple[str, ...]:
    """The workflows an export feeds (M-10): staff and learners only when it carries them."""
    return tuple(w for w in (SCHOOL_DETAILS, STAFF if export.has_staff else None,
                             LEARNERS if export.has_learners else None, GROUPS, LEAVERS) if w)
