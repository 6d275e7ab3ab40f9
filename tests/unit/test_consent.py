"""The one consent table (SPEC C-1, C-2, G-1): what each consent state opens to a learner,
read alike by the sign-in gate and the Microsoft 365 licence planner."""

from __future__ import annotations

from dataclasses import replace

import pytest

from connectors.graph.desired import Skus, desired_user
from directory.model import Account, AccountKind, AccountState, Consent
from directory.rules.consent import ServiceCategory, allows_learner_licence, opens
from idp import policy

SKUS = Skus(learner="STANDARDWOFFPACK_STUDENT", staff="STANDARDWOFFPACK_FACULTY")
LEARNER = Account(id="a1", username="BloggsJ", kind=AccountKind.LEARNER, state=AccountState.ACTIVE,
                  surname="Bloggs", forename="Joe", display_name="Joe Bloggs", mail="BloggsJ@hwbcymru.net",
                  school="6612345")
CORE, LEGACY, ADDITIONAL = ServiceCategory.CORE, ServiceCategory.LEGACY, ServiceCategory.ADDITIONAL


@pytest.mark.parametrize(("consent", "categories", "licensed"), [
    (None, {CORE}, False),  # nothing recorded is the default, not-obtained (C-1)
    (Consent.NOT_OBTAINED, {CORE}, False),
    (Consent.WITHDRAWN, {CORE}, False),
    (Consent.LEGACY, {CORE, LEGACY}, True),
    (Consent.EXPLICIT, {CORE, LEGACY, ADDITIONAL}, True),
])
def test_c2_each_consent_state_opens_its_categories_and_g1_the_licence_goes_with_office_365(
        consent, categories, licensed):
    assert {c for c in ServiceCategory if opens(consent, c)} == categories
    assert allows_learner_licence(consent) is licensed


@pytest.mark.parametrize("consent", [None, *Consent])
def test_a_learner_is_licensed_for_office_365_exactly_when_they_may_sign_in_to_a_legacy_service(consent):
    """Both readers of the table agree: no learner holds a licence for a service the IdP refuses them."""
    learner = replace(LEARNER, consent=consent)
    may_sign_in_to_office_365 = policy.may_reach(learner, ServiceCategory.LEGACY) is None
    licensed = desired_user(learner, False, SKUS).licence == SKUS.learner
    assert licensed is may_sign_in_to_office_365 is allows_learner_licence(consent)


def test_the_gate_takes_the_category_as_the_service_file_spells_it():
    """A service's category comes from its .toml as a plain string (idp/services.py)."""
    learner = replace(LEARNER, consent=Consent.LEGACY)
    assert policy.may_reach(learner, "legacy") is None
    assert policy.may_reach(learner, "additional") is policy.Refusal.NO_CONSENT


def test_staff_are_licensed_by_allocation_never_by_learner_consent():
    staff = replace(LEARNER, kind=AccountKind.STAFF, consent=Consent.EXPLICIT)
    assert desired_user(staff, False, SKUS).licence is None
    assert desired_user(staff, True, SKUS).licence == SKUS.staff
