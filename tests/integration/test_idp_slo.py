"""Single Logout that only the right party can trigger (issue 15 point 2; saml2int SDP-IDP26; SPEC S-1).

Each forged LogoutRequest is tried by HTTP-Redirect and by HTTP-POST, as a page on any site could
send it through a signed-in browser: the session must stay (the service's next AuthnRequest is
answered without the password form) and the service that asked must hear RequestDenied in a
LogoutResponse signed by Porth, not a silent sign-out. Real SPs (python3-saml, pysaml2) still sign
out end to end. Also point 8: a service's LogoutResponse that fails its checks (SHA-1, bad
signature) makes the logout partial instead of stopping on the problem page.
"""

from __future__ import annotations

import base64
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from tests.integration.conftest import staff
from tests.integration.idp_fixtures import PASSWORD, porth  # noqa: F401 (fixture)
from tests.saml_services import RSA_SHA256, OneLoginService, csrf_token, key_and_certificate, path_of, posted_form

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
REDIRECT_ENDPOINT = "http://localhost/idp/slo/redirect"
POST_ENDPOINT = "http://localhost/idp/slo/post"
BINDINGS = ["redirect", "post"]


# -- the parties --------------------------------------------------------------------------------------
@dataclass
class SignedIn:
    service: OneLoginService
    name_id: str
    session_index: str


def onelogin(porth, name: str = "onelogin") -> OneLoginService:
    service = OneLoginService(entity_id=f"https://{name}.example/sp", idp_metadata=porth.metadata,
                              base=f"https://{name}.example")
    porth.register(name, service.metadata(), 'category = "core"\nrelease = ["username"]\n')
    return service


def sign_in(porth, service: OneLoginService, username: str = "JonesA") -> SignedIn:
    url, request_id = service.login_url()
    auth = service.accept(posted_form(porth.sign_in(url, username).get_data(as_text=True)), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    return SignedIn(service, auth.get_nameid(), auth.get_session_index())


def still_signed_in(porth, service: OneLoginService) -> bool:
    """The browser's single sign-on session is alive: the next AuthnRequest gets a Response, no form."""
    url, _ = service.login_url()
    page = porth.follow(porth.client.get(path_of(url))).get_data(as_text=True)
    return posted_form(page) is not None and 'name="password"' not in page


KEYLESS_METADATA = b"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    entityID="https://keyless.example/sp">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://keyless.example/slo"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="https://keyless.example/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def keyless_sign_in(porth, username: str = "JonesA") -> tuple[str, str]:
    """A service registered without signing keys signs in (unsigned AuthnRequest): its NameID and SessionIndex."""
    # Persistent: a transient NameID (the default) is new in every assertion, and the check below
    # signs in again between the forged requests.
    porth.register("keyless", KEYLESS_METADATA, 'category = "core"\nname_id = "persistent"\n')
    document = (f'<samlp:AuthnRequest xmlns:samlp="{SAMLP}" ID="_{uuid.uuid4().hex}" Version="2.0" '
                f'IssueInstant="{stamp(datetime.now(UTC))}" Destination="http://localhost/idp/sso/redirect" '
                f'AssertionConsumerServiceURL="https://keyless.example/acs">'
                f'<saml:Issuer xmlns:saml="{SAML}">https://keyless.example/sp</saml:Issuer>'
                f'</samlp:AuthnRequest>').encode()
    answer = porth.sign_in(f"/idp/sso/redirect?SAMLRequest={quote(deflated(document), safe='')}", username)
    response = etree.fromstring(base64.b64decode(posted_form(answer.get_data(as_text=True)).fields["SAMLResponse"]))
    name_id = response.findtext(f".//{{{SAML}}}Subject/{{{SAML}}}NameID")
    session_index = response.find(f".//{{{SAML}}}AuthnStatement").get("SessionIndex")
    return name_id, session_index


def keyless_still_signed_in(porth) -> bool:
    document = (f'<samlp:AuthnRequest xmlns:samlp="{SAMLP}" ID="_{uuid.uuid4().hex}" Version="2.0" '
                f'IssueInstant="{stamp(datetime.now(UTC))}">'
                f'<saml:Issuer xmlns:saml="{SAML}">https://keyless.example/sp</saml:Issuer></samlp:AuthnRequest>').encode()
    page = porth.follow(porth.client.get(f"/idp/sso/redirect?SAMLRequest={quote(deflated(document), safe='')}"))
    text = page.get_data(as_text=True)
    return posted_form(text) is not None and 'name="password"' not in text


# -- messages, as an attacker (or a service) writes them ----------------------------------------------
def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def deflated(document: bytes) -> str:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(deflater.compress(document) + deflater.flush()).decode()


def logout_request(issuer: str, name_id: str, session_index: str | None, destination: str | None,
                   issued: datetime | None = None, request_id: str | None = None) -> bytes:
    return (f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" '
            f'ID="{request_id or "_" + uuid.uuid4().hex}" Version="2.0" '
            f'IssueInstant="{stamp(issued or datetime.now(UTC))}"'
            + (f' Destination="{destination}"' if destination else "") + ">"
            f"<saml:Issuer>{issuer}</saml:Issuer>"
            f'<saml:NameID Format="{PERSISTENT}">{name_id}</saml:NameID>'
            + (f"<samlp:SessionIndex>{session_index}</samlp:SessionIndex>" if session_index else "")
            + "</samlp:LogoutRequest>").encode()


def redirect_signature(query: str, key_pem: str | None, sig_alg: str = RSA_SHA256) -> str:
    """saml-bindings 3.4.4.1: the service's signature over `SAMLRequest=..&SigAlg=..`."""
    if key_pem is None:
        return query
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    signed = f"{query}&SigAlg={quote(sig_alg, safe='')}"
    digest = hashes.SHA1() if sig_alg == RSA_SHA1 else hashes.SHA256()  # noqa: S303 - the SHA-1 Porth must refuse
    signature = key.sign(signed.encode(), padding.PKCS1v15(), digest)
    return f"{signed}&Signature={quote(base64.b64encode(signature).decode(), safe='')}"


def enveloped(document: bytes, service: OneLoginService) -> bytes:
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    from tests.saml_services import SHA256

    return OneLogin_Saml2_Utils.add_sign(document.decode(), service.key, service.certificate,
                                         sign_algorithm=RSA_SHA256, digest_algorithm=SHA256)


def send(porth, binding: str, document: bytes, signer: OneLoginService | None, relay_state: str = "back"):
    """The browser carrying a LogoutRequest to Porth (signed by `signer`'s key, or not), to Porth's answer."""
    if binding == "redirect":
        query = f"SAMLRequest={quote(deflated(document), safe='')}&RelayState={relay_state}"
        return porth.client.get(f"/idp/slo/redirect?{redirect_signature(query, signer.key if signer else None)}")
    body = enveloped(document, signer) if signer else document
    carried = porth.client.post("/idp/slo/post", data={"SAMLRequest": base64.b64encode(body).decode(),
                                                       "RelayState": relay_state})
    if carried.status_code == 303 and "/idp/slo/continue" in carried.headers["Location"]:
        return porth.client.get(path_of(carried.headers["Location"]))
    return carried


def endpoint(binding: str) -> str:
    return REDIRECT_ENDPOINT if binding == "redirect" else POST_ENDPOINT


def answered_status(answer, slo_url: str) -> list[str]:
    """The status codes (outermost first) of the LogoutResponse Porth sent the service by Redirect."""
    assert answer.status_code == 303, answer.get_data(as_text=True)[:1500]
    location = answer.headers["Location"]
    assert location.startswith(slo_url + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert "Signature" in query  # Porth signs its answer (Redirect binding: the query string)
    response = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLResponse"][0]), -15))
    assert etree.QName(response).localname == "LogoutResponse"
    return [code.get("Value").rsplit(":", 1)[-1] for code in response.iter(f"{{{SAMLP}}}StatusCode")]


def denied(answer, slo_url: str) -> bool:
    codes = answered_status(answer, slo_url)
    return codes[0] != "Success" and codes[-1] == "RequestDenied"


# -- forged LogoutRequests leave the session alive -------------------------------------------------------
@pytest.mark.parametrize("binding", BINDINGS)
def test_an_unsigned_logout_request_from_a_service_with_keys_is_refused(porth, store, now, binding):
    store.add_account(staff(password=PASSWORD), now)
    signed_in = sign_in(porth, onelogin(porth))
    forged = logout_request(signed_in.service.entity_id, signed_in.name_id, signed_in.session_index,
                            endpoint(binding))
    assert denied(send(porth, binding, forged, signer=None), "https://onelogin.example/sls")
    assert still_signed_in(porth, signed_in.service)


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_logout_request_naming_another_persons_name_id_is_refused(porth, store, now, binding):
    store.add_account(staff(password=PASSWORD), now)
    signed_in = sign_in(porth, onelogin(porth))
    # Signed by the service itself, but naming someone else: not this browser's person.
    forged = logout_request(signed_in.service.entity_id, "someone-else", signed_in.session_index,
                            endpoint(binding))
    assert denied(send(porth, binding, forged, signer=signed_in.service), "https://onelogin.example/sls")
    assert still_signed_in(porth, signed_in.service)


@pytest.mark.parametrize("binding", BINDINGS)
def test_an_unsigned_request_from_a_keyless_service_needs_the_exact_name_id_and_session_index(
        porth, store, now, binding):
    store.add_account(staff(password=PASSWORD), now)
    name_id, session_index = keyless_sign_in(porth)
    for wrong_name, wrong_index in ((name_id + "x", session_index), (name_id, "_" + "0" * 32), (name_id, None)):
        forged = logout_request("https://keyless.example/sp", wrong_name, wrong_index, endpoint(binding))
        assert denied(send(porth, binding, forged, signer=None), "https://keyless.example/slo")
        assert keyless_still_signed_in(porth)
    # The right ones (the service's own unsigned request): signed out, and told Success.
    right = logout_request("https://keyless.example/sp", name_id, session_index, endpoint(binding))
    assert answered_status(send(porth, binding, right, signer=None), "https://keyless.example/slo") == ["Success"]
    assert not keyless_still_signed_in(porth)


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_stale_logout_request_is_refused(porth, store, now, binding):
    store.add_account(staff(password=PASSWORD), now)
    signed_in = sign_in(porth, onelogin(porth))
    for issued in (datetime(2001, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(hours=1)):
        forged = logout_request(signed_in.service.entity_id, signed_in.name_id, signed_in.session_index,
                                endpoint(binding), issued=issued)
        assert denied(send(porth, binding, forged, signer=signed_in.service), "https://onelogin.example/sls")
        assert still_signed_in(porth, signed_in.service)


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_logout_request_addressed_elsewhere_or_to_no_one_is_refused(porth, store, now, binding):
    store.add_account(staff(password=PASSWORD), now)
    signed_in = sign_in(porth, onelogin(porth))
    other_endpoint = POST_ENDPOINT if binding == "redirect" else REDIRECT_ENDPOINT
    for destination in ("https://evil.example/idp/slo", other_endpoint, None):
        forged = logout_request(signed_in.service.entity_id, signed_in.name_id, signed_in.session_index,
                                destination)
        assert denied(send(porth, binding, forged, signer=signed_in.service), "https://onelogin.example/sls")
        assert still_signed_in(porth, signed_in.service)


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_replayed_logout_request_is_refused(porth, store, now, binding):
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    signed_in = sign_in(porth, service)
    request_id = f"_{uuid.uuid4().hex}"
    first = logout_request(service.entity_id, signed_in.name_id, signed_in.session_index, endpoint(binding),
                           request_id=request_id)
    assert answered_status(send(porth, binding, first, signer=service), "https://onelogin.example/sls") == ["Success"]
    again = sign_in(porth, service)  # signed in again: the same persistent NameID, a new session
    replayed = logout_request(service.entity_id, again.name_id, again.session_index, endpoint(binding),
                              request_id=request_id)
    assert denied(send(porth, binding, replayed, signer=service), "https://onelogin.example/sls")
    assert still_signed_in(porth, service)


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_logout_request_from_a_service_not_used_in_the_session_is_refused(porth, store, now, binding):
    store.add_account(staff(password=PASSWORD), now)
    used, never_used = onelogin(porth, "used"), onelogin(porth, "unused")
    signed_in = sign_in(porth, used)
    # Signed by a registered service the person never went to in this browser, naming them as `used` knows them.
    forged = logout_request(never_used.entity_id, signed_in.name_id, signed_in.session_index, endpoint(binding))
    assert denied(send(porth, binding, forged, signer=never_used), "https://unused.example/sls")
    assert still_signed_in(porth, used)


def test_a_continuation_token_of_a_posted_logout_request_works_once(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    signed_in = sign_in(porth, service)
    document = enveloped(logout_request(service.entity_id, signed_in.name_id, signed_in.session_index,
                                        POST_ENDPOINT), service)
    carried = porth.client.post("/idp/slo/post", data={"SAMLRequest": base64.b64encode(document).decode()})
    continuation = path_of(carried.headers["Location"])
    assert answered_status(porth.client.get(continuation), "https://onelogin.example/sls") == ["Success"]
    again = sign_in(porth, service)
    assert again.session_index != signed_in.session_index
    assert porth.client.get(continuation).status_code == 400  # used: a page, nothing signed out
    assert still_signed_in(porth, service)


# -- the right party still signs out ------------------------------------------------------------------------
def test_python3_saml_signs_out_by_redirect_and_is_answered_success(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    signed_in = sign_in(porth, service)
    answer = porth.client.get(path_of(service.logout_url(signed_in.name_id, signed_in.session_index)))
    slo, _ = service.accept_logout(answer.headers["Location"])
    assert slo.get_errors() == [], slo.get_last_error_reason()
    assert not still_signed_in(porth, service)


def test_pysaml2_signs_out_with_its_own_signed_logout_request(porth, store, now, tmp_path):
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

    from tests.saml_services import PySaml2Service

    store.add_account(staff(password=PASSWORD), now)
    service = PySaml2Service("https://pysaml2.example/sp", porth.metadata, tmp_path, binding=BINDING_HTTP_REDIRECT)
    porth.register("pysaml2", service.metadata(), 'category = "core"\nrelease = ["username"]\n')
    request_id, url = service.login()
    authn = service.accept(posted_form(porth.sign_in(url, "JonesA").get_data(as_text=True)), request_id)
    asked = service.client.global_logout(authn.name_id, reason="user", sign=True, sign_alg=SIG_RSA_SHA256,
                                         digest_alg=DIGEST_SHA256)
    (binding, http_args), = asked.values()
    if binding == BINDING_HTTP_REDIRECT:
        answer = porth.client.get(path_of(dict(http_args["headers"])["Location"]))
    else:  # HTTP-POST: the auto-posted form pysaml2 wrote
        form = _pysaml2_form(http_args["data"])
        carried = porth.client.post(path_of(form.action), data=form.fields)
        answer = porth.client.get(path_of(carried.headers["Location"]))
    assert answered_status(answer, "https://pysaml2-sp.example/slo") == ["Success"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
    done = service.client.parse_logout_request_response(query["SAMLResponse"], BINDING_HTTP_REDIRECT)
    assert done.status_ok()
    _, second_url = service.login()
    assert 'name="password"' in porth.follow(porth.client.get(path_of(second_url))).get_data(as_text=True)


def _pysaml2_form(page: str):
    import html
    import re

    from tests.saml_services import PostedForm

    action = html.unescape(re.search(r'action="([^"]+)"', page).group(1))
    fields = {n: html.unescape(v) for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}
    return PostedForm(action, fields)


# -- a failing LogoutResponse: partial logout, not an error page (point 8) ---------------------------------
def _logout_step(porth, location: str, expected_slo: str) -> tuple[str, str]:
    """Porth's LogoutRequest to a service (Redirect): its ID, and the RelayState to keep."""
    assert location.startswith(expected_slo + "?"), location
    query = parse_qs(urlsplit(location).query)
    request = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15))
    return request.get("ID"), query.get("RelayState", [""])[0]


def logout_response(service: OneLoginService, in_response_to: str, sig_alg: str = RSA_SHA256,
                    status: str = "urn:oasis:names:tc:SAML:2.0:status:Success", key: str | None = None) -> str:
    document = (f'<samlp:LogoutResponse xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_{uuid.uuid4().hex}" '
                f'Version="2.0" IssueInstant="{stamp(datetime.now(UTC))}" Destination="{REDIRECT_ENDPOINT}" '
                f'InResponseTo="{in_response_to}"><saml:Issuer>{service.entity_id}</saml:Issuer>'
                f'<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>').encode()
    query = f"SAMLResponse={quote(deflated(document), safe='')}"
    return "/idp/slo/redirect?" + redirect_signature(query, key or service.key, sig_alg)


def _sign_out_at_porth_with_one_service(porth, store, now):
    """A person signed in to one service signs out at Porth: Porth's LogoutRequest to it is under way."""
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    sign_in(porth, service)
    page = porth.client.get("/idp/logout")
    asked = porth.client.post("/idp/logout", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    request_id, _ = _logout_step(porth, asked.headers["Location"], "https://onelogin.example/sls")
    return service, request_id


@pytest.mark.parametrize("flaw", ["sha1", "bad signature", "unsigned"])
def test_a_failing_logout_response_ends_on_the_partial_signed_out_page(porth, store, now, flaw):
    service, request_id = _sign_out_at_porth_with_one_service(porth, store, now)
    if flaw == "sha1":
        answer_url = logout_response(service, request_id, sig_alg=RSA_SHA1)
    elif flaw == "bad signature":  # signed with a key the service's metadata does not hold
        answer_url = logout_response(service, request_id, key=key_and_certificate("impostor")[0])
    else:
        answer_url = logout_response(service, request_id).split("&SigAlg=")[0]
    done = porth.client.get(answer_url)
    text = done.get_data(as_text=True)
    assert done.status_code == 200, text[:1500]
    assert "You have signed out" in text and "some services may still be signed in" in text
    assert "Sorry, there is a problem" not in text
    assert not still_signed_in(porth, service)


def test_a_good_logout_response_ends_on_the_plain_signed_out_page(porth, store, now):
    service, request_id = _sign_out_at_porth_with_one_service(porth, store, now)
    text = porth.client.get(logout_response(service, request_id)).get_data(as_text=True)
    assert "You have signed out" in text and "may still be signed in" not in text


def test_the_service_that_asked_hears_partial_logout_when_another_could_not_sign_out(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    first, second = onelogin(porth, "first"), onelogin(porth, "second")
    signed_in = sign_in(porth, first)
    sign_in(porth, second)
    asked = porth.client.get(path_of(first.logout_url(signed_in.name_id, signed_in.session_index)))
    request_id, _ = _logout_step(porth, asked.headers["Location"], "https://second.example/sls")
    answer = porth.client.get(logout_response(second, request_id, sig_alg=RSA_SHA1))  # second's answer fails
    assert answered_status(answer, "https://first.example/sls") == ["Responder", "PartialLogout"]
    slo, _ = first.accept_logout(answer.headers["Location"])
    assert slo.get_errors() == ["logout_not_success"]  # signed and valid, saying: not everywhere
    assert not still_signed_in(porth, first)


def test_a_logout_response_nobody_waits_for_changes_nothing(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    sign_in(porth, service)
    stray = porth.client.get(logout_response(service, "_never-sent"))
    assert stray.status_code == 303 and stray.headers["Location"].endswith("/idp/logout")
    assert still_signed_in(porth, service)


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_policy_taking_unsigned_requests_still_binds_them_to_the_session(porth, store, now, binding):
    """`accept_unsigned_logout_requests` (shipped for Office 365): unsigned, but only session-bound."""
    store.add_account(staff(password=PASSWORD), now)
    service = OneLoginService(entity_id="https://unsigning.example/sp", idp_metadata=porth.metadata,
                              base="https://unsigning.example")
    porth.register("unsigning", service.metadata(),
                   'category = "core"\nrelease = ["username"]\naccept_unsigned_logout_requests = true\n')
    signed_in = sign_in(porth, service)
    forged = logout_request(service.entity_id, signed_in.name_id, "_" + "0" * 32, endpoint(binding))
    assert denied(send(porth, binding, forged, signer=None), "https://unsigning.example/sls")
    assert still_signed_in(porth, service)
    right = logout_request(service.entity_id, signed_in.name_id, signed_in.session_index, endpoint(binding))
    assert answered_status(send(porth, binding, right, signer=None), "https://unsigning.example/sls") == ["Success"]
    assert not still_signed_in(porth, service)
