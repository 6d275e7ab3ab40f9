"""Assertion encryption for services whose metadata offers an encryption key:
AES-256-GCM for the assertion, its key wrapped with RSA-OAEP (XML Encryption
1.1; saml2int). The assertion is signed first, then encrypted."""

from __future__ import annotations

import base64
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from idp.saml_xml import DS, SAML, XENC, XENC11, q

AES256_GCM = f"{XENC11}aes256-gcm"
RSA_OAEP_MGF1P = f"{XENC}rsa-oaep-mgf1p"
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"
ELEMENT_TYPE = f"{XENC}Element"


def encrypt_assertion(assertion: etree._Element, certificate: x509.Certificate) -> etree._Element:
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("the service's encryption key is not RSA")
    session_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    plaintext = etree.tostring(assertion)
    # XML Encryption 1.1 5.2.4: the cipher value is IV || ciphertext || tag.
    cipher_value = nonce + AESGCM(session_key).encrypt(nonce, plaintext, None)
    # rsa-oaep-mgf1p: OAEP with SHA-1 for both digest and MGF1, what every SAML library decrypts
    # (hence the noqa: SHA-1 only masks the padding here, it signs nothing).
    sha1 = hashes.SHA1()  # noqa: S303
    wrapped = public_key.encrypt(session_key, padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None))

    encrypted = etree.Element(q(SAML, "EncryptedAssertion"), nsmap={"saml": SAML})
    data = etree.SubElement(encrypted, q(XENC, "EncryptedData"), nsmap={"xenc": XENC}, Type=ELEMENT_TYPE)
    etree.SubElement(data, q(XENC, "EncryptionMethod"), Algorithm=AES256_GCM)
    key_info = etree.SubElement(data, q(DS, "KeyInfo"), nsmap={"ds": DS})
    encrypted_key = etree.SubElement(key_info, q(XENC, "EncryptedKey"))
    method = etree.SubElement(encrypted_key, q(XENC, "EncryptionMethod"), Algorithm=RSA_OAEP_MGF1P)
    etree.SubElement(method, q(DS, "DigestMethod"), Algorithm=SHA1_DIGEST)
    etree.SubElement(etree.SubElement(encrypted_key, q(XENC, "CipherData")),
                     q(XENC, "CipherValue")).text = base64.b64encode(wrapped).decode("ascii")
    etree.SubElement(etree.SubElement(data, q(XENC, "CipherData")),
                     q(XENC, "CipherValue")).text = base64.b64encode(cipher_value).decode("ascii")
    return encrypted
