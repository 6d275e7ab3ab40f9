"""A sign-in's Response is written as canonical text (idp/responses.py): whatever the values,
its two signatures must verify with XML-DSig code Porth does not share (xmlsec, signxml) and
its content must read back exactly as given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import xmlsec
from lxml import etree
from signxml import XMLVerifier

from idp.attributes import ReleasedAttribute
from idp.responses import SignInFacts, Timing, authn_response
from idp.saml_xml import DS, NAMEID_PERSISTENT, NAMEID_TRANSIENT, SAML, SAMLP, XSI, q
from idp.signing import SigningKey, generate_signing_pair, load_signing_key

NOW = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
AWKWARD = 'Siân & "Ffion" <O\'Brien>\tTab\r\nnew line ŵ 🏴󠁧󠁢󠁷󠁬󠁳󠁿'


class _Service:
    def __init__(self, entity_id: str):
        self.entity_id = entity_id
        self.encryption_certificates = ()


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> SigningKey:
    pem = tmp_path_factory.mktemp("keys") / "pair.pem"
    generate_signing_pair(pem, "https://porth.example/idp/metadata")
    return load_signing_key(pem, pem)


def _response(key: SigningKey, *, value: str = "JonesA@hwbcymru.net", in_response_to: str | None = "_req1",
              name_id_format: str = NAMEID_PERSISTENT, attributes: bool = True,
              entity_id: str = "https://sp.example/sp?a=1&b=2") -> bytes:
    released = [ReleasedAttribute("urn:oid:0.9.2342.19200300.100.1.3", "mail", (value,)),
                ReleasedAttribute("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "eduPersonAffiliation", ("staff", "member"))]
    return authn_response(
        key=key, idp_entity_id="https://porth.example/idp/metadata", service=_Service(entity_id),
        destination="https://sp.example/acs?x=<1>", in_response_to=in_response_to, name_id="opaque&id",
        name_id_format=name_id_format, attributes=released if attributes else [],
        facts=SignInFacts(NOW, "_session1", NOW + timedelta(hours=8)),
        timing=Timing(NOW, timedelta(seconds=90), timedelta(minutes=5)))


def _xmlsec_verifies(document: bytes, key: SigningKey) -> int:
    root = etree.fromstring(document)
    xmlsec.tree.add_ids(root, ["ID"])
    signatures = list(root.iter(q(DS, "Signature")))
    for signature in signatures:
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(key.certificate_pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
        context.verify(signature)  # raises xmlsec.Error if it does not verify
    return len(signatures)


@pytest.mark.parametrize("options", [
    {}, {"value": AWKWARD}, {"in_response_to": None}, {"name_id_format": NAMEID_TRANSIENT},
    {"attributes": False}, {"entity_id": AWKWARD},
], ids=["plain", "awkward-value", "unsolicited", "transient", "no-attributes", "awkward-entity"])
def test_both_signatures_verify_and_the_values_read_back(key, options):
    document = _response(key, **options)
    assert _xmlsec_verifies(document, key) == 2
    root = etree.fromstring(document)
    signed = XMLVerifier().verify(document, x509_cert=key.certificate_pem).signed_xml
    assert signed.tag == q(SAMLP, "Response")
    standing_alone = etree.tostring(root.find(q(SAML, "Assertion")))
    assert XMLVerifier().verify(standing_alone, x509_cert=key.certificate_pem).signed_xml.tag == q(SAML, "Assertion")
    assert root.tag == q(SAMLP, "Response") and etree.QName(root[1]).localname == "Signature"
    assertion = root.find(q(SAML, "Assertion"))
    assert etree.QName(assertion[1]).localname == "Signature"
    assert root.get("InResponseTo") == options.get("in_response_to", "_req1")
    assert assertion.findtext(f"{q(SAML, 'Conditions')}/{q(SAML, 'AudienceRestriction')}/{q(SAML, 'Audience')}") \
        == options.get("entity_id", "https://sp.example/sp?a=1&b=2")
    values = [v.text for v in assertion.iter(q(SAML, "AttributeValue"))]
    assert values == ([] if options.get("attributes") is False else
                      [options.get("value", "JonesA@hwbcymru.net"), "staff", "member"])
    for value in assertion.iter(q(SAML, "AttributeValue")):
        assert value.get(q(XSI, "type")) == "xs:string" and value.nsmap["xs"] == "http://www.w3.org/2001/XMLSchema"


def test_a_changed_value_breaks_the_signature(key):
    document = _response(key).replace(b"JonesA@hwbcymru.net", b"BloggsJ@hwbcymru.net")
    with pytest.raises(xmlsec.Error):
        _xmlsec_verifies(document, key)


def test_a_value_xml_cannot_carry_is_refused_not_written(key):
    with pytest.raises(ValueError, match="XML cannot carry"):
        _response(key, value="bell\x07")
