"""Issue 15 point 4: a Response never fails because of a value (saml2int v2.0 SDP-G02; SPEC S-1).

An account holding a value XML cannot carry (written before names were cleaned at the door, or by hand in
LDAP) made every sign-in to a service releasing it answer HTTP 500, and the error log carried the name.
Now such a value is left out of the Response, the sign-in succeeds, and the log names the account id and
the attribute only. Values over 256 characters are left out too (SDP-G02)."""

from __future__ import annotations

import logging

import pytest

from tests.integration.conftest import staff
from tests.integration.idp_fixtures import PASSWORD, porth  # noqa: F401 (fixture)
from tests.integration.test_idp_sso import answer_form, onelogin

SN = "urn:oid:2.5.4.4"
GIVEN_NAME = "urn:oid:2.5.4.42"
DISPLAY_NAME = "urn:oid:2.16.840.1.113730.3.1.241"
MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
RELEASE = 'category = "core"\nrelease = ["mail", "given_name", "surname", "display_name"]\n'


def sign_in(porth, caplog, username: str):
    service = onelogin(porth, policy=RELEASE)
    url, request_id = service.login_url()
    with caplog.at_level(logging.DEBUG):
        answer = porth.sign_in(url, username)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    auth = service.accept(answer_form(answer), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.is_authenticated()
    return auth


@pytest.mark.parametrize("bad", ["\x01", "\x1b", "\ufffe", "\uffff", "\x00"])
def test_a_name_xml_cannot_carry_is_left_out_and_the_sign_in_succeeds(porth, store, now, caplog, bad):
    surname = f"Jo{bad}nes"
    account = store.add_account(staff(surname, "Ann", password=PASSWORD), now)  # straight into LDAP
    assert store.get_account(account.id).surname == surname
    auth = sign_in(porth, caplog, "JonesA")
    assert auth.get_attribute(SN) is None and auth.get_attribute(DISPLAY_NAME) is None  # both hold the surname
    assert auth.get_attribute(GIVEN_NAME) == ["Ann"] and auth.get_attribute(MAIL) == [account.mail]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(account.id in w and " sn " in w for w in warnings), warnings
    assert any(account.id in w and "displayName" in w for w in warnings), warnings
    assert surname not in caplog.text and f"Ann {surname}" not in caplog.text and repr(surname)[1:-1] not in caplog.text


def test_a_value_over_256_characters_is_left_out_and_256_is_sent(porth, store, now, caplog):
    longest = "Ll" + "w" * 254  # 256 characters
    account = store.add_account(staff(longest, "Ann" + "a" * 297, password=PASSWORD), now)  # forename: 300
    username = store.get_account(account.id).username
    auth = sign_in(porth, caplog, username)
    assert auth.get_attribute(SN) == [longest]
    assert auth.get_attribute(GIVEN_NAME) is None
    assert auth.get_attribute(DISPLAY_NAME) is None  # "Ann... Llww...": 557 characters
    assert auth.get_attribute(MAIL) == [account.mail]
    assert any(account.id in r.getMessage() and "givenName" in r.getMessage() and "256" in r.getMessage()
               for r in caplog.records)
    assert "a" * 297 not in caplog.text


def test_a_refusal_quoting_a_long_request_value_stays_within_256_characters(porth, caplog):
    """SDP-G02 covers every string Porth writes: a StatusMessage quoting a 5,000-character Destination (and a
    forged line break in it) is cut, and the log line quotes it escaped, never a second, forged line."""
    import base64

    from lxml import etree

    from tests.integration.test_idp_sso import redirect_url_for, request_xml

    service = onelogin(porth, policy=RELEASE)
    url, _ = service.login_url()
    request = etree.fromstring(request_xml(url))
    request.set("Destination", "https://elsewhere.example/\nINFO forged line " + "x" * 5000)
    with caplog.at_level(logging.INFO):
        answer = porth.client.get(redirect_url_for(etree.tostring(request)).replace("http://localhost", ""))
    response = etree.fromstring(base64.b64decode(answer_form(answer).fields["SAMLResponse"]))
    [message] = response.iter("{urn:oasis:names:tc:SAML:2.0:protocol}StatusMessage")
    assert "is addressed to" in message.text and len(message.text) <= 256
    assert "\nINFO forged line" not in caplog.text and "x" * 200 not in caplog.text
