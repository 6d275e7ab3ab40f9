"""What services send, read into plain values: the protocol edge (SATOSA's
idea) so nothing past it handles XML."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from idp.saml_xml import DS, SAML, SAMLP, XmlRefused, parse_instant, q


class MessageError(ValueError):
    """A message that is well-formed XML but not a usable SAML message."""


@dataclass(frozen=True)
class AuthnRequest:
    id: str
    issuer: str
    issue_instant: datetime
    destination: str | None = None
    acs_url: str | None = None
    acs_index: int | None = None
    protocol_binding: str | None = None
    force_authn: bool = False
    is_passive: bool = False
    name_id_format: str | None = None
    allow_create: bool = True
    requested_contexts: tuple[str, ...] = ()
    context_comparison: str = "exact"
    signed: bool = False  # carries an enveloped XML signature (HTTP-POST)


@dataclass(frozen=True)
class LogoutRequest:
    """What Single Logout checks a service's request against (idp/logout_rules.py): where it was
    sent, when, and whom and which session it names."""

    id: str
    issuer: str
    issue_instant: datetime
    name_id: str | None
    session_indexes: tuple[str, ...] = ()
    destination: str | None = None
    signed: bool = False
    name_id_format: str | None = None  # the NameID's Format attribute, None when it has none


@dataclass(frozen=True)
class LogoutResponse:
    id: str
    issuer: str
    in_response_to: str | None
    status: str
    signed: bool = False
    extras: dict = field(default_factory=dict)
    destination: str | None = None


def _boolean(value: str | None) -> bool:
    return (value or "").strip() in ("true", "1")


def _common(root: etree._Element, tag: str) -> tuple[str, str, datetime]:
    if root.tag != q(SAMLP, tag):
        local = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise MessageError(f"expected a {tag}, got {local}")
    if root.get("Version") != "2.0":
        raise MessageError("not a SAML 2.0 message (Version)")
    message_id = root.get("ID")
    if not message_id or len(message_id) > 256:
        raise MessageError("the message has no usable ID")
    issuer = root.findtext(q(SAML, "Issuer"))
    if not issuer or not issuer.strip():
        raise MessageError("the message names no Issuer")
    issued = parse_instant(root.get("IssueInstant"))
    if issued is None:
        raise MessageError("the message has no valid IssueInstant")
    return message_id, issuer.strip(), issued


def _signed(root: etree._Element) -> bool:
    return root.find(q(DS, "Signature")) is not None


def read_authn_request(root: etree._Element) -> AuthnRequest:
    message_id, issuer, issued = _common(root, "AuthnRequest")
    policy = root.find(q(SAMLP, "NameIDPolicy"))
    requested = root.find(q(SAMLP, "RequestedAuthnContext"))
    index = root.get("AssertionConsumerServiceIndex")
    try:
        acs_index = int(index) if index is not None else None
    except ValueError:
        raise MessageError("AssertionConsumerServiceIndex is not a number") from None
    return AuthnRequest(
        id=message_id,
        issuer=issuer,
        issue_instant=issued,
        destination=root.get("Destination"),
        acs_url=root.get("AssertionConsumerServiceURL"),
        acs_index=acs_index,
        protocol_binding=root.get("ProtocolBinding"),
        force_authn=_boolean(root.get("ForceAuthn")),
        is_passive=_boolean(root.get("IsPassive")),
        name_id_format=policy.get("Format") if policy is not None else None,
        allow_create=_boolean(policy.get("AllowCreate", "true")) if policy is not None else True,
        requested_contexts=tuple((ref.text or "").strip() for ref in requested.findall(q(SAML, "AuthnContextClassRef")))
        if requested is not None else (),
        context_comparison=(requested.get("Comparison") or "exact") if requested is not None else "exact",
        signed=_signed(root),
    )


def read_logout_request(root: etree._Element) -> LogoutRequest:
    message_id, issuer, issued = _common(root, "LogoutRequest")
    # Only a NameID directly in the request names the person (saml-core 3.7.1); an encrypted
    # one (EncryptedID) is never one Porth issued, since Porth encrypts assertions, not NameIDs.
    name = root.find(q(SAML, "NameID"))
    name_id = name.text if name is not None else None
    return LogoutRequest(
        id=message_id,
        issuer=issuer,
        issue_instant=issued,
        name_id=name_id.strip() if name_id else None,
        session_indexes=tuple((s.text or "").strip() for s in root.findall(q(SAMLP, "SessionIndex"))),
        destination=root.get("Destination"),
        signed=_signed(root),
        name_id_format=name.get("Format") if name is not None else None,
    )


def read_logout_response(root: etree._Element) -> LogoutResponse:
    message_id, issuer, _issued = _common(root, "LogoutResponse")
    code = root.find(f"{q(SAMLP, 'Status')}/{q(SAMLP, 'StatusCode')}")
    return LogoutResponse(id=message_id, issuer=issuer, in_response_to=root.get("InResponseTo"),
                          status=code.get("Value", "") if code is not None else "", signed=_signed(root),
                          destination=root.get("Destination"))


def message_kind(root: etree._Element) -> str:
    if not isinstance(root.tag, str) or not root.tag.startswith(f"{{{SAMLP}}}"):
        raise XmlRefused("not a SAML protocol message")
    return etree.QName(root).localname
