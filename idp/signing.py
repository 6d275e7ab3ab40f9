"""The IdP's signing key, and checking the signatures services put on requests.

Signing happens in process with the key object loaded once (FACTS.md: pysaml2's
Server runs the xmlsec1 program per signature and manages 16 responses/s;
signxml manages ~490/s and Porth's own enveloped signer, below, about twice
that). Verifying what services send uses signxml.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidInput
from signxml.exceptions import InvalidSignature as XmlInvalidSignature
from signxml.verifier import SignatureConfiguration

from idp.saml_xml import DS, q

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"
# What a SHA-1 refusal says, so the service's administrator sees the real reason (not "does
# not verify"): SHA-1 is refused (saml2int) unless the service's policy, or the deployment's
# `allow_sha1_requests`, accepts it — Office 365's does (Entra signs its requests with SHA-1).
SHA1_REFUSED = "signed with RSA-SHA1, which this service's policy does not accept"
# Each a hash class, called for a fresh hash object per verification.
_REDIRECT_ALGORITHMS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
}


class SignatureRefused(ValueError):
    """A signature that is missing where required, uses a refused algorithm, or does not verify."""


ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@dataclass
class SigningKey:
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def __post_init__(self) -> None:
        self.certificate_pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self.certificate_base64 = "".join(self.certificate_pem.splitlines()[1:-1])

    def private_key_pem(self) -> str:
        """The key as PKCS#8 PEM, unencrypted: what python3-saml's settings take as a privateKey."""
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode("ascii")

    def sign(self, element: etree._Element) -> etree._Element:
        """An enveloped RSA-SHA256 signature over exclusive C14N, placed right after the
        element's Issuer (where the SAML schema wants it); the element is signed in place.

        The standard XML-DSig steps with lxml's C14N and the key object loaded once:
        digest the element (the enveloped-signature transform removes exactly the
        Signature added here), then sign the canonical SignedInfo. signxml does the
        same with copies of the document on the way, which made it the largest part
        of a sign-in's CPU (bench/README.md); the verifiers in the tests (xmlsec in
        python3-saml and in pysaml2's xmlsec1) check every signature made here.
        """
        reference_id = element.get("ID")
        if reference_id is None:
            raise ValueError("only an element with an ID can be signed: the signature's Reference names it")
        canonical = etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
        element[0].addnext(etree.fromstring(self.signature_text(reference_id, canonical)))
        return element

    def signature_text(self, reference_id: str, canonical: bytes) -> str:
        """The enveloped signature, as text, of the element with ID `reference_id` whose
        exclusive C14N form without the signature is `canonical` (`sign` above; idp/responses.py
        writes a sign-in's Response as text and calls this directly). SignedInfo is signed in
        its canonical form (namespace declared on it, as when it stands alone) and written
        inside a Signature that declares `ds`."""
        digest = base64.b64encode(hashlib.sha256(canonical).digest()).decode("ascii")
        body = _SIGNED_INFO_BODY.format(reference=f"#{reference_id}", digest=digest)
        canonical_signed_info = f'<ds:SignedInfo xmlns:ds="{DS}">{body}</ds:SignedInfo>'
        value = self.private_key.sign(canonical_signed_info.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return (f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>{body}</ds:SignedInfo>'
                f'<ds:SignatureValue>{base64.b64encode(value).decode("ascii")}</ds:SignatureValue>'
                f'<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{self.certificate_base64}</ds:X509Certificate>'
                f'</ds:X509Data></ds:KeyInfo></ds:Signature>')


# The inside of SignedInfo as exclusive C14N writes it (empty elements as start and end tags);
# the reference is an xs:ID Porth made (no character needing escaping).
_SIGNED_INFO_BODY = (
    f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
    f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"></ds:SignatureMethod>'
    '<ds:Reference URI="{reference}"><ds:Transforms>'
    f'<ds:Transform Algorithm="{ENVELOPED}"></ds:Transform><ds:Transform Algorithm="{EXC_C14N}"></ds:Transform>'
    f'</ds:Transforms><ds:DigestMethod Algorithm="{SHA256_DIGEST}"></ds:DigestMethod>'
    '<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference>'
)


def generate_signing_pair(pem_file: Path, common_name: str) -> None:
    """An RSA-2048 key and a ten-year self-signed certificate (what SAML IdPs publish),
    in one PEM file (0600), created atomically: several web workers starting at
    once all end up with the same pair."""
    if pem_file.exists():
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=3650))
                   .sign(key, hashes.SHA256()))
    pem_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = pem_file.with_name(f".{pem_file.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
    try:
        os.link(draft, pem_file)  # atomic, and refuses to replace a pair another worker made first
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def _pem_block(text: str, kind: str, source: Path) -> bytes:
    begin = text.find(f"-----BEGIN {kind}-----")
    end_marker = f"-----END {kind}-----"
    end = text.find(end_marker, begin)
    if begin < 0 or end < 0:
        raise SignatureRefused(f"{source}: no {kind.lower()} in it")
    return text[begin:end + len(end_marker)].encode("ascii")


def load_signing_key(key_file: Path, certificate_file: Path) -> SigningKey:
    """The key and certificate, from two PEM files or one holding both."""
    try:
        key_text = key_file.read_text("ascii")
        certificate_text = key_text if certificate_file == key_file else certificate_file.read_text("ascii")
        key = serialization.load_pem_private_key(_pem_block(key_text, "PRIVATE KEY", key_file)
                                                 if "BEGIN PRIVATE KEY" in key_text
                                                 else _pem_block(key_text, "RSA PRIVATE KEY", key_file), password=None)
        certificate = x509.load_pem_x509_certificate(_pem_block(certificate_text, "CERTIFICATE", certificate_file))
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureRefused(f"cannot load the IdP signing key {key_file} / {certificate_file}: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise SignatureRefused(f"{key_file}: the IdP signing key must be RSA of at least 2048 bits (saml2int)")
    certified = certificate.public_key()
    if not isinstance(certified, rsa.RSAPublicKey) or certified.public_numbers() != key.public_key().public_numbers():
        raise SignatureRefused(f"{certificate_file} does not certify the key in {key_file}")
    return SigningKey(key, certificate)


def verify_redirect(octets: bytes, sig_alg: str, signature: str, certificates: tuple[x509.Certificate, ...],
                    allow_sha1: bool) -> None:
    """The Redirect-binding signature over `SAMLRequest=..&RelayState=..&SigAlg=..` (saml-bindings 3.4.4.1)."""
    algorithm = _REDIRECT_ALGORITHMS.get(sig_alg)
    if sig_alg == RSA_SHA1:
        if not allow_sha1:
            raise SignatureRefused(SHA1_REFUSED)
        algorithm = hashes.SHA1
    if algorithm is None:
        raise SignatureRefused(f"signature algorithm not accepted: {sig_alg}")
    try:
        raw = base64.b64decode(signature, validate=False)
    except ValueError:
        raise SignatureRefused("the signature is not base64") from None
    for certificate in certificates:
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            continue
        try:
            public_key.verify(raw, octets, padding.PKCS1v15(), algorithm())
            return
        except InvalidSignature:
            continue
    raise SignatureRefused("the request's signature does not verify with the service's keys")


def verify_enveloped(root: etree._Element, certificates: tuple[x509.Certificate, ...], allow_sha1: bool) -> None:
    """An enveloped XML signature on the message itself (HTTP-POST); it must cover the root element."""
    signature = root.find(q(DS, "Signature"))
    if signature is None:
        raise SignatureRefused("the request is not signed")
    algorithms = {element.get("Algorithm")
                  for element in signature.iterfind(f"{q(DS, 'SignedInfo')}//*[@Algorithm]")}
    if algorithms & {RSA_SHA1, SHA1_DIGEST} and not allow_sha1:
        raise SignatureRefused(SHA1_REFUSED)
    for certificate in certificates:
        try:
            result = XMLVerifier().verify(root, x509_cert=certificate,
                                          expect_config=_verification(certificate, allow_sha1))
        except (XmlInvalidSignature, InvalidInput):
            continue
        if isinstance(result, list):  # one reference expected (expect_references=1), so one result
            raise SignatureRefused("the signature does not cover the request")
        signed = result.signed_xml
        if signed is not None and signed.tag == root.tag and signed.get("ID") == root.get("ID"):
            return
        raise SignatureRefused("the signature does not cover the request")
    raise SignatureRefused("the request's signature does not verify with the service's keys")


_SHA1_METHODS = frozenset(SignatureConfiguration().signature_methods | {SignatureMethod.RSA_SHA1})
_SHA1_DIGESTS = frozenset(SignatureConfiguration().digest_algorithms | {DigestAlgorithm.SHA1})


def _verification(certificate: x509.Certificate, allow_sha1: bool) -> SignatureConfiguration:
    """What signxml checks. A key in a service's metadata is trusted for being there, not for its
    certificate's dates (SAML V2.0 Metadata Interoperability Profile: an expired certificate is
    still used), and Microsoft's federation metadata lists certificates past their end date.
    signxml checks a certificate's dates against the time it is given, so it is given one
    within them: the certificate's first day."""
    valid_at = certificate.not_valid_before_utc
    if allow_sha1:
        return SignatureConfiguration(location="./", expect_references=1, signature_methods=_SHA1_METHODS,
                                      digest_algorithms=_SHA1_DIGESTS, verification_time=valid_at)
    return SignatureConfiguration(location="./", expect_references=1, verification_time=valid_at)


def sign_redirect_query(query: str, key: SigningKey) -> str:
    """Append SigAlg and Signature to a Redirect-binding query (saml-bindings 3.4.4.1)."""
    from urllib.parse import quote

    signed = f"{query}&SigAlg={quote(RSA_SHA256, safe='')}"
    signature = key.private_key.sign(signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}&Signature={quote(base64.b64encode(signature).decode('ascii'), safe='')}"
