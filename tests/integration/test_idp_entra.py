"""An Entra-shaped sign-in to Office 365 on a real slapd (issue 14 point 7; SPEC S-1, C-2, G-1..G-3).

Microsoft's federation metadata is registered as published (config/services/office365.xml with its
policy), Microsoft's sample AuthnRequest is sent by HTTP-POST and by HTTP-Redirect, the person signs
in through the form, and the Response is validated the way Entra's page ("Use a SAML 2.0 Identity
Provider (IdP) for Single Sign On", how-to-connect-fed-saml-idp) requires, by python3-saml in strict
mode standing in for Entra: the NameID, persistent, equals the onPremisesImmutableId the Graph sync
wrote for the account in the (fake) tenant, IDPEmail equals that cloud user's userPrincipalName, the
assertion is signed, the Audience is urn:federation:MicrosoftOnline and Destination and Recipient
are login.srf. Signing out by Redirect, as Entra does, is answered with a signed LogoutResponse.
"""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from lxml import etree
from signxml import XMLVerifier

from connectors.graph.client import GraphClient, WritePacer
from connectors.graph.desired import Skus
from connectors.graph.sync import TenantSync
from connectors.graph.tokens import LocalAuthority, TokenSource
from demo.fake_graph import FACULTY_SKU, STUDENT_SKU, FakeGraph
from directory.model import Consent
from idp import bindings
from tests.integration.conftest import learner, staff
from tests.integration.idp_fixtures import PASSWORD, porth  # noqa: F401 (fixture)
from tests.saml_services import posted_form

SHIPPED = Path(__file__).parents[2] / "config" / "services"
ENTRA = "urn:federation:MicrosoftOnline"
LOGIN_SRF = "https://login.microsoftonline.com/login.srf"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}

# Microsoft's sample request, verbatim (how-to-connect-fed-saml-idp, "Sample SAML request and response
# messages"): no AssertionConsumerServiceURL, no Destination, NameIDPolicy persistent. Each send gets a
# fresh ID and IssueInstant, as each of Entra's requests has.
ENTRA_SAMPLE_REQUEST = (
    '<samlp:AuthnRequest ID="_1e089e5c-a976-4881-af74-3b92c89e7e2c" Version="2.0" '
    'IssueInstant="2024-03-12T14:00:18.450Z" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">'
    '<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer>'
    '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>')


def entra_request() -> tuple[str, bytes]:
    request_id = f"_{uuid.uuid4()}"
    issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return request_id, (ENTRA_SAMPLE_REQUEST.replace("_1e089e5c-a976-4881-af74-3b92c89e7e2c", request_id)
                        .replace("2024-03-12T14:00:18.450Z", issued)).encode()


def cloud_users(store, db, *accounts) -> dict[str, dict]:
    """Sync the directory to a fake tenant (as tests/integration/test_graph_sync.py does) and
    return each account's cloud user as the tenant holds it."""
    with FakeGraph() as fake:
        tokens = TokenSource(fake.settings.client_id, fake.settings.client_secret, fake.authority,
                             LocalAuthority(fake.login_url, fake.url))
        with GraphClient(fake.graph_url, tokens, sleep=lambda _s: None, rng=random.Random(2),
                         pacer=WritePacer(100_000, 1.0)) as graph:
            TenantSync(store, db, graph, Skus(learner=STUDENT_SKU[1], staff=FACULTY_SKU[1]),
                       datetime.now(UTC)).run(full=False)
        return {account.id: fake.user_by_upn(account.mail) for account in accounts}


class Entra:
    """python3-saml, strict, configured as Entra's SAML relying party: the entityID, the login.srf
    consumer, persistent NameIDs, signed assertions and (stricter than Entra) signed Responses."""

    def __init__(self, idp_metadata: str):
        from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
        from onelogin.saml2.settings import OneLogin_Saml2_Settings

        self.settings = OneLogin_Saml2_Settings({
            "strict": True,
            "sp": {"entityId": ENTRA,
                   "assertionConsumerService": {"url": LOGIN_SRF,
                                                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"},
                   "NameIDFormat": PERSISTENT},
            "idp": OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata)["idp"],
            "security": {"wantAssertionsSigned": True, "wantMessagesSigned": True, "wantNameId": True,
                         "rejectDeprecatedAlgorithm": True},
        }, sp_validation_only=True)

    def accept(self, form, request_id: str):
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        request = {"https": "on", "http_host": "login.microsoftonline.com", "script_name": "/login.srf",
                   "get_data": {}, "post_data": form.fields}
        auth = OneLogin_Saml2_Auth(request, old_settings=self.settings)
        auth.process_response(request_id=request_id)
        return auth


def register_office365(porth) -> Entra:
    porth.register("office365", (SHIPPED / "office365.xml").read_bytes(),
                   (SHIPPED / "office365.toml").read_text("utf-8"))
    return Entra(porth.metadata)


def send(porth, binding: str, document: bytes, relay_state: str = "estsredirect=2&estsrequest=rQIIAcB"):
    """The browser carrying Entra's request to Porth: an auto-posted form, or a redirect."""
    if binding == "post":
        response = porth.client.post("/idp/sso/post", data={"SAMLRequest": bindings.encode_post(document),
                                                             "RelayState": relay_state})
    else:
        response = porth.client.get("/idp/sso/redirect?" + bindings.redirect_query("SAMLRequest", document,
                                                                                   relay_state))
    return porth.follow(response)


def answer_form(response):
    form = posted_form(response.get_data(as_text=True))
    assert form is not None, response.get_data(as_text=True)[:2000]
    return form


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_entras_sample_request_signs_a_learner_in_as_their_cloud_user(porth, store, db, now, binding):
    account = store.add_account(learner(password=PASSWORD, consent=Consent.LEGACY), now)  # C-2: legacy opens it
    cloud = cloud_users(store, db, account)[account.id]
    entra = register_office365(porth)
    request_id, document = entra_request()
    page = send(porth, binding, document)
    assert 'name="password"' in page.get_data(as_text=True) and "Office 365" in page.get_data(as_text=True)
    form = answer_form(porth.submit(page, "BloggsJ"))
    assert form.action == LOGIN_SRF and form.fields["RelayState"] == "estsredirect=2&estsrequest=rQIIAcB"

    auth = entra.accept(form, request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.is_authenticated()
    assert auth.get_nameid() == cloud["onPremisesImmutableId"]  # what Entra matches its user by
    assert auth.get_nameid_format() == PERSISTENT
    assert auth.get_attribute("IDPEmail") == [cloud["userPrincipalName"]]

    response = etree.fromstring(base64.b64decode(form.fields["SAMLResponse"]))
    assertion = response.find("saml:Assertion", NS)
    assert response.get("Destination") == LOGIN_SRF and response.get("InResponseTo") == request_id
    assert assertion.findtext("saml:Conditions/saml:AudienceRestriction/saml:Audience", namespaces=NS) == ENTRA
    confirmation = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert confirmation.get("Recipient") == LOGIN_SRF and confirmation.get("NotBefore") is None
    assert assertion.findtext("saml:Issuer", namespaces=NS) == "http://localhost/idp/metadata"  # the IssuerUri
    reference = assertion.find("ds:Signature/ds:SignedInfo/ds:Reference", NS)
    assert reference.get("URI") == f"#{assertion.get('ID')}"  # the assertion itself is signed
    certificate = auth.get_settings().get_idp_cert()
    standing_alone = etree.tostring(assertion)
    assert XMLVerifier().verify(standing_alone, x509_cert=certificate).signed_xml.get("ID") == assertion.get("ID")
    attribute = assertion.find("saml:AttributeStatement/saml:Attribute", NS)
    assert attribute.get("Name") == "IDPEmail"
    assert attribute.get("NameFormat") == "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"


def test_staff_sign_in_and_a_second_office365_request_is_answered_from_the_session(porth, store, db, now):
    teacher = store.add_account(staff(password=PASSWORD), now)
    cloud = cloud_users(store, db, teacher)[teacher.id]
    entra = register_office365(porth)
    request_id, document = entra_request()
    auth = entra.accept(answer_form(porth.submit(send(porth, "post", document), "JonesA@hwbcymru.net")), request_id)
    assert auth.get_errors() == [] and auth.get_nameid() == cloud["onPremisesImmutableId"] == teacher.id
    request_id, document = entra_request()
    again = entra.accept(answer_form(send(porth, "redirect", document)), request_id)  # no password asked
    assert again.get_errors() == [] and again.get_nameid() == cloud["onPremisesImmutableId"]


def test_a_learner_without_consent_never_reaches_office365(porth, store, db, now):
    store.add_account(learner(password=PASSWORD), now)  # consent not obtained: core services only (C-2)
    register_office365(porth)
    _, document = entra_request()
    refused = porth.submit(send(porth, "post", document), "BloggsJ")
    assert refused.status_code == 403 and posted_form(refused.get_data(as_text=True)) is None


def test_signing_out_by_redirect_as_entra_does_is_answered_with_a_signed_logout_response(porth, store, db, now):
    account = store.add_account(learner(password=PASSWORD, consent=Consent.EXPLICIT), now)
    cloud = cloud_users(store, db, account)[account.id]
    entra = register_office365(porth)
    request_id, document = entra_request()
    auth = entra.accept(answer_form(porth.submit(send(porth, "post", document), "BloggsJ")), request_id)
    assert auth.is_authenticated()

    logout_id = f"_{uuid.uuid4()}"
    logout = (f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}" ID="{logout_id}" Version="2.0" '
              f'IssueInstant="{datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}" '
              'Destination="http://localhost/idp/slo/redirect">'
              f'<Issuer xmlns="{SAML}">{ENTRA}</Issuer>'
              f'<NameID xmlns="{SAML}" Format="{PERSISTENT}">{cloud["onPremisesImmutableId"]}</NameID>'
              f'<samlp:SessionIndex>{auth.get_session_index()}</samlp:SessionIndex></samlp:LogoutRequest>')
    encoded = quote(bindings.encode_redirect(logout.encode()), safe="")
    form = answer_form(porth.client.get(f"/idp/slo/redirect?SAMLRequest={encoded}"))
    assert form.action == LOGIN_SRF  # the SingleLogoutService of Microsoft's metadata (HTTP-POST)

    answer = base64.b64decode(form.fields["SAMLResponse"])
    verified = XMLVerifier().verify(answer, x509_cert=auth.get_settings().get_idp_cert()).signed_xml
    assert etree.QName(verified).localname == "LogoutResponse"
    assert verified.get("InResponseTo") == logout_id and verified.get("Destination") == LOGIN_SRF
    assert verified.find("samlp:Status/samlp:StatusCode", NS).get("Value") == \
        "urn:oasis:names:tc:SAML:2.0:status:Success"
    _, document = entra_request()  # signed out: the next request asks for the password again
    assert 'name="password"' in send(porth, "post", document).get_data(as_text=True)
