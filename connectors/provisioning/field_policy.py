"""Which account fields the MIS decides, and when (SPEC M-8, M-5, A-5), declared once. Pure.

After LSC's per-attribute policies (FORCE / KEEP): every field of a learner or
staff account that a newcomer may ask about has one policy here, and the
planner computes its updates from this table alone, never from a field named
in its code.

- FORCED: follows the MIS on every run. A change in the MIS changes the account
  (M-8: this is how the academic-year rollover happens; M-5: a leaving date to
  come is kept, one that has come makes a leaver instead).
- AT_CREATION: read from the MIS when the account is created, never afterwards.
  Legal names change the account only through an administrator (A-5); the UPN
  hash and the staff code are how the planner finds the account again.
- NEVER_FROM_MIS: the MIS never sets it; Porth or an administrator does.

An account's state and school are not fields here: the MIS moves them only
through the leaver, re-admission and transfer rules of the planner (M-5, M-6).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from connectors.mis.records import LearnerRecord, StaffRecord
from directory.model import AccountKind

Record = LearnerRecord | StaffRecord


class FieldPolicy(StrEnum):
    FORCED = "forced"
    AT_CREATION = "at-creation"
    NEVER_FROM_MIS = "never-from-mis"


@dataclass(frozen=True)
class FieldRule:
    """One account field (a `directory.model.Account` attribute) and where its value comes from."""

    field: str
    policy: FieldPolicy
    # The value the MIS gives the field, in the directory's form; None for NEVER_FROM_MIS.
    from_mis: Callable[[Any, date], Any] | None = None


def _record(name: str) -> Callable[[Any, date], Any]:
    """The record's own value, as the parser read it."""
    return lambda record, _today: getattr(record, name)


def _classes(record: Record, _today: date) -> tuple[str, ...]:
    """Kept sorted, so a reordered export is no change."""
    return tuple(sorted(record.classes))


def _leaving_date_to_come(record: Record, today: date) -> date | None:
    """A leaving date on or before today makes a leaver (M-5), so only one still to come is kept."""
    return record.leaving_date if record.leaving_date and record.leaving_date > today else None


def _never(field: str) -> FieldRule:
    return FieldRule(field, FieldPolicy.NEVER_FROM_MIS)


# Whatever the kind, Porth or an administrator sets these, never the MIS.
_NOT_FROM_ANY_MIS = (
    _never("username"),  # allocated by Porth, changed by a queued request
    _never("mail"),
    _never("aliases"),
    _never("password_status"),  # generated at creation, reset by administrators
    _never("roles"),  # promoted in the portal
    _never("expiry"),  # L-1: non-MIS accounts only
)

FIELD_POLICIES: Mapping[AccountKind, tuple[FieldRule, ...]] = MappingProxyType({
    AccountKind.LEARNER: (
        FieldRule("surname", FieldPolicy.AT_CREATION, _record("legal_surname")),
        FieldRule("forename", FieldPolicy.AT_CREATION, _record("legal_forename")),
        FieldRule("upn_hash", FieldPolicy.AT_CREATION, lambda record, _today: record.upn.hash),
        FieldRule("admission_number", FieldPolicy.FORCED, _record("admission_number")),
        FieldRule("year_group", FieldPolicy.FORCED, _record("year_group")),
        FieldRule("registration_group", FieldPolicy.FORCED, _record("registration_group")),
        FieldRule("classes", FieldPolicy.FORCED, _classes),
        FieldRule("leaving_date", FieldPolicy.FORCED, _leaving_date_to_come),
        _never("consent"),  # C-3: confirmed or withdrawn in the portal
        _never("staff_code"),
        *_NOT_FROM_ANY_MIS,
    ),
    AccountKind.STAFF: (
        FieldRule("surname", FieldPolicy.AT_CREATION, _record("legal_surname")),
        FieldRule("forename", FieldPolicy.AT_CREATION, _record("legal_forename")),
        FieldRule("staff_code", FieldPolicy.AT_CREATION, _record("staff_code")),
        FieldRule("classes", FieldPolicy.FORCED, _classes),
        FieldRule("leaving_date", FieldPolicy.FORCED, _leaving_date_to_come),
        _never("admission_number"),
        _never("upn_hash"),
        _never("year_group"),
        _never("registration_group"),
        _never("consent"),  # learner consent only (C-1)
        *_NOT_FROM_ANY_MIS,
    ),
})


def forced_values(kind: AccountKind, record: Record, today: date) -> dict[str, Any]:
    """The FORCED fields of this kind, with the values the MIS gives them today, in table order."""
    return {rule.field: rule.from_mis(record, today)
            for rule in FIELD_POLICIES[kind] if rule.policy is FieldPolicy.FORCED and rule.from_mis is not None}


def creation_values(kind: AccountKind, record: Record, today: date) -> dict[str, Any]:
    """Every field a new account takes from the MIS: the AT_CREATION and the FORCED ones of this kind,
    as `directory.model.NewAccount` keywords. A new account is then as a rerun would leave it (M-1):
    a leaving date still to come is on it from the start, not added by the next run."""
    return {rule.field: rule.from_mis(record, today)
            for rule in FIELD_POLICIES[kind] if rule.policy is not FieldPolicy.NEVER_FROM_MIS
            and rule.from_mis is not None}
