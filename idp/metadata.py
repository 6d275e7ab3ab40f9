"""The IdP's own SAML metadata, published at a stable URL for services to register Porth."""

from __future__ import annotations

from lxml import etree

from idp.saml_xml import BINDING_POST, BINDING_REDIRECT, DS, MD, NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT, q
from idp.signing import SigningKey

SHIBMD = "urn:mace:shibboleth:metadata:1.0"


def idp_metadata(*, entity_id: str, base_url: str, key: SigningKey, scope: str, requests_must_be_signed: bool = False,
                 organisation: str = "Porth") -> bytes:
    root = etree.Element(q(MD, "EntityDescriptor"), nsmap={"md": MD, "ds": DS, "shibmd": SHIBMD},
                         entityID=entity_id)
    descriptor = etree.SubElement(root, q(MD, "IDPSSODescriptor"),
                                  protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
                                  WantAuthnRequestsSigned="true" if requests_must_be_signed else "false",
                                  errorURL=f"{base_url}/idp/problem")
    extensions = etree.SubElement(descriptor, q(MD, "Extensions"))
    # saml2int SDP-IDP14: the scope of eduPersonPrincipalName and the subject identifiers, as a
    # literal (never a regular expression); a Shibboleth SP drops a scoped value outside it.
    etree.SubElement(extensions, q(SHIBMD, "Scope"), regexp="false").text = scope
    # Only a signing key: services send Porth nothing encrypted.
    key_descriptor = etree.SubElement(descriptor, q(MD, "KeyDescriptor"), use="signing")
    x509_data = etree.SubElement(etree.SubElement(key_descriptor, q(DS, "KeyInfo")), q(DS, "X509Data"))
    etree.SubElement(x509_data, q(DS, "X509Certificate")).text = key.certificate_base64
    for binding, path in ((BINDING_REDIRECT, "/idp/slo/redirect"), (BINDING_POST, "/idp/slo/post")):
        etree.SubElement(descriptor, q(MD, "SingleLogoutService"), Binding=binding, Location=base_url + path)
    for name_id_format in (NAMEID_PERSISTENT, NAMEID_TRANSIENT, NAMEID_EMAIL):
        etree.SubElement(descriptor, q(MD, "NameIDFormat")).text = name_id_format
    for binding, path in ((BINDING_REDIRECT, "/idp/sso/redirect"), (BINDING_POST, "/idp/sso/post")):
        etree.SubElement(descriptor, q(MD, "SingleSignOnService"), Binding=binding, Location=base_url + path)
    organisation_element = etree.SubElement(root, q(MD, "Organization"))
    for tag, text in (("OrganizationName", organisation), ("OrganizationDisplayName", organisation),
                      ("OrganizationURL", base_url + "/")):
        element = etree.SubElement(organisation_element, q(MD, tag))
        element.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        element.text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
