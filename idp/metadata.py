"""The IdP's own SAML metadata, published at a stable URL for services to register Porth.

What saml2int v2.0 asks an IdP's metadata to hold (docs/saml2int.md): the scope of its scoped
attributes (SDP-IDP14), mdui:UIInfo with a display name and a logo (SDP-MD09, SDP-MD10) and, for
people choosing where to sign in, a description and an information page, in English and Welsh; a
technical contact (SDP-MD11); a validUntil (SDP-MD03: consumers refuse metadata without one); and a
signature over the whole document with the IdP's key, so a copy that was tampered with on its way
is refused by a service that checks it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from lxml import etree

from idp.saml_xml import (
    BINDING_POST,
    BINDING_REDIRECT,
    DS,
    MD,
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    instant,
    new_id,
    q,
)
from idp.signing import SigningKey

SHIBMD = "urn:mace:shibboleth:metadata:1.0"
MDUI = "urn:oasis:names:tc:SAML:metadata:ui"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
LANGUAGES = ("en", "cy")


def default_logo() -> str:
    """Porth's own 80x60 logo (a doorway, transparent PNG) as a data: URI (saml2int SDP-MD10)."""
    png = resources.files("idp").joinpath("logo-80x60.png").read_bytes()
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@dataclass(frozen=True)
class Description:
    """What the metadata tells about Porth beyond its endpoints and key."""

    scope: str  # the domain eduPersonPrincipalName and subject-id / pairwise-id are scoped in
    display_name: dict[str, str]  # by language: en, cy
    description: dict[str, str]
    information_url: str
    privacy_statement_url: str | None
    logo_url: str
    technical_contact: str  # email address
    support_contact: str | None
    valid_for: timedelta
    organisation: str = "Porth"


def idp_metadata(*, entity_id: str, base_url: str, key: SigningKey, about: Description, now: datetime,
                 requests_must_be_signed: bool = False) -> bytes:
    """The signed EntityDescriptor. validUntil is counted from the start of the hour, so every web
    worker gives out the same validity within an hour."""
    valid_until = now.replace(minute=0, second=0, microsecond=0) + about.valid_for
    root = etree.Element(q(MD, "EntityDescriptor"), nsmap={"md": MD, "ds": DS, "shibmd": SHIBMD, "mdui": MDUI},
                         entityID=entity_id, ID=new_id(), validUntil=instant(valid_until))
    descriptor = etree.SubElement(root, q(MD, "IDPSSODescriptor"),
                                  protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
                                  WantAuthnRequestsSigned="true" if requests_must_be_signed else "false",
                                  errorURL=f"{base_url}/idp/problem")
    extensions = etree.SubElement(descriptor, q(MD, "Extensions"))
    # saml2int SDP-IDP14: the scope of eduPersonPrincipalName and the subject identifiers, as a
    # literal (never a regular expression); a Shibboleth SP drops a scoped value outside it.
    etree.SubElement(extensions, q(SHIBMD, "Scope"), regexp="false").text = about.scope
    _ui_info(extensions, about)
    # Only a signing key: services send Porth nothing encrypted.
    key_descriptor = etree.SubElement(descriptor, q(MD, "KeyDescriptor"), use="signing")
    x509_data = etree.SubElement(etree.SubElement(key_descriptor, q(DS, "KeyInfo")), q(DS, "X509Data"))
    etree.SubElement(x509_data, q(DS, "X509Certificate")).text = key.certificate_base64
    for binding, path in ((BINDING_REDIRECT, "/idp/slo/redirect"), (BINDING_POST, "/idp/slo/post")):
        etree.SubElement(descriptor, q(MD, "SingleLogoutService"), Binding=binding, Location=base_url + path)
    for name_id_format in (NAMEID_TRANSIENT, NAMEID_PERSISTENT, NAMEID_EMAIL):
        etree.SubElement(descriptor, q(MD, "NameIDFormat")).text = name_id_format
    for binding, path in ((BINDING_REDIRECT, "/idp/sso/redirect"), (BINDING_POST, "/idp/sso/post")):
        etree.SubElement(descriptor, q(MD, "SingleSignOnService"), Binding=binding, Location=base_url + path)
    organisation_element = etree.SubElement(root, q(MD, "Organization"))
    for tag, text in (("OrganizationName", about.organisation), ("OrganizationDisplayName", about.organisation),
                      ("OrganizationURL", base_url + "/")):
        element = etree.SubElement(organisation_element, q(MD, tag))
        element.set(XML_LANG, "en")
        element.text = text
    _contact(root, "technical", about.technical_contact)
    if about.support_contact:
        _contact(root, "support", about.support_contact)
    return _signed(root, key)


def _ui_info(extensions: etree._Element, about: Description) -> None:
    ui = etree.SubElement(extensions, q(MDUI, "UIInfo"))
    for tag, texts in (("DisplayName", about.display_name), ("Description", about.description)):
        for language in LANGUAGES:
            element = etree.SubElement(ui, q(MDUI, tag))
            element.set(XML_LANG, language)
            element.text = texts[language]
    logo = etree.SubElement(ui, q(MDUI, "Logo"), height="60", width="80")
    logo.text = about.logo_url
    # One address for both languages: each element names the language its page is in.
    urls = [("InformationURL", about.information_url)]
    if about.privacy_statement_url:
        urls.append(("PrivacyStatementURL", about.privacy_statement_url))
    for tag, url in urls:
        for language in LANGUAGES:
            element = etree.SubElement(ui, q(MDUI, tag))
            element.set(XML_LANG, language)
            element.text = url


def _contact(root: etree._Element, kind: str, email: str) -> None:
    contact = etree.SubElement(root, q(MD, "ContactPerson"), contactType=kind)
    etree.SubElement(contact, q(MD, "EmailAddress")).text = f"mailto:{email}"


def _signed(root: etree._Element, key: SigningKey) -> bytes:
    """An enveloped signature as the document's first child (the metadata schema puts ds:Signature
    before md:Extensions and the roles), over the document's exclusive C14N form without it. The
    document is indented for people first: indenting after signing would change what was signed."""
    root = etree.fromstring(etree.tostring(root, pretty_print=True))
    canonical = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    root.insert(0, etree.fromstring(key.signature_text(root.get("ID", ""), canonical)))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
