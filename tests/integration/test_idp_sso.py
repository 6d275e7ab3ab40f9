"""SAML 2.0 Web Browser SSO (issue 4; SPEC S-1, S-2, C-2, A-6) against real
third-party service providers: python3-saml (strict) and pysaml2."""

from __future__ import annotations

import pytest

from directory.model import Consent
from tests.integration.conftest import learner, staff
from tests.integration.idp_fixtures import PASSWORD, porth  # noqa: F401 (fixture)
from tests.saml_services import OneLoginService, posted_form

MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
GIVEN_NAME = "urn:oid:2.5.4.42"
AFFILIATION = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"
RELEASE = 'category = "core"\nrelease = ["mail", "given_name", "affiliation", "username"]\n'


def onelogin(porth, name: str = "onelogin", policy: str = RELEASE, **options) -> OneLoginService:
    service = OneLoginService(entity_id=f"https://{name}.example/sp", idp_metadata=porth.metadata, **options)
    porth.register(name, service.metadata(), policy)
    return service


def test_a_learner_signs_in_to_a_strict_python3_saml_service(porth, store, now):
    account = store.add_account(learner(password=PASSWORD, consent=Consent.EXPLICIT), now)
    service = onelogin(porth)
    url, request_id = service.login_url()
    answer = porth.sign_in(url, "BloggsJ@hwbcymru.net")
    auth = service.accept(posted_form(answer.get_data(as_text=True)), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.is_authenticated()
    assert auth.get_attribute(MAIL) == [account.mail]
    assert auth.get_attribute(GIVEN_NAME) == ["Joe"]
    assert auth.get_attribute(AFFILIATION) == ["student", "member"]
    assert auth.get_nameid_format() == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert account.id not in auth.get_nameid() and account.username not in auth.get_nameid()
    assert auth.get_session_index()
