"""The pure rules of second factors (issue 18 points 6-8): which sign-in a RequestedAuthnContext
asks for and what the Response says, TOTP codes accepted once, recovery codes, who must give a
factor and who may reset one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp import second_factor_rules as rules
from idp.authn_contexts import MICROSOFT_MULTIPLE_AUTHN, REFEDS_MFA, Need, answered_context, need
from webui.portal.permissions import PortalRole
from webui.portal.second_factor_policy import may_reset_second_factor, second_factor_required

PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
X509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 12, 12, 9, 0, 15, tzinfo=UTC)


@pytest.mark.parametrize(("requested", "comparison", "wanted"), [
    ((), "exact", Need.PASSWORD),
    ((PPT,), "exact", Need.PASSWORD),
    ((REFEDS_MFA,), "exact", Need.SECOND_FACTOR),
    ((MICROSOFT_MULTIPLE_AUTHN,), "minimum", Need.SECOND_FACTOR),  # what Entra sends
    ((PPT, REFEDS_MFA), "exact", Need.PASSWORD),
    ((PPT,), "better", Need.SECOND_FACTOR),
    ((PASSWORD,), "better", Need.PASSWORD),
    ((REFEDS_MFA,), "better", Need.UNMET),
    ((X509,), "exact", Need.UNMET),
    ((REFEDS_MFA,), "maximum", Need.PASSWORD),
])
def test_what_a_request_needs(requested, comparison, wanted):
    assert need(requested, comparison) is wanted


def test_the_response_names_the_mfa_class_asked_for_or_the_services_own():
    assert answered_context((REFEDS_MFA,), "exact", True, MICROSOFT_MULTIPLE_AUTHN) == REFEDS_MFA
    assert answered_context((), "exact", True, MICROSOFT_MULTIPLE_AUTHN) == MICROSOFT_MULTIPLE_AUTHN
    assert answered_context((), "exact", False, REFEDS_MFA) == PPT
    # An exact request for a password class gets that class, even after a second factor.
    assert answered_context((PPT,), "exact", True, REFEDS_MFA) == PPT
    assert answered_context((PASSWORD,), "exact", False, REFEDS_MFA) == PASSWORD
    assert answered_context((PPT,), "minimum", True, REFEDS_MFA) == REFEDS_MFA


def test_a_totp_code_is_accepted_in_its_step_and_the_next_and_never_again():
    step = rules.time_step(NOW)
    code = rules.totp_code(SECRET, step)
    assert rules.accepted_step(SECRET, code, NOW, None) == step
    assert rules.accepted_step(SECRET, code[:3] + " " + code[3:], NOW, None) == step  # as apps group it
    assert rules.accepted_step(SECRET, code, NOW, step) is None  # used once
    assert rules.accepted_step(SECRET, code, NOW + timedelta(seconds=30), None) == step  # a slow phone
    assert rules.accepted_step(SECRET, code, NOW + timedelta(seconds=90), None) is None  # too old
    assert rules.accepted_step(SECRET, "12345", NOW, None) is None


def test_recovery_codes_are_random_and_kept_as_a_keyed_hash_whatever_their_typing():
    codes = rules.new_recovery_codes(10)
    assert len(set(codes)) == 10 and all(len(c) == 14 and c.count("-") == 2 for c in codes)
    key = b"k" * 32
    assert rules.recovery_code_hash(key, codes[0]) == rules.recovery_code_hash(key, codes[0].upper().replace("-", " "))
    assert rules.recovery_code_hash(key, codes[0]) != rules.recovery_code_hash(b"j" * 32, codes[0])
    assert codes[0] not in rules.recovery_code_hash(key, codes[0])


def test_who_must_give_a_second_factor_and_who_may_reset_one():
    defaults = ("digital-champion", "la-administrator", "rec-administrator", "national-administrator")
    assert second_factor_required(PortalRole.DIGITAL_CHAMPION, defaults)
    assert not second_factor_required(PortalRole.SCHOOL_STAFF, defaults)
    assert not second_factor_required(PortalRole.DIGITAL_CHAMPION, ())
    assert may_reset_second_factor(PortalRole.LA_ADMINISTRATOR, PortalRole.DIGITAL_CHAMPION)
    assert may_reset_second_factor(PortalRole.DIGITAL_CHAMPION, PortalRole.SCHOOL_STAFF)
    assert not may_reset_second_factor(PortalRole.DIGITAL_CHAMPION, PortalRole.DIGITAL_CHAMPION)
    assert not may_reset_second_factor(PortalRole.DIGITAL_CHAMPION, PortalRole.LA_ADMINISTRATOR)
    assert not may_reset_second_factor(PortalRole.SCHOOL_STAFF, PortalRole.SECONDARY_LEARNER)
