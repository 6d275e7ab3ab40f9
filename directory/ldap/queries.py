"""What a list of accounts is narrowed to (AccountQuery), and the search filter it becomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from math import ceil

from directory.ldap import filters
from directory.ldap.mapping import ACCOUNTS, MODIFIED_AT, A, generalized_time
from directory.model import Account, AccountKind, AccountState, Consent, GroupKind, subsidiary_group


@dataclass(frozen=True)
class AccountQuery:
    """What a portal list narrows accounts to (every field optional, all must hold).

    `school` is the school's roll: the accounts whose main school it is and the learners dual
    registered there (a subsidiary registration, docs/mis-formats.md); with a school, the
    registration group and class are the groups at that school (Account.groups_at)."""

    school: str | None = None
    organisation: str | None = None
    kinds: tuple[AccountKind, ...] = ()
    states: tuple[AccountState, ...] = ()
    year_group: str | None = None
    registration_group: str | None = None
    group_class: str | None = None
    consent: Consent | None = None
    words: tuple[str, ...] = ()  # search terms: surname, forename or username contains each
    changed_since: datetime | None = None  # entries modified at or after (slapd's modifyTimestamp)
    dual_registered: bool = False  # only learners on the roll of a school besides their main school
    # Only these Account fields are read (the others are left empty); None: every field.
    fields: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AccountPage:
    """One page of a list in register order (directory/rules/register_order.py), and the list's size."""

    accounts: list[Account]
    number: int  # 1-based; a page asked for past the end is the last page
    size: int
    total: int  # accounts in the whole list

    @property
    def count(self) -> int:
        """How many pages the list has (an empty list has one, empty)."""
        return max(1, ceil(self.total / self.size))


def page_number(asked: int, total: int, size: int) -> int:
    """The page shown for page `asked` of a list of `total`: 1 at least, the last at most."""
    return min(max(1, asked), max(1, ceil(total / size)))


def account_filter(query: AccountQuery) -> str:
    conditions = [ACCOUNTS]
    if query.school is not None:
        conditions.append(filters.any_of(filters.equals(A["school"], query.school),
                                         filters.equals(A["subsidiary_schools"], query.school)))
    if query.organisation is not None:
        conditions.append(filters.equals(A["organisation"], query.organisation))
    if query.kinds:
        conditions.append(filters.any_of(*(filters.equals(A["kind"], k.value) for k in query.kinds)))
    if query.states:
        conditions.append(filters.any_of(*(filters.equals(A["state"], s.value) for s in query.states)))
    if query.year_group:  # the National Curriculum year is the learner's, the same at every school
        conditions.append(filters.equals(A["year_group"], query.year_group))
    for field, kind, code in (("registration_group", GroupKind.REGISTRATION_GROUP, query.registration_group),
                              ("classes", GroupKind.CLASS, query.group_class)):
        if code:
            conditions.append(_in_group(query.school, field, kind, code))
    if query.dual_registered:
        conditions.append(filters.present(A["subsidiary_schools"]))
    if query.consent is Consent.NOT_OBTAINED:  # the default: an account may not carry the attribute at all
        conditions.append(filters.any_of(filters.equals(A["consent"], query.consent.value),
                                         filters.absent(A["consent"])))
    elif query.consent is not None:
        conditions.append(filters.equals(A["consent"], query.consent.value))
    if query.changed_since is not None:
        conditions.append(filters.at_or_after(MODIFIED_AT, generalized_time(query.changed_since)))
    # Each word must be in a surname, forename or username.
    conditions.extend(filters.any_of(*(filters.contains(A[field], word) for field in ("surname", "forename", "names")))
                      for word in query.words)
    return filters.all_of(*conditions)


def _in_group(school: str | None, field: str, kind: GroupKind, code: str) -> str:
    """In the group `code` at `school`: the main school's group field, or the subsidiary membership
    held for that school. The main school's field alone would also match a learner whose main
    school happens to use the same code, so it counts only where `school` is the main school."""
    if school is None:
        return filters.equals(A[field], code)
    return filters.any_of(filters.all_of(filters.equals(A["school"], school), filters.equals(A[field], code)),
                          filters.equals(A["subsidiary_groups"], subsidiary_group(school, kind, code)))
