"""What a list of accounts is narrowed to (AccountQuery), and the search filter it becomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from directory.ldap import filters
from directory.ldap.mapping import ACCOUNTS, MODIFIED_AT, A, generalized_time
from directory.model import AccountKind, AccountState, Consent


@dataclass(frozen=True)
class AccountQuery:
    """What a portal list narrows accounts to (every field optional, all must hold)."""

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
    # Only these Account fields are read (the others are left empty); None: every field.
    fields: tuple[str, ...] | None = None


def account_filter(query: AccountQuery) -> str:
    conditions = [ACCOUNTS]
    if query.school is not None:
        conditions.append(filters.equals(A["school"], query.school))
    if query.organisation is not None:
        conditions.append(filters.equals(A["organisation"], query.organisation))
    if query.kinds:
        conditions.append(filters.any_of(*(filters.equals(A["kind"], k.value) for k in query.kinds)))
    if query.states:
        conditions.append(filters.any_of(*(filters.equals(A["state"], s.value) for s in query.states)))
    for field, value in (("year_group", query.year_group), ("registration_group", query.registration_group),
                         ("classes", query.group_class)):
        if value:
            conditions.append(filters.equals(A[field], value))
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
