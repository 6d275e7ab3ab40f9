"""The XML Porth sends: signed Responses (with or without an assertion) and
logout messages. Built with lxml from plain values; signed in process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from idp.attributes import ReleasedAttribute
from idp.encryption import encrypt_assertion
from idp.saml_xml import (
    ATTRNAME_URI,
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
)
from idp.services import Service
from idp.signing import SigningKey

_NSMAP = {"samlp": SAMLP, "saml": SAML}
# First-level code each second-level status goes under (saml-core 3.2.2.2).
_TOP_LEVEL = {
    "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext": "urn:oasis:names:tc:SAML:2.0:status:Requester",
    "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy": "urn:oasis:names:tc:SAML:2.0:status:Requester",
    "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported": "urn:oasis:names:tc:SAML:2.0:status:Requester",
}
_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"


@dataclass(frozen=True)
class SignInFacts:
    """The session a Response vouches for."""

    authn_instant: datetime
    session_index: str
    session_not_on_or_after: datetime


@dataclass(frozen=True)
class Timing:
    now: datetime
    clock_skew: timedelta
    lifetime: timedelta


def _issuer(parent: etree._Element, entity_id: str) -> None:
    etree.SubElement(parent, q(SAML, "Issuer")).text = entity_id


def _status(parent: etree._Element, code: str, message: str | None = None) -> None:
    status = etree.SubElement(parent, q(SAMLP, "Status"))
    if code in (STATUS_SUCCESS, _RESPONDER, "urn:oasis:names:tc:SAML:2.0:status:Requester",
                "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch"):
        etree.SubElement(status, q(SAMLP, "StatusCode"), Value=code)
    else:
        top = etree.SubElement(status, q(SAMLP, "StatusCode"), Value=_TOP_LEVEL.get(code, _RESPONDER))
        etree.SubElement(top, q(SAMLP, "StatusCode"), Value=code)
    if message:
        etree.SubElement(status, q(SAMLP, "StatusMessage")).text = message


def _response(idp_entity_id: str, destination: str, in_response_to: str | None, now: datetime) -> etree._Element:
    response = etree.Element(q(SAMLP, "Response"), nsmap=_NSMAP, ID=new_id(), Version="2.0",
                             IssueInstant=instant(now), Destination=destination)
    if in_response_to:
        response.set("InResponseTo", in_response_to)
    _issuer(response, idp_entity_id)
    return response


def _assertion(idp_entity_id: str, service: Service, destination: str, in_response_to: str | None,
               name_id: str, name_id_format: str, attributes: list[ReleasedAttribute], facts: SignInFacts,
               timing: Timing) -> etree._Element:
    now = timing.now
    assertion = etree.Element(q(SAML, "Assertion"), nsmap={"saml": SAML, "xs": XS, "xsi": XSI}, ID=new_id(),
                              Version="2.0", IssueInstant=instant(now))
    _issuer(assertion, idp_entity_id)
    subject = etree.SubElement(assertion, q(SAML, "Subject"))
    name = etree.SubElement(subject, q(SAML, "NameID"), Format=name_id_format)
    if name_id_format != NAMEID_TRANSIENT:
        name.set("NameQualifier", idp_entity_id)
        name.set("SPNameQualifier", service.entity_id)
    name.text = name_id
    confirmation = etree.SubElement(subject, q(SAML, "SubjectConfirmation"), Method=CM_BEARER)
    data = etree.SubElement(confirmation, q(SAML, "SubjectConfirmationData"),
                            NotOnOrAfter=instant(now + timing.lifetime), Recipient=destination)
    if in_response_to:
        data.set("InResponseTo", in_response_to)
    conditions = etree.SubElement(assertion, q(SAML, "Conditions"), NotBefore=instant(now - timing.clock_skew),
                                  NotOnOrAfter=instant(now + timing.lifetime))
    restriction = etree.SubElement(conditions, q(SAML, "AudienceRestriction"))
    etree.SubElement(restriction, q(SAML, "Audience")).text = service.entity_id
    statement = etree.SubElement(assertion, q(SAML, "AuthnStatement"), AuthnInstant=instant(facts.authn_instant),
                                 SessionIndex=facts.session_index,
                                 SessionNotOnOrAfter=instant(facts.session_not_on_or_after))
    context = etree.SubElement(statement, q(SAML, "AuthnContext"))
    etree.SubElement(context, q(SAML, "AuthnContextClassRef")).text = AUTHN_PASSWORD_PROTECTED
    if attributes:
        attribute_statement = etree.SubElement(assertion, q(SAML, "AttributeStatement"))
        for attribute in attributes:
            element = etree.SubElement(attribute_statement, q(SAML, "Attribute"), Name=attribute.uri,
                                       NameFormat=ATTRNAME_URI, FriendlyName=attribute.friendly_name)
            for value in attribute.values:
                value_element = etree.SubElement(element, q(SAML, "AttributeValue"))
                value_element.set(q(XSI, "type"), "xs:string")
                value_element.text = value
    return assertion


def authn_response(*, key: SigningKey, idp_entity_id: str, service: Service, destination: str,
                   in_response_to: str | None, name_id: str, name_id_format: str,
                   attributes: list[ReleasedAttribute], facts: SignInFacts, timing: Timing) -> bytes:
    """A signed Response carrying one signed (and, if the service offers a key, encrypted) assertion."""
    assertion = key.sign(_assertion(idp_entity_id, service, destination, in_response_to, name_id, name_id_format,
                                    attributes, facts, timing))
    if service.encryption_certificates:
        assertion = encrypt_assertion(assertion, service.encryption_certificates[0])
    response = _response(idp_entity_id, destination, in_response_to, timing.now)
    _status(response, STATUS_SUCCESS)
    response.append(assertion)
    return etree.tostring(key.sign(response), xml_declaration=True, encoding="UTF-8")


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
                   lifetime: timedelta) -> tuple[str, bytes]:
    request_id = new_id()
    request = etree.Element(q(SAMLP, "LogoutRequest"), nsmap=_NSMAP, ID=request_id, Version="2.0",
                            IssueInstant=instant(now), Destination=destination,
                            NotOnOrAfter=instant(now + lifetime))
    _issuer(request, idp_entity_id)
    name = etree.SubElement(request, q(SAML, "NameID"), Format=name_id_format)
    if name_id_format != NAMEID_TRANSIENT:
        name.set("NameQualifier", idp_entity_id)
        name.set("SPNameQualifier", service_entity_id)
    name.text = name_id
    etree.SubElement(request, q(SAMLP, "SessionIndex")).text = session_index
    signed = key.sign(request) if key else request
    return request_id, etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
