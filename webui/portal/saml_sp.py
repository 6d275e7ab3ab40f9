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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from idp import bindings
from idp.attributes import ATTRIBUTES
from idp.authn_contexts import REFEDS_MFA, SECOND_FACTOR_CONTEXTS
from idp.guards import RequestLedger
from idp.saml_xml import BINDING_POST, BINDING_REDIRECT, NAMEID_PERSISTENT, XmlRefused, parse
from idp.services import Service, read_metadata
from idp.signing import SigningKey, generate_signing_pair, load_signing_key

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
USERNAME_URI = ATTRIBUTES["username"].uri


class PortalSignInRefused(ValueError):
    """A Response the portal does not accept; str() says why, for the log."""


@dataclass(frozen=True)
class PortalLogout:
    """What a message at the portal's SLS endpoint comes to."""

    acted: bool = False  # a valid, signed message the portal acts on (signs out, or has signed out)
    answer_url: str | None = None  # for the IdP's LogoutRequest: where the portal's answer goes
    partial: bool = False  # the IdP's answer to the portal's own sign-out: not every service signed out
    problems: tuple[str, ...] = ()  # why it was not acted on, for the log


@dataclass(frozen=True)
class PortalSignIn:
    username: str
    name_id: str
    session_index: str | None
    second_factor: bool = False  # the Response's AuthnContextClassRef says a second factor was used


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
    def __init__(self, *, base_url: str, idp_entity_id: str, idp_key: SigningKey, key_file: Path,
                 replay_ledger: RequestLedger):
        self.base_url = base_url
        self.idp_entity_id = idp_entity_id
        # The IdP's own ledger of answered requests (shared by every web node) keeps the IDs of
        # the Responses the portal accepted, until they expire (issue 15 point 7).
        self.replay_ledger = replay_ledger
        self.entity_id = f"{base_url}/portal/saml/metadata"
        generate_signing_pair(key_file, self.entity_id)
        own = load_signing_key(key_file, key_file)
        settings: dict[str, Any] = {
            "strict": True,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {"url": f"{base_url}/portal/saml/acs", "binding": BINDING_POST},
                "singleLogoutService": {"url": f"{base_url}/portal/saml/sls", "binding": BINDING_REDIRECT},
                "NameIDFormat": NAMEID_PERSISTENT,
                "x509cert": own.certificate_base64,
                "privateKey": own.private_key_pem(),
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
        }
        self._settings = OneLogin_Saml2_Settings(settings)
        # Issue 18 point 7: the step that asks the IdP for the second factor names REFEDS MFA.
        self._second_factor_settings = OneLogin_Saml2_Settings(
            {**settings, "security": {**settings["security"], "requestedAuthnContext": [REFEDS_MFA],
                                      "requestedAuthnContextComparison": "exact"}})

    def metadata(self) -> bytes:
        document = self._settings.get_sp_metadata()
        return document if isinstance(document, bytes) else document.encode("utf-8")

    def as_service(self) -> Service:
        """The portal as the IdP sees it: a core service (every account may reach it, C-2) told the username."""
        return Service(name="porth-portal", category="core", name_id="persistent", release=("username",),
                       display_name={"en": "User Management Portal", "cy": "Porth Rheoli Defnyddwyr"},
                       **read_metadata(self.metadata(), "the portal's own metadata"))

    def _auth(self, path: str, get: dict[str, Any] | None = None, post: dict[str, Any] | None = None,
              second_factor: bool = False):
        # The configured public URL, never the request's Host header, says where the portal is.
        url = urlsplit(self.base_url)
        data: dict[str, Any] = {"https": "on" if url.scheme == "https" else "off", "http_host": url.hostname,
                "script_name": url.path + path, "get_data": get or {}, "post_data": post or {}}
        if url.port:
            data["server_port"] = url.port
        return OneLogin_Saml2_Auth(data, old_settings=self._second_factor_settings if second_factor else self._settings)

    def sign_in_url(self, return_to: str) -> tuple[str, str]:
        """Where to send the browser to sign in (always with ForceAuthn, R-6), and the request's ID."""
        auth = self._auth("/portal/sign-in")
        url = auth.login(return_to=return_to, force_authn=True)
        return url, auth.get_last_request_id()

    def second_factor_url(self, return_to: str) -> tuple[str, str]:
        """Where to send the browser for the second factor after a password-only sign-in (issue 18
        point 7): a request for REFEDS MFA, not forced (the password was just given), and its ID."""
        auth = self._auth("/portal/sign-in", second_factor=True)
        url = auth.login(return_to=return_to)
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
        self._first_use(auth)
        second_factor = any(c in SECOND_FACTOR_CONTEXTS for c in auth.get_last_authn_contexts())
        return PortalSignIn(username=usernames[0], name_id=auth.get_nameid(), session_index=auth.get_session_index(),
                            second_factor=second_factor)

    def _first_use(self, auth: OneLogin_Saml2_Auth) -> None:
        """A Response (and its assertion) signs in once: replayed, even with the cookie of the
        browser it was sent to, it is refused. Kept until python3-saml would refuse it anyway."""
        now = datetime.now(UTC)
        not_on_or_after = auth.get_last_assertion_not_on_or_after()
        keep_until = (datetime.fromtimestamp(not_on_or_after, UTC) if not_on_or_after else now) \
            + timedelta(seconds=OneLogin_Saml2_Constants.ALLOWED_CLOCK_DRIFT)
        issuer = f"{self.idp_entity_id} to {self.entity_id}"  # apart from the requests services send the IdP
        for kind, message_id in (("Response", auth.get_last_message_id()), ("Assertion", auth.get_last_assertion_id())):
            if not message_id:
                raise PortalSignInRefused(f"the {kind} has no ID")
            if not self.replay_ledger.first_use(f"{kind} {issuer}", message_id, keep_until, now):
                raise PortalSignInRefused(f"the {kind} was accepted before (replayed)")

    def sign_out_url(self, name_id: str, session_index: str | None) -> tuple[str, str]:
        """Where to send the browser to end the single sign-on session too, and the LogoutRequest's ID."""
        auth = self._auth("/portal/sign-out")
        url = auth.logout(return_to="", name_id=name_id, session_index=session_index,
                          name_id_format=NAMEID_PERSISTENT)
        return url, auth.get_last_request_id()

    def accept_logout(self, query: dict[str, str], request_id: str | None, name_id: str | None,
                      session_index: str | None) -> PortalLogout:
        """Check a message at the portal's SLS endpoint: the IdP's LogoutResponse to the portal's
        own LogoutRequest `request_id`, or the IdP's LogoutRequest when someone signs out elsewhere,
        which must name this browser's portal session (`name_id`, `session_index`; None when
        there is none). python3-saml, strict, checks the signature, Destination, issuer and age;
        nothing that fails is acted on (issue 15 point 2)."""
        if "SAMLRequest" not in query and "SAMLResponse" not in query:
            return PortalLogout(problems=("no SAML message in the query",))
        if "SAMLResponse" in query and not request_id:
            # Only an answer to this browser's own sign-out: any other, however well signed, is a replay.
            return PortalLogout(problems=("a LogoutResponse, and no sign-out was started from this browser",))
        problem = _xml_problem(bindings.decode_redirect, query.get("SAMLRequest") or query.get("SAMLResponse"))
        if problem:
            return PortalLogout(problems=(f"unreadable message: {problem}",))
        auth = self._auth("/portal/saml/sls", get=query)
        try:
            answer_url = auth.process_slo(keep_local_session=True, request_id=request_id)
        except Exception as exc:  # noqa: BLE001 - as in accept(): any parse failure is a refusal
            return PortalLogout(problems=(f"unreadable message: {type(exc).__name__}",))
        errors = tuple(auth.get_errors())
        if "SAMLResponse" in query:
            if errors == ("logout_not_success",):
                # Valid and signed, but the IdP could not sign the person out everywhere (PartialLogout).
                return PortalLogout(acted=True, partial=True)
            return PortalLogout(acted=not errors, problems=errors)
        if errors:
            return PortalLogout(problems=errors)
        request_xml = auth.get_last_request_xml()
        if name_id is not None:
            if OneLogin_Saml2_Logout_Request.get_nameid(request_xml) != name_id:
                return PortalLogout(problems=("the LogoutRequest names another person",))
            indexes = OneLogin_Saml2_Logout_Request.get_session_indexes(request_xml)
            if session_index is not None and indexes and indexes != [session_index]:
                return PortalLogout(problems=("the LogoutRequest names another session",))
        return PortalLogout(acted=True, answer_url=answer_url)
