"""Who may sign in, and reach which service (pure: no I/O, no clock).

SPEC A-6: only active accounts sign in. SPEC C-2: a learner without consent
reaches core services only; `legacy` consent adds the services that existed
before the new client; `explicit` consent opens every service. Staff and
non-MIS accounts are not subject to learner consent.
"""

from __future__ import annotations

from enum import StrEnum

from directory.model import Account, AccountKind, AccountState, Consent


class Refusal(StrEnum):
    NOT_ACTIVE = "not-active"
    NO_CONSENT = "no-consent"


# The service categories each consent state opens to a learner.
CATEGORIES_BY_CONSENT: dict[Consent | None, frozenset[str]] = {
    None: frozenset({"core"}),
    Consent.NOT_OBTAINED: frozenset({"core"}),
    Consent.WITHDRAWN: frozenset({"core"}),
    Consent.LEGACY: frozenset({"core", "legacy"}),
    Consent.EXPLICIT: frozenset({"core", "legacy", "additional"}),
}


def may_sign_in(account: Account) -> Refusal | None:
    return None if account.state is AccountState.ACTIVE else Refusal.NOT_ACTIVE


def may_reach(account: Account, category: str) -> Refusal | None:
    """None if the account may use a service of this category, else why not."""
    refused = may_sign_in(account)
    if refused:
        return refused
    if account.kind is AccountKind.LEARNER and category not in CATEGORIES_BY_CONSENT[account.consent]:
        return Refusal.NO_CONSENT
    return None
