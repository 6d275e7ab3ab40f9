"""SAML's XML: namespaces, a hardened parser, and small helpers.

Every document that reaches Porth from outside (AuthnRequests, LogoutRequests,
service metadata) goes through `parse`: no DTD at all (so no entity
expansion, no external entities, no billion laughs), no network access, and
a size limit, before lxml builds a tree.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
NS = {"samlp": SAMLP, "saml": SAML, "md": MD, "ds": DS, "xenc": XENC, "xsi": XSI, "xs": XS}

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_VERSION_MISMATCH = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch"
STATUS_NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
STATUS_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
STATUS_NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
STATUS_INVALID_NAME_ID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
STATUS_AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
STATUS_PARTIAL_LOGOUT = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
STATUS_REQUEST_UNSUPPORTED = "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported"
# saml-core 3.2.2.2: a Status has one of four top-level codes, saying on whose side the failure is;
# a second-level code, which says what it is, goes under one of them.
TOP_LEVEL_STATUSES = frozenset({STATUS_SUCCESS, STATUS_REQUESTER, STATUS_RESPONDER, STATUS_VERSION_MISMATCH})
# The top-level code each second-level code Porth sends goes under (tests/unit/test_saml_status.py):
TOP_LEVEL_OF = {
    # The request is refused for what it is (unsigned, badly signed, replayed, expired, addressed
    # elsewhere): the requester's failure, not Porth's.
    STATUS_REQUEST_DENIED: STATUS_REQUESTER,
    STATUS_INVALID_NAME_ID_POLICY: STATUS_REQUESTER,  # a NameID format Porth does not offer
    STATUS_NO_AUTHN_CONTEXT: STATUS_REQUESTER,  # a context Porth does not provide
    STATUS_REQUEST_UNSUPPORTED: STATUS_REQUESTER,
    # Porth cannot do what was asked of it: sign in without asking, authenticate, end every session.
    STATUS_NO_PASSIVE: STATUS_RESPONDER,
    STATUS_AUTHN_FAILED: STATUS_RESPONDER,
    STATUS_PARTIAL_LOGOUT: STATUS_RESPONDER,
}


def status_codes(code: str) -> tuple[str, ...]:
    """The StatusCode values, outermost first, that a Status saying `code` carries."""
    if code in TOP_LEVEL_STATUSES:
        return (code,)
    return (TOP_LEVEL_OF.get(code, STATUS_RESPONDER), code)

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
# Authentication context class names, not passwords (hence the noqa: S105).
AUTHN_PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"  # noqa: S105
AUTHN_PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"  # noqa: S105
AUTHN_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
# Issue 18: a sign-in with a badge (a QR card, maybe with a PIN). SAML defines no class for it, so
# it is Porth's own, under Porth's OID arc (config/ldap/porth-schema.ldif): never taken for a password.
AUTHN_BADGE = "urn:oid:2.25.298160738874564124985748203221283306760.3.1"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

MAX_MESSAGE_BYTES = 256 * 1024  # an AuthnRequest is ~1-4 KB; metadata files are read with their own limit


class XmlRefused(ValueError):
    """A document Porth will not read; str() says why in one line."""


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)
_DTD_REFUSED = "the document has a DTD, which SAML messages must not carry"


class _DoctypeSeen(Exception):
    pass


class _RootReached(Exception):
    pass


class _DoctypeWatch:
    """A parser target that stops at the first thing it is told of: a DOCTYPE (refused) or the
    root element (a DTD can only come before it, so there is none). The parser has already
    decoded the document (UTF-8, UTF-16 LE or BE with or without a BOM, any declared encoding),
    so no spelling of `<!DOCTYPE` in some encoding's bytes slips past, and nothing of the
    internal subset (entity declarations) is read."""

    def doctype(self, *_: object) -> None:
        raise _DoctypeSeen

    def start(self, tag: object, attrib: object) -> None:
        raise _RootReached

    # The rest of lxml's target interface: nothing before the root element needs them.
    def comment(self, text: object) -> None:
        return None

    def data(self, data: object) -> None:
        return None

    def end(self, tag: object) -> None:
        return None

    def close(self) -> None:
        return None


# One watching parser per thread, made on first use: lxml inspects a parser target's methods
# (inspect.getfullargspec) when the parser is made, which cost most of the check per AuthnRequest
# (bench/login_profile.py). The watch keeps no state between documents, and lxml resets a parser
# for each document it reads; a parser is never shared between threads (lxml's advice).
_watchers = threading.local()


def _doctype_watcher() -> etree.XMLParser:
    watcher = getattr(_watchers, "parser", None)
    if watcher is None:
        watcher = _watchers.parser = etree.XMLParser(target=_DoctypeWatch(), resolve_entities=False,
                                                     no_network=True, load_dtd=False)
    return watcher


def _has_doctype(document: bytes) -> bool:
    watcher = _doctype_watcher()
    try:
        etree.fromstring(document, watcher)
    except _DoctypeSeen:
        return True
    except (_RootReached, etree.XMLSyntaxError):
        return False  # no DTD before the root; a syntax error is reported by the real parse below
    return False


def parse(document: bytes, limit: int = MAX_MESSAGE_BYTES) -> etree._Element:
    if len(document) > limit:
        raise XmlRefused(f"the document is larger than {limit // 1024} KiB")
    # Refused before the tree is built, not merely left unexpanded: SAML never needs a DTD.
    if _has_doctype(document):
        raise XmlRefused(_DTD_REFUSED)
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise XmlRefused(f"not well-formed XML: {exc.msg}") from None
    if root is None:
        raise XmlRefused("an empty document")
    # The parsed document itself says whether it had one: a second line behind the watch above.
    docinfo = root.getroottree().docinfo  # any DOCTYPE at all gives an internalDTD, even without a subset
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRefused(_DTD_REFUSED)
    return root


QUOTED_CHARACTERS = 100  # an Issuer or URL longer than this is cut where a page, a log or a StatusMessage shows it


def quoted(value: object) -> str:
    """A value from a message as a page, the log or a StatusMessage may show it: repr() escapes control
    characters and line breaks (no forged log lines), and a long one is cut (a page never carries 256 KiB
    of someone else's Issuer; saml2int SDP-G02 caps what Porth writes at 256 characters)."""
    text = repr(value)
    return text if len(text) <= QUOTED_CHARACTERS else text[:QUOTED_CHARACTERS - 1] + "…"


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def new_id() -> str:
    """An xs:ID: must not start with a digit; 160 bits of randomness (saml-core 1.3.4)."""
    return "_" + secrets.token_hex(20)


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str | None) -> datetime | None:
    if not text:
        return None
    cleaned = text.strip().replace("Z", "+00:00")
    if "." in cleaned:  # fractional seconds of any length
        head, _, tail = cleaned.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits):]
        cleaned = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
