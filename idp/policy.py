"""Who may sign in, and reach which service (pure: no I/O, no clock).

SPEC A-6: only active accounts sign in. SPEC C-2: what a learner's consent
opens is the consent table of directory/rules/consent.py (the licence planner
reads the same table). Staff and non-MIS accounts are not subject to learner
consent.
"""

from __future__ import annotations

from enum import StrEnum

from directory.model import Account, AccountKind, AccountState
from directory.rules import consent


class Refusal(StrEnum):
    NOT_ACTIVE = "not-active"
    NO_CONSENT = "no-consent"


def may_sign_in(account: Account) -> Refusal | None:
    return None if account.state is AccountState.ACTIVE else Refusal.NOT_ACTIVE


def may_reach(account: Account, category: str) -> Refusal | None:
    """None if the account may use a service of this category, else why not."""
    refused = may_sign_in(account)
    if refused:
        return refused
    if account.kind is AccountKind.LEARNER and not consent.opens(account.consent, category):
        return Refusal.NO_CONSENT
    return None


def badge_enough(service_allows_badges: bool, asks_password: bool) -> bool:
    """Issue 18 point 3: a badge, or a session begun with one, signs a learner in to a service only
    when the service's policy allows badges (`allow_badge`; the portal never does) and its request
    asks for no password context (a RequestedAuthnContext other than `unspecified`)."""
    return service_allows_badges and not asks_password
