"""Service providers written by other people, pointed at Porth's IdP in tests.

Two SAML libraries nobody here wrote play the services: OneLogin's
python3-saml (strict mode, signed messages and assertions required, SHA-1
refused) and IdentityPython's pysaml2 `Saml2Client`. Each builds its own
AuthnRequests and validates Porth's Responses with its own code; the tests
only carry the messages between them like a browser would.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def key_and_certificate(common_name: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass
class PostedForm:
    """The auto-submitting form Porth answers with (HTTP-POST binding)."""

    action: str
    fields: dict[str, str]


def posted_form(page: str) -> PostedForm | None:
    action = re.search(r'<form method="post" action="([^"]+)" id="saml-post"', page)
    if not action:
        return None
    fields = {name: html.unescape(value) for name, value in
              re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}
    return PostedForm(html.unescape(action.group(1)), fields)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@dataclass
class OneLoginService:
    """python3-saml as a service provider, in strict mode."""

    entity_id: str
    idp_metadata: str
    sign_requests: bool = False
    encrypted: bool = False
    force_authn: bool = False
    is_passive: bool = False
    base: str = "https://onelogin-sp.example"
    # What the service's requests ask for (NameIDPolicy Format); unspecified leaves it to Porth's policy.
    name_id_format: str = PERSISTENT
    want_attributes: bool = True  # python3-saml refuses a Response without an AttributeStatement unless told
    # python3-saml asks for PasswordProtectedTransport unless told not to (issue 18: a badge never meets it).
    requested_authn_context: bool = True
    # RequestedAuthnContext: python3-saml's default (PasswordProtectedTransport, exact) unless given.
    requested_contexts: tuple[str, ...] = ()
    context_comparison: str = "exact"
    key: str = field(default="")
    certificate: str = field(default="")

    def __post_init__(self) -> None:
        self.key, self.certificate = key_and_certificate("onelogin-sp")

    @property
    def acs_url(self) -> str:
        return f"{self.base}/acs"

    def settings(self):
        from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
        from onelogin.saml2.settings import OneLogin_Saml2_Settings

        idp = OneLogin_Saml2_IdPMetadataParser.parse(self.idp_metadata)["idp"]
        return OneLogin_Saml2_Settings({
            "strict": True,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {"url": self.acs_url, "binding": POST},
                "singleLogoutService": {"url": f"{self.base}/sls", "binding": REDIRECT},
                "NameIDFormat": self.name_id_format,
                "x509cert": self.certificate,
                "privateKey": self.key,
            },
            "idp": idp,
            "security": {
                "authnRequestsSigned": self.sign_requests,
                "logoutRequestSigned": True,
                "logoutResponseSigned": True,
                "wantMessagesSigned": True,
                "wantAssertionsSigned": True,
                "wantAssertionsEncrypted": self.encrypted,
                "wantNameId": True,
                "wantAttributeStatement": self.want_attributes,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": RSA_SHA256,
                "digestAlgorithm": SHA256,
                "requestedAuthnContext": (list(self.requested_contexts) or True) if self.requested_authn_context
                else False,
                "requestedAuthnContextComparison": self.context_comparison,
            },
        }, sp_validation_only=True)

    def metadata(self) -> bytes:
        return self.settings().get_sp_metadata()

    def _request_data(self, path: str, post: dict | None = None, get: dict | None = None) -> dict:
        host = urlsplit(self.base).netloc
        return {"https": "on", "http_host": host, "script_name": path,
                "get_data": get or {}, "post_data": post or {}}

    def login_url(self, relay_state: str = "https://onelogin-sp.example/after") -> tuple[str, str]:
        """The URL the browser is sent to, and the request's ID."""
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        auth = OneLogin_Saml2_Auth(self._request_data("/login"), old_settings=self.settings())
        url = auth.login(return_to=relay_state, force_authn=self.force_authn, is_passive=self.is_passive)
        return url, auth.get_last_request_id()

    def accept(self, form: PostedForm, request_id: str | None):
        """Validate Porth's Response like the service would; returns the python3-saml Auth object."""
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        auth = OneLogin_Saml2_Auth(self._request_data("/acs", post=form.fields), old_settings=self.settings())
        auth.process_response(request_id=request_id)
        return auth

    def logout_url(self, name_id: str, session_index: str) -> str:
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        auth = OneLogin_Saml2_Auth(self._request_data("/logout"), old_settings=self.settings())
        return auth.logout(name_id=name_id, session_index=session_index, name_id_format=PERSISTENT)

    def accept_logout(self, url: str):
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        auth = OneLogin_Saml2_Auth(self._request_data("/sls", get=query), old_settings=self.settings())
        answer_url = auth.process_slo(keep_local_session=True)
        return auth, answer_url


class PySaml2Service:
    """pysaml2's Saml2Client as a service provider."""

    def __init__(self, entity_id: str, idp_metadata: str, folder: Path, sign_requests: bool = True,
                 binding: str = POST):
        from saml2.client import Saml2Client
        from saml2.config import SPConfig

        self.entity_id = entity_id
        self.base = "https://pysaml2-sp.example"
        self.binding = binding
        key, certificate = key_and_certificate("pysaml2-sp")
        (folder / "sp.key").write_text(key)
        (folder / "sp.crt").write_text(certificate)
        self.config = SPConfig().load({
            "entityid": entity_id,
            "metadata": {"inline": [idp_metadata]},
            "service": {"sp": {
                "endpoints": {
                    "assertion_consumer_service": [(f"{self.base}/acs", POST)],
                    "single_logout_service": [(f"{self.base}/slo", REDIRECT)],
                },
                "want_response_signed": True,
                "want_assertions_signed": True,
                "authn_requests_signed": sign_requests,
                "allow_unsolicited": False,
                "name_id_format": PERSISTENT,
                "signing_algorithm": RSA_SHA256,
                "digest_algorithm": SHA256,
            }},
            "key_file": str(folder / "sp.key"),
            "cert_file": str(folder / "sp.crt"),
            "encryption_keypairs": [{"key_file": str(folder / "sp.key"), "cert_file": str(folder / "sp.crt")}],
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "allow_unknown_attributes": True,
        })
        self.client = Saml2Client(self.config)

    def metadata(self) -> bytes:
        from saml2.metadata import create_metadata_string

        return create_metadata_string(None, config=self.config, valid=None, sign=False)

    def login(self, relay_state: str = "pysaml2-state") -> tuple[str, dict | str]:
        """(request ID, what the browser does): a URL for Redirect, a form (action, fields) for POST."""
        from saml2 import BINDING_HTTP_POST
        from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

        request_id, info = self.client.prepare_for_authenticate(
            relay_state=relay_state, binding=self.binding, sigalg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
        if self.binding == BINDING_HTTP_POST:
            page = info["data"]
            action = re.search(r'action="([^"]+)"', page).group(1)
            fields = {n: html.unescape(v) for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}
            return request_id, {"action": html.unescape(action), "fields": fields}
        return request_id, dict(info["headers"])["Location"]

    def accept(self, form: PostedForm, request_id: str):
        from saml2 import BINDING_HTTP_POST

        return self.client.parse_authn_request_response(form.fields["SAMLResponse"], BINDING_HTTP_POST,
                                                        outstanding={request_id: "/"})
