"""The XML Porth sends: signed Responses (with or without an assertion) and
logout messages. Built with lxml from plain values; signed in process."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from idp.attribute_values import MAX_VALUE_CHARACTERS
from idp.attributes import ReleasedAttribute
from idp.encryption import encrypt_assertion
from idp.saml_xml import (
    AUTHN_PASSWORD_PROTECTED,
    CM_BEARER,
    NAMEID_TRANSIENT,
    SAML,
    SAMLP,
    STATUS_SUCCESS,
    XS,
    XSI,
    instant,
    new_id,
    q,
    status_codes,
)
from idp.services import Service
from idp.signing import SigningKey

_NSMAP = {"samlp": SAMLP, "saml": SAML}


@dataclass(frozen=True)
class SignInFacts:
    """The session a Response vouches for."""

    authn_instant: datetime
    session_index: str
    session_not_on_or_after: datetime
    # How the person signed in: PasswordProtectedTransport, a badge (idp.saml_xml.AUTHN_BADGE) or an MFA
    # class after a second factor (issue 18).
    authn_context: str = AUTHN_PASSWORD_PROTECTED


@dataclass(frozen=True)
class Timing:
    now: datetime
    clock_skew: timedelta
    lifetime: timedelta


def _issuer(parent: etree._Element, entity_id: str) -> None:
    etree.SubElement(parent, q(SAML, "Issuer")).text = entity_id


def _status(parent: etree._Element, code: str, message: str | None = None) -> None:
    status = etree.SubElement(parent, q(SAMLP, "Status"))
    enclosing = status
    for value in status_codes(code):  # saml-core 3.2.2.2 (idp/saml_xml.py TOP_LEVEL_OF)
        enclosing = etree.SubElement(enclosing, q(SAMLP, "StatusCode"), Value=value)
    if message:  # saml2int SDP-G02: at most 256 characters (a reason may quote a request's values)
        etree.SubElement(status, q(SAMLP, "StatusMessage")).text = (
            message if len(message) <= MAX_VALUE_CHARACTERS else message[:MAX_VALUE_CHARACTERS - 1] + "…")


def _response(idp_entity_id: str, destination: str, in_response_to: str | None, now: datetime) -> etree._Element:
    response = etree.Element(q(SAMLP, "Response"), nsmap=_NSMAP, ID=new_id(), Version="2.0",
                             IssueInstant=instant(now), Destination=destination)
    if in_response_to:
        response.set("InResponseTo", in_response_to)
    _issuer(response, idp_entity_id)
    return response


# -- the Response to a sign-in, written as text -------------------------------------
# A sign-in's Response is written as text in exclusive C14N form (attributes in
# order, empty elements as start and end tags, C14N's escaping), so the digests
# are taken over the text itself: building it with lxml and canonicalising it
# twice per signature took a third of the Response's CPU (bench/login_profile.py).
# The document differs from the canonical form only in namespace declarations,
# which exclusive C14N places on the elements that use them: the assertion also
# declares xs and xsi (its xsi:type="xs:string" values need them), and in the
# canonical form xsi is declared on each AttributeValue and saml on the Response's
# Issuer instead of on the Response. tests/unit/test_response_text.py checks the
# text against lxml's C14N and xmlsec's verification.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _checked(value: str) -> str:
    # idp/attribute_values.py keeps such values out before this point; the message never quotes the
    # value (an error log must not carry a person's name).
    if _NOT_XML.search(value):
        raise ValueError("a character XML cannot carry in a value of the Response")
    return value


def _text(value: str) -> str:
    return _checked(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def _start(name: str, attributes: dict[str, str], namespaces: str = "") -> str:
    """A start tag: namespace declarations first, then attributes sorted by name (all unqualified)."""
    rendered = "".join(
        f' {key}="' + _checked(value).replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        .replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;") + '"'
        for key, value in sorted(attributes.items()))
    return f"<{name}{namespaces}{rendered}>"


def _element(name: str, attributes: dict[str, str], text: str = "") -> str:
    return f"{_start(name, attributes)}{_text(text)}</{name}>"


_SAML_NS = f' xmlns:saml="{SAML}"'
_ASSERTION_NS_WRITTEN = f' xmlns:saml="{SAML}" xmlns:xs="{XS}" xmlns:xsi="{XSI}"'
_VALUE_WRITTEN = '<saml:AttributeValue xsi:type="xs:string">'
_VALUE_CANONICAL = f'<saml:AttributeValue xmlns:xsi="{XSI}" xsi:type="xs:string">'


@dataclass(frozen=True)
class _Text:
    """An element as written in the document and as exclusive C14N renders it on its own,
    each in two halves: the enveloped signature goes between them, after the Issuer."""

    written: tuple[str, str]
    canonical: tuple[str, str]

    def signed(self, key: SigningKey, element_id: str) -> tuple[str, str]:
        signature = key.signature_text(element_id, "".join(self.canonical).encode("utf-8"))
        return signature.join(self.written), signature.join(self.canonical)


def _qualifiers(idp_entity_id: str, service_entity_id: str, name_id_format: str,
                qualify_name_id: bool) -> dict[str, str]:
    """NameQualifier and SPNameQualifier say whose namespace a NameID is in (saml-core 8.3.7):
    given for Porth's own persistent and email identifiers, never for a transient one, nor for
    one that belongs to no pair of IdP and service (the immutable id Office 365 matches)."""
    if name_id_format == NAMEID_TRANSIENT or not qualify_name_id:
        return {}
    return {"NameQualifier": idp_entity_id, "SPNameQualifier": service_entity_id}


def _assertion_text(assertion_id: str, idp_entity_id: str, service: Service, destination: str,
                    in_response_to: str | None, name_id: str, name_id_format: str, qualify_name_id: bool,
                    attributes: list[ReleasedAttribute], facts: SignInFacts, timing: Timing) -> _Text:
    now = timing.now
    start = {"ID": assertion_id, "IssueInstant": instant(now), "Version": "2.0"}
    issuer = _element("saml:Issuer", {}, idp_entity_id)
    qualifiers = _qualifiers(idp_entity_id, service.entity_id, name_id_format, qualify_name_id)
    confirmation = {"NotOnOrAfter": instant(now + timing.lifetime), "Recipient": destination}
    if in_response_to:
        confirmation["InResponseTo"] = in_response_to
    body = (
        "<saml:Subject>" + _element("saml:NameID", {"Format": name_id_format, **qualifiers}, name_id)
        + _start("saml:SubjectConfirmation", {"Method": CM_BEARER})
        + _element("saml:SubjectConfirmationData", confirmation) + "</saml:SubjectConfirmation></saml:Subject>"
        + _start("saml:Conditions", {"NotBefore": instant(now - timing.clock_skew),
                                     "NotOnOrAfter": instant(now + timing.lifetime)})
        + "<saml:AudienceRestriction>" + _element("saml:Audience", {}, service.entity_id)
        + "</saml:AudienceRestriction></saml:Conditions>"
        + _start("saml:AuthnStatement", {"AuthnInstant": instant(facts.authn_instant),
                                         "SessionIndex": facts.session_index,
                                         "SessionNotOnOrAfter": instant(facts.session_not_on_or_after)})
        + "<saml:AuthnContext>" + _element("saml:AuthnContextClassRef", {}, facts.authn_context)
        + "</saml:AuthnContext></saml:AuthnStatement>"
    )
    return _Text(
        written=(_start("saml:Assertion", start, _ASSERTION_NS_WRITTEN) + issuer,
                 body + _attribute_statement(attributes, _VALUE_WRITTEN) + "</saml:Assertion>"),
        canonical=(_start("saml:Assertion", start, _SAML_NS) + issuer,
                   body + _attribute_statement(attributes, _VALUE_CANONICAL) + "</saml:Assertion>"),
    )


def _attribute_statement(attributes: list[ReleasedAttribute], value_start: str) -> str:
    if not attributes:
        return ""
    return "<saml:AttributeStatement>" + "".join(
        _start("saml:Attribute", {"Name": attribute.name, "NameFormat": attribute.name_format}
               | ({"FriendlyName": attribute.friendly_name} if attribute.friendly_name else {}))
        + "".join(value_start + _text(value) + "</saml:AttributeValue>" for value in attribute.values)
        + "</saml:Attribute>" for attribute in attributes) + "</saml:AttributeStatement>"


def _response_text(response_id: str, idp_entity_id: str, destination: str, in_response_to: str | None,
                   now: datetime, assertion: tuple[str, str]) -> _Text:
    start = {"ID": response_id, "Version": "2.0", "IssueInstant": instant(now), "Destination": destination}
    if in_response_to:
        start["InResponseTo"] = in_response_to
    issuer = _element("saml:Issuer", {}, idp_entity_id)
    status = ("<samlp:Status>" + _element("samlp:StatusCode", {"Value": STATUS_SUCCESS}) + "</samlp:Status>")
    written, canonical = assertion
    return _Text(
        written=(_start("samlp:Response", start, f' xmlns:samlp="{SAMLP}"{_SAML_NS}') + issuer,
                 status + written + "</samlp:Response>"),
        canonical=(_start("samlp:Response", start, f' xmlns:samlp="{SAMLP}"')
                   + issuer.replace("<saml:Issuer>", f"<saml:Issuer{_SAML_NS}>", 1),
                   status + canonical + "</samlp:Response>"),
    )


def authn_response(*, key: SigningKey, idp_entity_id: str, service: Service, destination: str,
                   in_response_to: str | None, name_id: str, name_id_format: str,
                   attributes: list[ReleasedAttribute], facts: SignInFacts, timing: Timing,
                   qualify_name_id: bool = True) -> bytes:
    """A signed Response carrying one signed (and, if the service offers a key, encrypted) assertion."""
    assertion_id = new_id()
    assertion = _assertion_text(assertion_id, idp_entity_id, service, destination, in_response_to, name_id,
                                name_id_format, qualify_name_id, attributes, facts, timing).signed(key, assertion_id)
    if service.encryption_certificates:
        encrypted = encrypt_assertion(etree.fromstring(assertion[0].encode("utf-8")),
                                      service.encryption_certificates[0])
        response = _response(idp_entity_id, destination, in_response_to, timing.now)
        _status(response, STATUS_SUCCESS)
        response.append(encrypted)
        return etree.tostring(key.sign(response), xml_declaration=True, encoding="UTF-8")
    response_id = new_id()
    written, _ = _response_text(response_id, idp_entity_id, destination, in_response_to, timing.now,
                                assertion).signed(key, response_id)
    return _XML_DECLARATION + written.encode("utf-8")


_XML_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"


def status_response(*, key: SigningKey, idp_entity_id: str, destination: str, in_response_to: str | None,
                    status: str, message: str | None, now: datetime) -> bytes:
    """A signed Response with no assertion, telling the service why (NoPassive, RequestDenied, ...)."""
    response = _response(idp_entity_id, destination, in_response_to, now)
    _status(response, status, message)
    return etree.tostring(key.sign(response), xml_declaration=True, encoding="UTF-8")


def logout_response(*, key: SigningKey | None, idp_entity_id: str, destination: str, in_response_to: str,
                    status: str, now: datetime) -> bytes:
    """Unsigned for the Redirect binding (the query string is signed instead), signed for POST."""
    response = etree.Element(q(SAMLP, "LogoutResponse"), nsmap=_NSMAP, ID=new_id(), Version="2.0",
                             IssueInstant=instant(now), Destination=destination, InResponseTo=in_response_to)
    _issuer(response, idp_entity_id)
    _status(response, status)
    signed = key.sign(response) if key else response
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def logout_request(*, key: SigningKey | None, idp_entity_id: str, destination: str, name_id: str,
                   name_id_format: str, service_entity_id: str, session_index: str, now: datetime,
                   lifetime: timedelta, qualify_name_id: bool = True) -> tuple[str, bytes]:
    """The NameID exactly as the assertion carried it (`qualify_name_id` as given to authn_response)."""
    request_id = new_id()
    request = etree.Element(q(SAMLP, "LogoutRequest"), nsmap=_NSMAP, ID=request_id, Version="2.0",
                            IssueInstant=instant(now), Destination=destination,
                            NotOnOrAfter=instant(now + lifetime))
    _issuer(request, idp_entity_id)
    name = etree.SubElement(request, q(SAML, "NameID"), Format=name_id_format)
    for attribute, value in _qualifiers(idp_entity_id, service_entity_id, name_id_format, qualify_name_id).items():
        name.set(attribute, value)
    name.text = name_id
    etree.SubElement(request, q(SAMLP, "SessionIndex")).text = session_index
    signed = key.sign(request) if key else request
    return request_id, etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
