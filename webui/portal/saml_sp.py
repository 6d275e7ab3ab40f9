"""The portal as a SAML service provider of Porth's own identity provider.

The portal signs people in the way every other service does: python3-saml
sends a signed AuthnRequest (with ForceAuthn, SPEC R-6: user management asks
for the password again even inside a live single sign-on session) and
validates the signed Response in strict mode. It is registered with the IdP
as a built-in `core` service, so it needs no metadata file in
config/services; its own metadata is published at /portal/saml/metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from idp import bindings
from idp.attributes import ATTRIBUTES
from idp.saml_xml import BINDING_POST, BINDING_REDIRECT, NAMEID_PERSISTENT, XmlRefused, parse
from idp.services import Service, read_metadata
from idp.signing import SigningKey, generate_signing_pair, load_signing_key

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
USERNAME_URI = ATTRIBUTES["username"].uri


class PortalSignInRefused(ValueError):
    """A Response the portal does not accept; str() says why, for the log."""


@dataclass(frozen=True)
class PortalSignIn:
    username: str
    name_id: str
    session_index: str | None


def _xml_problem(document_of, encoded: str | None) -> str | None:
    """Why Porth's own hardened parser will not read a message (a DTD in any encoding, too large,
    not XML), or None: every message from outside goes through idp.saml_xml.parse before
    python3-saml sees it, so the portal refuses exactly what the IdP refuses."""
    if not encoded:
        return None  # python3-saml reports a missing message itself
    try:
        parse(document_of(encoded))
    except (bindings.BindingError, XmlRefused) as exc:
        return str(exc)
    return None


class PortalServiceProvider:
    def __init__(self, *, base_url: str, idp_entity_id: str, idp_key: SigningKey, key_file: Path):
        self.base_url = base_url
        self.entity_id = f"{base_url}/portal/saml/metadata"
        generate_signing_pair(key_file, self.entity_id)
        own = load_signing_key(key_file, key_file)
        key_pem = own.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode("ascii")
        self._settings = OneLogin_Saml2_Settings({
            "strict": True,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {"url": f"{base_url}/portal/saml/acs", "binding": BINDING_POST},
                "singleLogoutService": {"url": f"{base_url}/portal/saml/sls", "binding": BINDING_REDIRECT},
                "NameIDFormat": NAMEID_PERSISTENT,
                "x509cert": own.certificate_base64,
                "privateKey": key_pem,
            },
            "idp": {
                "entityId": idp_entity_id,
                "singleSignOnService": {"url": f"{base_url}/idp/sso/redirect", "binding": BINDING_REDIRECT},
                "singleLogoutService": {"url": f"{base_url}/idp/slo/redirect", "binding": BINDING_REDIRECT},
                "x509cert": idp_key.certificate_base64,
            },
            "security": {
                "authnRequestsSigned": True,
                "logoutRequestSigned": True,
                "logoutResponseSigned": True,
                "wantMessagesSigned": True,
                "wantAssertionsSigned": True,
                "wantNameId": True,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": RSA_SHA256,
                "digestAlgorithm": SHA256,
            },
        })

    def metadata(self) -> bytes:
        document = self._settings.get_sp_metadata()
        return document if isinstance(document, bytes) else document.encode("utf-8")

    def as_service(self) -> Service:
        """The portal as the IdP sees it: a core service (every account may reach it, C-2) told the username."""
        return Service(name="porth-portal", category="core", name_id="persistent", release=("username",),
                       display_name={"en": "User Management Portal", "cy": "Porth Rheoli Defnyddwyr"},
                       **read_metadata(self.metadata(), "the portal's own metadata"))

    def _auth(self, path: str, get: dict[str, Any] | None = None, post: dict[str, Any] | None = None):
        # The configured public URL, never the request's Host header, says where the portal is.
        url = urlsplit(self.base_url)
        data: dict[str, Any] = {"https": "on" if url.scheme == "https" else "off", "http_host": url.hostname,
                "script_name": url.path + path, "get_data": get or {}, "post_data": post or {}}
        if url.port:
            data["server_port"] = url.port
        return OneLogin_Saml2_Auth(data, old_settings=self._settings)

    def sign_in_url(self, return_to: str) -> tuple[str, str]:
        """Where to send the browser to sign in (always with ForceAuthn, R-6), and the request's ID."""
        auth = self._auth("/portal/sign-in")
        url = auth.login(return_to=return_to, force_authn=True)
        return url, auth.get_last_request_id()

    def accept(self, form: dict[str, str], request_id: str | None) -> PortalSignIn:
        """Validate the IdP's Response to the request `request_id`; refuse anything else."""
        if not request_id:
            raise PortalSignInRefused("no sign-in was started from this browser (unsolicited Response)")
        problem = _xml_problem(bindings.decode_post, form.get("SAMLResponse"))
        if problem:
            raise PortalSignInRefused(f"unreadable Response: {problem}")
        auth = self._auth("/portal/saml/acs", post=form)
        try:
            auth.process_response(request_id=request_id)
        except Exception as exc:  # noqa: BLE001 - python3-saml raises anything from binascii to lxml on garbage
            raise PortalSignInRefused(f"unreadable Response: {type(exc).__name__}: {exc}") from None
        if auth.get_errors():
            raise PortalSignInRefused(f"{', '.join(auth.get_errors())}: {auth.get_last_error_reason()}")
        usernames = auth.get_attribute(USERNAME_URI) or []
        if len(usernames) != 1:
            raise PortalSignInRefused("the Response does not name one username")
        return PortalSignIn(username=usernames[0], name_id=auth.get_nameid(), session_index=auth.get_session_index())

    def sign_out_url(self, name_id: str, session_index: str | None) -> tuple[str, str]:
        """Where to send the browser to end the single sign-on session too, and the LogoutRequest's ID."""
        auth = self._auth("/portal/sign-out")
        url = auth.logout(return_to="", name_id=name_id, session_index=session_index,
                          name_id_format=NAMEID_PERSISTENT)
        return url, auth.get_last_request_id()

    def accept_logout(self, query: dict[str, str], request_id: str | None) -> tuple[list[str], str | None]:
        """Check the IdP's LogoutResponse, or its LogoutRequest when someone signs out
        elsewhere: the problems found (none: fine), and for a request, where to send
        the browser with the portal's answer."""
        problem = _xml_problem(bindings.decode_redirect, query.get("SAMLRequest") or query.get("SAMLResponse"))
        if problem:
            return [f"unreadable message: {problem}"], None
        auth = self._auth("/portal/saml/sls", get=query)
        try:
            answer_url = auth.process_slo(keep_local_session=True, request_id=request_id)
        except Exception as exc:  # noqa: BLE001 - as in accept(): any parse failure is a refusal
            return [f"unreadable message: {type(exc).__name__}: {exc}"], None
        return auth.get_errors(), answer_url
