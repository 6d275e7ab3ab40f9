"""Porth's IdP metadata as saml2int v2.0 asks for it (issue 15 point 8; SPEC S-1): the scope of
its scoped attributes, the user-interface and contact elements, a validity period and a
signature, read by services nobody here wrote."""

from __future__ import annotations

import base64
import struct
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
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


def test_the_scope_in_the_metadata_is_the_one_eppn_is_released_in(porth, store, now):
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


# -- what the metadata says about Porth ------------------------------------------------
MDUI = "urn:oasis:names:tc:SAML:metadata:ui"
LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def ui_info(root) -> etree._Element:
    [ui] = root.findall(f"{{{MD}}}IDPSSODescriptor/{{{MD}}}Extensions/{{{MDUI}}}UIInfo")
    return ui


def by_language(ui, tag: str) -> dict[str, str]:
    return {element.get(LANG): element.text for element in ui.findall(f"{{{MDUI}}}{tag}")}


def test_ui_info_names_and_describes_porth_in_english_and_welsh_with_a_logo(porth):
    """saml2int SDP-MD09, SDP-MD10, SDP-IDP33: DisplayName and Logo; a discovery page shows them."""
    ui = ui_info(metadata_root(porth))
    assert by_language(ui, "DisplayName") == {"en": "Porth", "cy": "Porth"}
    assert by_language(ui, "Description") == {"en": "Sign-in for school accounts",
                                              "cy": "Mewngofnodi ar gyfer cyfrifon ysgol"}
    assert by_language(ui, "InformationURL") == {"en": "http://localhost/", "cy": "http://localhost/"}
    [logo] = ui.findall(f"{{{MDUI}}}Logo")
    assert (logo.get("width"), logo.get("height")) == ("80", "60")
    assert logo.text.startswith("data:image/png;base64,")
    png = base64.b64decode(logo.text.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (80, 60)
    assert png[25] == 6  # RGBA: a transparent background


def test_an_la_sets_its_own_names_pages_and_contacts(slapd, store, tmp_path):
    from tests.integration.idp_fixtures import make_porth

    made = make_porth(slapd, tmp_path, metadata={
        "display_name_en": "Anytown Schools", "display_name_cy": "Ysgolion Unrhyw Dref",
        "information_url": "https://schools.anytown.example/porth",
        "privacy_statement_url": "https://anytown.example/privacy", "logo_url": "https://anytown.example/logo.png",
        "technical_contact_email": "idp-team@anytown.example", "support_contact_email": "helpdesk@anytown.example"})
    try:
        root = metadata_root(made)
        ui = ui_info(root)
        assert by_language(ui, "DisplayName") == {"en": "Anytown Schools", "cy": "Ysgolion Unrhyw Dref"}
        assert by_language(ui, "PrivacyStatementURL") == {"en": "https://anytown.example/privacy",
                                                          "cy": "https://anytown.example/privacy"}
        assert ui.find(f"{{{MDUI}}}Logo").text == "https://anytown.example/logo.png"
        contacts = {c.get("contactType"): c.findtext(f"{{{MD}}}EmailAddress")
                    for c in root.findall(f"{{{MD}}}ContactPerson")}
        assert contacts == {"technical": "mailto:idp-team@anytown.example",
                            "support": "mailto:helpdesk@anytown.example"}
    finally:
        made.app.extensions["porth.idp"].close()
        made.runtime.close()


def test_a_technical_contact_is_given_even_when_none_is_configured(porth):
    """saml2int SDP-MD11: the default reaches whoever runs the accounts' mail domain (RFC 5321 postmaster)."""
    contacts = metadata_root(porth).findall(f"{{{MD}}}ContactPerson")
    assert [(c.get("contactType"), c.findtext(f"{{{MD}}}EmailAddress")) for c in contacts] == [
        ("technical", "mailto:postmaster@hwbcymru.net")]


def test_the_metadata_is_valid_for_a_week_from_now(porth):
    """saml2int SDP-MD03: consumers refuse metadata without validUntil, or valid for too long
    (Shibboleth's RequireValidUntil: 14 days at most by default)."""
    valid_until = datetime.fromisoformat(metadata_root(porth).get("validUntil"))
    now = datetime.now(UTC)
    assert now + timedelta(days=6) < valid_until <= now + timedelta(days=7)


# -- the signature ---------------------------------------------------------------------
def signing_certificate_pem(porth) -> str:
    return porth.app.extensions["porth.idp"].key.certificate_pem


def xmlsec1_verifies(document: bytes, certificate_pem: str, folder) -> bool:
    (folder / "metadata.xml").write_bytes(document)
    (folder / "idp.crt").write_text(certificate_pem)
    result = subprocess.run(["xmlsec1", "--verify", "--id-attr:ID", f"{MD}:EntityDescriptor",
                             "--pubkey-cert-pem", str(folder / "idp.crt"), str(folder / "metadata.xml")],
                            capture_output=True, text=True, check=False)
    return result.returncode == 0


def test_the_metadata_is_signed_with_the_idp_key_and_xmlsec1_and_python3_saml_verify_it(porth, tmp_path):
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    document = porth.client.get("/idp/metadata").get_data()
    root = etree.fromstring(document)
    assert root[0].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert root[0].find(".//{http://www.w3.org/2000/09/xmldsig#}Reference").get("URI") == "#" + root.get("ID")
    certificate = signing_certificate_pem(porth)
    assert xmlsec1_verifies(document, certificate, tmp_path)
    assert OneLogin_Saml2_Utils.validate_metadata_sign(document, certificate, validatecert=False)

    tampered = document.replace(b"http://localhost/idp/sso/post", b"https://evil.example/idp/sso/post")
    assert tampered != document
    assert not xmlsec1_verifies(tampered, certificate, tmp_path)
    assert not OneLogin_Saml2_Utils.validate_metadata_sign(tampered, certificate, validatecert=False)


def test_pysaml2_loads_the_signed_metadata_checking_its_signature(porth, tmp_path):
    from saml2.attribute_converter import ac_factory
    from saml2.config import SPConfig
    from saml2.mdstore import MetaDataFile
    from saml2.sigver import SignatureError, security_context

    security = security_context(SPConfig().load({"entityid": "https://pysaml2.example/sp",
                                                 "xmlsec_binary": "/usr/bin/xmlsec1"}))
    document = porth.client.get("/idp/metadata").get_data()
    (tmp_path / "idp.crt").write_text(signing_certificate_pem(porth))

    def load(text: bytes) -> MetaDataFile:
        (tmp_path / "idp.xml").write_bytes(text)
        loaded = MetaDataFile(ac_factory(), str(tmp_path / "idp.xml"), cert=str(tmp_path / "idp.crt"),
                              security=security)
        loaded.load()
        return loaded

    sso = load(document).service("http://localhost/idp/metadata", "idpsso_descriptor", "single_sign_on_service")
    assert {endpoint["location"] for endpoints in sso.values() for endpoint in endpoints} == {
        "http://localhost/idp/sso/redirect", "http://localhost/idp/sso/post"}
    with pytest.raises(SignatureError):
        load(document.replace(b"http://localhost/idp/sso/post", b"https://evil.example/idp/sso/post"))
