"""What a learner's consent opens (SPEC C-1, C-2, G-1), declared once. Pure.

The identity provider's sign-in gate (idp/policy.py) and the Microsoft 365
licence planner (connectors/graph/desired.py) both read this table, so a
service a learner may not sign in to is never licensed for them either.
Staff and non-MIS accounts are not subject to learner consent: callers ask
only for learners.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from directory.model import Consent


class ServiceCategory(StrEnum):
    """SPEC C-2 / S-1: the category a service is registered with."""

    CORE = "core"  # personalised assessments: open to every learner
    LEGACY = "legacy"  # the services that existed before the new client (Office 365, Just2easy)
    ADDITIONAL = "additional"  # newer services (Google Workspace)


# C-2: the service categories each consent state opens to a learner. An account
# with no consent recorded is treated as `not-obtained`, the default (C-1).
CATEGORIES_BY_CONSENT: Mapping[Consent | None, frozenset[ServiceCategory]] = MappingProxyType({
    None: frozenset({ServiceCategory.CORE}),
    Consent.NOT_OBTAINED: frozenset({ServiceCategory.CORE}),
    Consent.WITHDRAWN: frozenset({ServiceCategory.CORE}),
    Consent.LEGACY: frozenset({ServiceCategory.CORE, ServiceCategory.LEGACY}),
    Consent.EXPLICIT: frozenset({ServiceCategory.CORE, ServiceCategory.LEGACY, ServiceCategory.ADDITIONAL}),
})

# C-2 names Office 365 among the services that existed before the new client,
# so the learner licence goes with the consent that opens legacy services (G-1).
OFFICE_365 = ServiceCategory.LEGACY


def opens(consent: Consent | None, category: str) -> bool:
    """Whether a learner with this consent may use a service of this category."""
    return category in CATEGORIES_BY_CONSENT[consent]


def allows_learner_licence(consent: Consent | None) -> bool:
    """G-1: the learner Office 365 licence follows consent; withdrawn or never given, it goes."""
    return opens(consent, OFFICE_365)
