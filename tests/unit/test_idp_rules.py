"""The identity provider's pure rules: who may reach what (A-6, C-2), what is
released, how failures slow down and lock (S-3), and message decoding limits."""

from __future__ import annotations

import base64
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from directory.model import Account, AccountKind, AccountState, Consent, Role
from idp import bindings, policy, throttling
from idp.attributes import ATTRIBUTES, persistent_id, released
from idp.saml_xml import XmlRefused, parse

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEARNER = Account(id="a1", username="BloggsJ", kind=AccountKind.LEARNER, state=AccountState.ACTIVE,
                  surname="Bloggs", forename="Joe", display_name="Joe Bloggs", mail="BloggsJ@hwbcymru.net",
                  school="6612345", year_group="7")


@pytest.mark.parametrize(("consent", "core", "legacy", "additional"), [
    (None, True, False, False),
    (Consent.NOT_OBTAINED, True, False, False),
    (Consent.WITHDRAWN, True, False, False),
    (Consent.LEGACY, True, True, False),
    (Consent.EXPLICIT, True, True, True),
])
def test_c2_a_learners_consent_opens_service_categories(consent, core, legacy, additional):
    account = replace(LEARNER, consent=consent)
    reached = [policy.may_reach(account, category) is None for category in ("core", "legacy", "additional")]
    assert reached == [core, legacy, additional]


def test_c2_staff_are_not_held_by_learner_consent_and_a6_only_active_accounts_get_anywhere():
    staff = replace(LEARNER, kind=AccountKind.STAFF, consent=None)
    assert policy.may_reach(staff, "additional") is None
    for state in (AccountState.DEACTIVATED, AccountState.DELETED):
        assert policy.may_reach(replace(staff, state=state), "core") is policy.Refusal.NOT_ACTIVE
        assert policy.may_sign_in(replace(staff, state=state)) is policy.Refusal.NOT_ACTIVE


def test_only_the_released_attributes_with_values_are_sent():
    sent = released(replace(LEARNER, roles=frozenset({Role.DIGITAL_CHAMPION})),
                    ("mail", "year_group", "registration_group", "roles", "affiliation"))
    by_name = {a.friendly_name: a.values for a in sent}
    assert by_name == {"mail": ("BloggsJ@hwbcymru.net",), "porthYearGroup": ("7",),
                       "porthRole": ("digital-champion",), "eduPersonAffiliation": ("student", "member")}
    assert all(a.name.startswith("urn:oid:") and a.name_format.endswith(":uri") for a in sent)
    assert len({d.uri for d in ATTRIBUTES.values()}) == len(ATTRIBUTES)


def test_a_persistent_id_is_stable_opaque_and_different_per_service_and_key():
    one = persistent_id(b"k" * 32, "a1", "https://one.example")
    assert one == persistent_id(b"k" * 32, "a1", "https://one.example")
    assert one != persistent_id(b"k" * 32, "a1", "https://two.example")
    assert one != persistent_id(b"x" * 32, "a1", "https://one.example")
    assert one != persistent_id(b"k" * 32, "a2", "https://one.example")
    assert "a1" not in one and len(one) == 43


LIMITS = throttling.Limits(failures_before_delay=3, failures_before_lock=6, lock=timedelta(minutes=15))


def _fail(times: int, start: datetime = NOW, gap: timedelta = timedelta(seconds=120)):
    counter = None
    for n in range(times):
        counter = throttling.after_failure(counter, start + n * gap, LIMITS)
    return counter


def test_s3_failures_first_slow_down_then_lock():
    assert throttling.verdict(_fail(2), NOW + timedelta(seconds=241), LIMITS).wait_seconds == 0
    third = _fail(3)
    waiting = throttling.verdict(third, third.last_failure_at, LIMITS)
    assert waiting.wait_seconds >= 1 and not waiting.locked
    assert throttling.verdict(third, third.last_failure_at + timedelta(seconds=2), LIMITS).wait_seconds == 0
    fifth = _fail(5)
    assert throttling.verdict(fifth, fifth.last_failure_at + timedelta(seconds=3), LIMITS).wait_seconds > 0
    sixth = _fail(6)
    locked = throttling.verdict(sixth, sixth.last_failure_at + timedelta(minutes=14), LIMITS)
    assert locked.locked and 0 < locked.wait_seconds <= 60
    assert throttling.verdict(sixth, sixth.last_failure_at + timedelta(minutes=15), LIMITS) == throttling.Verdict()


def test_s3_a_quiet_period_forgives_old_failures():
    counter = _fail(5)
    later = counter.last_failure_at + timedelta(minutes=16)
    assert throttling.after_failure(counter, later, LIMITS).failures == 1


def test_the_delay_never_exceeds_a_minute_before_the_lock():
    limits = throttling.Limits(1, 100, timedelta(hours=1))
    counter = None
    for _ in range(40):
        counter = throttling.after_failure(counter, NOW, limits)
    assert throttling.verdict(counter, NOW, limits).wait_seconds == throttling.MAX_DELAY_SECONDS


def test_redirect_decoding_refuses_what_is_not_base64_deflate_or_inflates_too_far():
    small = base64.b64encode(zlib.compress(b"<a/>", 9)[2:-4]).decode()
    assert bindings.decode_redirect(small) == b"<a/>"
    with pytest.raises(bindings.BindingError, match="DEFLATE"):
        bindings.decode_redirect(base64.b64encode(b"not deflated at all").decode())
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"\0" * 10_000_000) + bomb.flush()
    with pytest.raises(bindings.BindingError, match="size limit"):
        bindings.decode_redirect(base64.b64encode(data).decode())
    with pytest.raises(bindings.BindingError, match="too large"):
        bindings.decode_redirect("A" * 100_000)


def test_the_redirect_signature_covers_the_raw_query_values_in_the_specified_order():
    raw = bindings.raw_query_values(b"SigAlg=alg%3A1&SAMLRequest=abc%2B&Signature=sig&RelayState=r%20s")
    assert bindings.redirect_signed_octets(raw, "SAMLRequest") == b"SAMLRequest=abc%2B&RelayState=r%20s&SigAlg=alg%3A1"
    assert bindings.redirect_signed_octets({"SAMLRequest": "x"}, "SAMLRequest") is None


@pytest.mark.parametrize(("document", "reason"), [
    (b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>', "DTD"),
    (b"<a><b></a>", "well-formed"),
    (b"<a>" + b"x" * 300_000 + b"</a>", "larger"),
])
def test_hostile_xml_is_refused_before_it_is_used(document, reason):
    with pytest.raises(XmlRefused, match=reason):
        parse(document)
