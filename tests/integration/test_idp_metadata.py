"""Porth's IdP metadata as saml2int v2.0 asks for it (issue 15 point 8; SPEC S-1): the scope of
its scoped attributes, the user-interface and contact elements, a validity period and a
signature, read by services nobody here wrote."""

from __future__ import annotations

from lxml import etree

from directory.model import Consent
from tests.integration.conftest import learner
from tests.integration.idp_fixtures import PASSWORD, porth  # noqa: F401 (fixture)
from tests.saml_services import OneLoginService, posted_form

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
SHIBMD = "urn:mace:shibboleth:metadata:1.0"
EPPN = "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"


def metadata_root(porth) -> etree._Element:
    return etree.fromstring(porth.client.get("/idp/metadata").get_data())


def test_the_scope_in_the_metadata_is_the_one_eduPersonPrincipalName_is_released_in(porth, store, now):
    """saml2int SDP-IDP14/SDP-IDP33: without a shibmd:Scope a Shibboleth SP drops eppn as 'invalid scope'."""
    scopes = metadata_root(porth).findall(f"{{{MD}}}IDPSSODescriptor/{{{MD}}}Extensions/{{{SHIBMD}}}Scope")
    assert [(s.text, s.get("regexp")) for s in scopes] == [("hwbcymru.net", "false")]

    store.add_account(learner(password=PASSWORD, consent=Consent.EXPLICIT), now)
    service = OneLoginService(entity_id="https://scoped.example/sp", idp_metadata=porth.metadata)
    porth.register("scoped", service.metadata(), 'category = "core"\nrelease = ["principal_name"]\n')
    url, request_id = service.login_url()
    auth = service.accept(posted_form(porth.sign_in(url, "BloggsJ").get_data(as_text=True)), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    [eppn] = auth.get_attribute(EPPN)
    assert eppn.rsplit("@", 1)[1] == scopes[0].text
