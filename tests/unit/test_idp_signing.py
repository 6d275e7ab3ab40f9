"""Porth's enveloped signer, checked by an XML-DSig verifier it does not share code with (signxml)."""

from __future__ import annotations

import pytest
from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidSignature

from idp.saml_xml import SAML, SAMLP, q
from idp.signing import SigningKey, generate_signing_pair, load_signing_key


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> SigningKey:
    pem = tmp_path_factory.mktemp("keys") / "pair.pem"
    generate_signing_pair(pem, "https://porth.example/idp/metadata")
    return load_signing_key(pem, pem)


def _response() -> etree._Element:
    response = etree.Element(q(SAMLP, "Response"), nsmap={"samlp": SAMLP, "saml": SAML}, ID="_r1", Version="2.0")
    etree.SubElement(response, q(SAML, "Issuer")).text = "https://porth.example/idp/metadata"
    etree.SubElement(etree.SubElement(response, q(SAMLP, "Status")), q(SAMLP, "StatusCode"),
                     Value="urn:oasis:names:tc:SAML:2.0:status:Success")
    return response


def test_the_signature_sits_after_the_issuer_and_verifies(key):
    signed = key.sign(_response())
    assert etree.QName(signed[1]).localname == "Signature"
    document = etree.tostring(signed)
    result = XMLVerifier().verify(document, x509_cert=key.certificate_pem)
    assert result.signed_xml.get("ID") == "_r1"


def test_a_changed_byte_breaks_the_signature(key):
    document = etree.tostring(key.sign(_response())).replace(b"Success", b"Requester")
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(document, x509_cert=key.certificate_pem)


def test_one_pair_file_is_made_once_and_kept(tmp_path):
    pem = tmp_path / "pair.pem"
    generate_signing_pair(pem, "https://porth.example/idp/metadata")
    first = pem.read_bytes()
    generate_signing_pair(pem, "https://porth.example/idp/metadata")
    assert pem.read_bytes() == first
    assert oct(pem.stat().st_mode & 0o777) == "0o600"
