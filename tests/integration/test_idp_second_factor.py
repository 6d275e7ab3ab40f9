"""The IdP asks for a second factor after the password when a service asks for one (issue 18
points 6, 8, 9; SPEC S-3, R-7): an authenticator app's code (computed here, as the app would),
a recovery code used once, and what each refusal looks like; the Response's AuthnContextClassRef
says REFEDS MFA to a python3-saml service that asked for it, strict mode checking the Response."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from directory.model import Role
from idp import second_factor_rules
from idp.authn_contexts import MICROSOFT_MULTIPLE_AUTHN, REFEDS_MFA
from operational.audit import AuditFilter, events
from tests.integration.conftest import staff
from tests.integration.idp_fixtures import PASSWORD, Porth, make_porth
from tests.saml_services import OneLoginService, csrf_token, posted_form

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
WRONG_CODE_MESSAGE = "That code or security key is not right. Try again."
WRONG_RECOVERY_CODE_MESSAGE = ("That recovery code is not right, or it has been used already: each one works once. "
                               "Try another of your recovery codes.")


@pytest.fixture
def porth(slapd, store, tmp_path):
    made = make_porth(slapd, tmp_path, failures_before_delay=6)
    yield made
    made.app.extensions["porth.idp"].close()
    made.runtime.close()


def checks(porth: Porth):
    return porth.app.extensions["porth.idp"].second_factors


def with_app(porth: Porth, store, now, **fields):
    """A member of staff who has enrolled an authenticator app (its first code typed at enrolment)."""
    account = store.add_account(staff(password=PASSWORD, **fields), now)
    enrolled_at = datetime.now(UTC) - timedelta(minutes=5)
    code = second_factor_rules.totp_code(SECRET, second_factor_rules.time_step(enrolled_at))
    assert checks(porth).enrol_totp(account, "Phone", SECRET, code, enrolled_at) is not None
    return account


def mfa_service(porth: Porth, **options) -> OneLoginService:
    service = OneLoginService(entity_id="https://mfa.example/sp", idp_metadata=porth.metadata,
                              requested_contexts=(REFEDS_MFA,), **options)
    porth.register("mfa", service.metadata(), 'release = ["username"]\n')
    return service


def current_code(at: datetime | None = None) -> str:
    return second_factor_rules.totp_code(SECRET, second_factor_rules.time_step(at or datetime.now(UTC)))


def post_second_factor(porth: Porth, page, **fields):
    text = page.get_data(as_text=True)
    pending = re.search(r'name="pending" value="([^"]+)"', text).group(1)
    return porth.client.post("/idp/second-factor", data={"csrf_token": csrf_token(text), "pending": pending,
                                                         "method": "code", **fields})


def error_of(page) -> str:
    found = re.search(r'id="second-factor-error">([^<]+)<', page.get_data(as_text=True))
    return found.group(1).strip() if found else ""


def test_a_service_asking_for_refeds_mfa_gets_it_after_the_password_and_the_app_code(porth, store, now):
    with_app(porth, store, now)
    service = mfa_service(porth)
    url, request_id = service.login_url()
    page = porth.sign_in(url, "JonesA")
    assert posted_form(page.get_data(as_text=True)) is None, "the password alone is not enough"
    assert "Code from your authenticator app" in page.get_data(as_text=True)

    answer = post_second_factor(porth, page, code=current_code())
    auth = service.accept(posted_form(answer.get_data(as_text=True)), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_last_authn_contexts() == [REFEDS_MFA]

    # Single sign-on carries the second factor: the next request for MFA is answered at once.
    url, request_id = service.login_url()
    again = porth.sign_in(url, "JonesA")
    auth = service.accept(posted_form(again.get_data(as_text=True)), request_id)
    assert auth.get_errors() == [] and auth.get_last_authn_contexts() == [REFEDS_MFA]


def test_a_code_used_once_wrong_codes_and_a_bad_recovery_code_get_one_message_and_are_audited(porth, store, now):
    account = with_app(porth, store, now)
    service = mfa_service(porth)
    url, _ = service.login_url()
    page = porth.sign_in(url, "JonesA")
    code = current_code()
    assert posted_form(post_second_factor(porth, page, code=code).get_data(as_text=True)) is not None

    # The same code again, within its 30 seconds (another browser: no session with a factor).
    porth.client = porth.app.test_client()
    url, _ = service.login_url()
    page = porth.sign_in(url, "JonesA")
    reused = post_second_factor(porth, page, code=code)
    wrong = post_second_factor(porth, page, code="000000" if code != "000000" else "111111")
    bad_recovery = post_second_factor(porth, page, method="recovery-code", recovery_code="abcd-efgh-jkmn")
    for refused, message in ((reused, WRONG_CODE_MESSAGE), (wrong, WRONG_CODE_MESSAGE),
                             (bad_recovery, WRONG_RECOVERY_CODE_MESSAGE)):
        assert refused.status_code == 400
        assert posted_form(refused.get_data(as_text=True)) is None
        assert error_of(refused) == message
    audited = events(porth.runtime.db, AuditFilter(target_id=account.id))
    assert [e.action for _, e in audited].count("second-factor-refused") == 3
    assert [e.action for _, e in audited].count("second-factor-used") == 1
    assert all(e.outcome == "refused" for _, e in audited if e.action == "second-factor-refused")


def test_wrong_codes_are_throttled_with_the_passwords_counter(slapd, store, tmp_path, now):
    porth = make_porth(slapd, tmp_path, failures_before_delay=2, failures_before_lock=4)
    try:
        with_app(porth, store, now)
        service = mfa_service(porth)
        url, _ = service.login_url()
        page = porth.sign_in(url, "JonesA")
        statuses = [post_second_factor(porth, page, code="999999").status_code for _ in range(3)]
        assert statuses[:2] == [400, 400]
        assert statuses[2] == 429, "the third wrong code in a row waits, as a third wrong password does"
        # Even the right code waits while the counter says so.
        assert post_second_factor(porth, page, code=current_code()).status_code == 429
    finally:
        porth.app.extensions["porth.idp"].close()
        porth.runtime.close()


def test_a_recovery_code_works_once(porth, store, now):
    account = with_app(porth, store, now)
    codes = checks(porth).new_recovery_codes(account, now)
    service = mfa_service(porth)
    url, request_id = service.login_url()
    page = porth.sign_in(url, "JonesA")
    answer = post_second_factor(porth, page, method="recovery-code", recovery_code=codes[0].upper().replace("-", " "))
    auth = service.accept(posted_form(answer.get_data(as_text=True)), request_id)
    assert auth.get_errors() == [] and auth.get_last_authn_contexts() == [REFEDS_MFA]
    assert checks(porth).store.recovery_codes_left(account.id) == len(codes) - 1

    porth.client = porth.app.test_client()
    url, _ = service.login_url()
    page = porth.sign_in(url, "JonesA")
    # Used already: refused as a wrong one is (nothing says which), on the recovery code's own field,
    # its section kept open, saying what to do next.
    again = post_second_factor(porth, page, method="recovery-code", recovery_code=codes[0])
    assert again.status_code == 400 and error_of(again) == WRONG_RECOVERY_CODE_MESSAGE
    shown = again.get_data(as_text=True)
    assert 'href="#recovery_code" id="second-factor-error"' in shown
    assert re.search(r'<details class="govuk-details" id="recovery" open>', shown), "the section stays open"
    assert 'id="recovery-code-error"' in shown and 'id="code-error"' not in shown
    assert re.search(r'id="recovery_code"[^>]*aria-describedby="recovery-hint recovery-code-error"[^>]*autofocus',
                     shown)
    wrong_app_code = post_second_factor(porth, again, code="12345")
    assert error_of(wrong_app_code) == WRONG_CODE_MESSAGE and 'id="code-error"' in wrong_app_code.get_data(
        as_text=True) and '<details class="govuk-details" id="recovery">' in wrong_app_code.get_data(as_text=True)
    actions = [e.action for _, e in events(porth.runtime.db, AuditFilter(target_id=account.id))]
    assert actions.count("recovery-code-used") == 1


def test_an_account_with_no_second_factor_is_answered_no_authn_context(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    service = mfa_service(porth)
    url, _ = service.login_url()
    answer = porth.sign_in(url, "JonesA")
    response = etree.fromstring(base64.b64decode(posted_form(answer.get_data(as_text=True)).fields["SAMLResponse"]))
    assert [c.get("Value").rsplit(":", 1)[-1] for c in response.iter(f"{{{SAMLP}}}StatusCode")] == \
        ["Requester", "NoAuthnContext"]


def test_a_service_that_does_not_ask_is_not_asked_for_and_is_told_password(porth, store, now):
    with_app(porth, store, now)
    service = OneLoginService(entity_id="https://plain.example/sp", idp_metadata=porth.metadata)
    porth.register("plain", service.metadata(), 'release = ["username"]\n')
    url, request_id = service.login_url()
    answer = porth.sign_in(url, "JonesA")
    auth = service.accept(posted_form(answer.get_data(as_text=True)), request_id)
    assert auth.get_errors() == [] and auth.get_last_authn_contexts() == [PPT]


def test_an_entra_request_for_multipleauthn_is_asked_the_factor_and_told_multipleauthn(porth, store, now):
    """Entra with federatedIdpMfaBehavior=enforceMfaByFederatedIdp asks for Microsoft's multipleauthn;
    Office 365's policy (config/services/office365.toml) names it for any sign-in with a factor."""
    from tests.integration.test_idp_entra import answer_form, entra_request, register_office365, send

    teacher = with_app(porth, store, now)
    entra = register_office365(porth)
    request_id, document = entra_request()
    asking = document.replace(b"</samlp:AuthnRequest>", (
        b'<samlp:RequestedAuthnContext Comparison="minimum"><AuthnContextClassRef xmlns="'
        b'urn:oasis:names:tc:SAML:2.0:assertion">' + MICROSOFT_MULTIPLE_AUTHN.encode()
        + b"</AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"))
    page = porth.submit(send(porth, "post", asking), "JonesA@hwbcymru.net")
    assert posted_form(page.get_data(as_text=True)) is None and "Office 365" in page.get_data(as_text=True)
    auth = entra.accept(answer_form(post_second_factor(porth, page, code=current_code())), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_nameid() == teacher.id and auth.get_last_authn_contexts() == [MICROSOFT_MULTIPLE_AUTHN]

    # Entra's plain request in the same session: the sign-in still had a second factor, and says so.
    request_id, document = entra_request()
    again = entra.accept(answer_form(send(porth, "redirect", document)), request_id)
    assert again.get_errors() == [] and again.get_last_authn_contexts() == [MICROSOFT_MULTIPLE_AUTHN]


def test_a_security_keys_answer_from_another_origin_or_with_a_counter_gone_back_is_refused(porth, store, now):
    """What a browser never sends, a phishing page's relay or a cloned key can: refused with the same
    message as a wrong code, throttled and audited; the key's own answer signs in with REFEDS MFA."""
    from tests.soft_authenticator import SoftAuthenticator

    account = store.add_account(staff(password=PASSWORD), now)
    key = SoftAuthenticator(rp_id="localhost", origin="http://localhost")
    options, challenge = checks(porth).registration_options(account)
    assert checks(porth).enrol_security_key(account, "Blue key", key.register(options), challenge, now)
    service = mfa_service(porth)
    url, request_id = service.login_url()
    page = porth.sign_in(url, "JonesA")

    def answer(page, **how):
        options = re.search(r"data-webauthn-options>([^<]+)</script>", page.get_data(as_text=True)).group(1)
        return post_second_factor(porth, page, method="security-key", credential=key.answer(options, **how))

    elsewhere = answer(page, origin="https://porth-login.example")
    assert elsewhere.status_code == 400 and error_of(elsewhere) == WRONG_CODE_MESSAGE
    first = answer(elsewhere, count=5)
    auth = service.accept(posted_form(first.get_data(as_text=True)), request_id)
    assert auth.get_errors() == [] and auth.get_last_authn_contexts() == [REFEDS_MFA]

    porth.client = porth.app.test_client()
    url, _ = service.login_url()
    page = porth.sign_in(url, "JonesA")
    gone_back = answer(page, count=3)  # a clone of the key, behind the real one's counter
    assert gone_back.status_code == 400 and error_of(gone_back) == WRONG_CODE_MESSAGE
    refused = [e for _, e in events(porth.runtime.db, AuditFilter(target_id=account.id))
               if e.action == "second-factor-refused"]
    assert len(refused) == 2 and all(e.detail == {"method": "security-key"} for e in refused)


@pytest.mark.parametrize(("roles", "asked", "not_asked"), [
    (frozenset(), "your local authority’s Hwb administrator, or your school’s digital champion", None),
    (frozenset({Role.DIGITAL_CHAMPION}), "Ask your local authority’s Hwb administrator to reset", "digital champion"),
    (frozenset({Role.LA_ADMINISTRATOR}), ("Ask your regional consortium’s Hwb administrator, or a national "
     "administrator"), "digital champion"),
    (frozenset({Role.REC_ADMINISTRATOR}), "Ask a national administrator", "digital champion"),
])
def test_the_help_for_a_lost_factor_names_whoever_is_above_the_person(porth, store, now, roles, asked, not_asked):
    """A digital champion is never told to ask their school's digital champion: themselves."""
    with_app(porth, store, now, roles=roles)
    url, _ = mfa_service(porth).login_url()
    help_text = re.search(r'id="who-resets">([^<]+)<', porth.sign_in(url, "JonesA").get_data(as_text=True)).group(1)
    assert asked in help_text
    assert not_asked is None or not_asked not in help_text
