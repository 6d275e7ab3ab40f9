"""An incoming AuthnRequest checked against the service registry and the
rules of saml2int, turned into either a pending sign-in or a refusal.

A refusal goes back to the service as a SAML Response (`to_service`) when
the service is registered and a listed AssertionConsumerService is known;
otherwise (unknown service, unlisted ACS URL, unreadable message) it can
only be an error page, because Porth never sends a Response anywhere the
metadata does not list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from idp import authn_contexts, bindings, signing
from idp.messages import AuthnRequest, MessageError, read_authn_request
from idp.saml_xml import (
    AUTHN_UNSPECIFIED,
    BINDING_POST,
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    NAMEID_UNSPECIFIED,
    STATUS_INVALID_NAME_ID_POLICY,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_PASSIVE,
    STATUS_REQUEST_DENIED,
    XmlRefused,
    parse,
    quoted,
)
from idp.services import Service, ServiceRegistry

# A NameID mode (a service policy's `name_id`) and the Format it is sent in.
NAME_ID_FORMATS = {"persistent": NAMEID_PERSISTENT, "transient": NAMEID_TRANSIENT, "email": NAMEID_EMAIL,
                   "immutable-id": NAMEID_PERSISTENT}
# The mode a request's NameIDPolicy Format asks for, where the service's policy lets it choose.
_MODE_OF_FORMAT = {NAMEID_PERSISTENT: "persistent", NAMEID_TRANSIENT: "transient", NAMEID_EMAIL: "email"}


@dataclass(frozen=True)
class Pending:
    """A sign-in waiting to be answered: everything needed to send the Response later."""

    service: str  # entityID
    acs_url: str
    request_id: str | None  # None: IdP-initiated
    relay_state: str | None
    name_id_format: str
    force_authn: bool = False
    is_passive: bool = False
    name_id_mode: str = "persistent"  # a key of NAME_ID_FORMATS: what the NameID's value is
    # Issue 18 point 3: the request names a password context (RequestedAuthnContext), which a
    # badge, or a session begun with one, never meets.
    asks_password: bool = False
    # Issue 18 point 8: the RequestedAuthnContext (what the Response's AuthnContextClassRef answers),
    # and whether it asks for a second factor after the password.
    requested_contexts: tuple[str, ...] = ()
    context_comparison: str = "exact"
    second_factor: bool = False

    def to_dict(self) -> dict[str, Any]:
        # Shallow: every value is a str, a bool, None or a tuple of str, which dataclasses.asdict
        # copied deeply, field by field, for each token that carries a pending sign-in.
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pending:
        """What to_dict wrote, read back from a token Porth signed: the required fields are all there
        (a token signed before the mode was carried names its format only: the mode follows from it)."""
        name_id_format = data["name_id_format"]
        return cls(service=data["service"], acs_url=data["acs_url"], request_id=data.get("request_id"),
                   relay_state=data.get("relay_state"), name_id_format=name_id_format,
                   force_authn=bool(data.get("force_authn")), is_passive=bool(data.get("is_passive")),
                   name_id_mode=data.get("name_id_mode") or _MODE_OF_FORMAT.get(name_id_format, "persistent"),
                   asks_password=bool(data.get("asks_password")),
                   requested_contexts=tuple(data.get("requested_contexts") or ()),
                   context_comparison=data.get("context_comparison") or "exact",
                   second_factor=bool(data.get("second_factor")))


# What a person is told of a refused request, in their language (idp.views.page_reason).
PAGE_UNREADABLE = "unreadable"  # the request cannot be read at all
PAGE_UNREGISTERED = "unregistered"  # no such service is registered
PAGE_NOT_ACCEPTED = "not-accepted"  # a registered service asks for what Porth does not do


@dataclass(frozen=True)
class Refused:
    """Why a request is refused: sent to the service when `to_service` is set, else shown as a page."""

    reason: str  # one line of technical English, for the log and the service's StatusMessage
    status: str = STATUS_REQUEST_DENIED
    to_service: Pending | None = None
    # What the person is told when there is no service to answer (idp/views.py words it in
    # their language): one of the PAGE_ constants.
    page: str = PAGE_NOT_ACCEPTED


@dataclass(frozen=True)
class IntakeRules:
    # This IdP's SSO endpoints by binding ("redirect", "post"). A Destination must name the one the request
    # arrived at (saml-core 3.2.1, saml-bindings 3.4.5.2/3.5.5.2), not merely any of Porth's.
    sso_urls: Mapping[str, str]
    clock_skew: timedelta
    max_age: timedelta
    require_signed: bool
    allow_sha1: bool


@dataclass(frozen=True)
class Received:
    """An AuthnRequest as it arrived on one of the two bindings."""

    document: bytes
    relay_state: str | None
    binding: str  # "redirect" or "post": where it arrived, which is what its Destination must name
    redirect_octets: bytes | None = None  # Redirect binding: what the query-string signature covers
    sig_alg: str | None = None
    signature: str | None = None


def receive_redirect(query_string: bytes) -> Received:
    raw = bindings.raw_query_values(query_string)
    if "SAMLRequest" not in raw:
        raise bindings.BindingError("no SAMLRequest in the query string")
    relay = bindings.decoded(raw["RelayState"]) if "RelayState" in raw else None
    return Received(document=bindings.decode_redirect(bindings.decoded(raw["SAMLRequest"])), relay_state=relay,
                    binding="redirect", redirect_octets=bindings.redirect_signed_octets(raw, "SAMLRequest"),
                    sig_alg=bindings.decoded(raw["SigAlg"]) if "SigAlg" in raw else None,
                    signature=bindings.decoded(raw["Signature"]) if "Signature" in raw else None)


def receive_post(form_value: str | None, relay_state: str | None) -> Received:
    if not form_value:
        raise bindings.BindingError("no SAMLRequest in the form")
    return Received(document=bindings.decode_post(form_value), relay_state=relay_state, binding="post")


def _signature_problem(received: Received, request: AuthnRequest, certificates: tuple[x509.Certificate, ...],
                       required: bool, allow_sha1: bool, root) -> str | None:
    try:
        if received.redirect_octets is not None:
            signing.verify_redirect(received.redirect_octets, received.sig_alg or "", received.signature or "",
                                    certificates, allow_sha1)
        elif request.signed:
            signing.verify_enveloped(root, certificates, allow_sha1)
        elif required:
            return "the service must sign its requests and this one is not signed"
    except signing.SignatureRefused as exc:
        return str(exc)
    return None


def check_request(received: Received, registry: ServiceRegistry, rules: IntakeRules, now: datetime,
                  first_use) -> Pending | Refused:
    """`first_use(issuer, id, keep_until)` records the request ID and says whether it is new."""
    try:
        root = parse(received.document)
        request = read_authn_request(root)
    except (XmlRefused, MessageError) as exc:
        return Refused(f"the sign-in request cannot be read: {exc}", page=PAGE_UNREADABLE)
    if received.relay_state is not None and len(received.relay_state) > 1024:
        return Refused("the RelayState is too long")
    service = registry.get(request.issuer)
    if service is None:
        return Refused(f"the service {quoted(request.issuer)} is not registered with Porth", page=PAGE_UNREGISTERED)
    if request.protocol_binding and request.protocol_binding != BINDING_POST:
        return Refused(f"{service.name} asks for the answer over {quoted(request.protocol_binding)}; Porth answers "
                       "over HTTP-POST only")
    consumer = service.consumer_for(request.acs_url, request.acs_index)
    if consumer is None:
        return Refused(f"{service.name} asks for the answer at an address its metadata does not list "
                       f"({quoted(request.acs_url or request.acs_index)})")
    answer = Pending(service=service.entity_id, acs_url=consumer.location, request_id=request.id,
                     relay_state=received.relay_state, name_id_format=NAME_ID_FORMATS[service.name_id],
                     force_authn=request.force_authn, name_id_mode=service.name_id)

    def refuse(reason: str, status: str = STATUS_REQUEST_DENIED) -> Refused:
        return Refused(reason, status, answer)

    problem = _signature_problem(received, request, service.signing_certificates,
                                 rules.require_signed or service.authn_requests_signed,
                                 rules.allow_sha1 or service.accept_sha1_request_signatures, root)
    if problem:
        return refuse(f"{service.name}: {problem}")
    # A missing Destination stays accepted even on a signed request, against saml-bindings' MUST: Microsoft's
    # published AuthnRequest (what Entra sends, signed when the tenant asks) carries none, and the Response still
    # goes only to an ACS the service's metadata lists.
    if request.destination is not None and request.destination != rules.sso_urls[received.binding]:
        return refuse(f"{service.name}: the request is addressed to {quoted(request.destination)}, not to the "
                      f"endpoint it was sent to")
    if request.issue_instant > now + rules.clock_skew:
        return refuse(f"{service.name}: the request is dated in the future")
    if request.issue_instant < now - rules.max_age:
        return refuse(f"{service.name}: the request has expired")
    if not first_use(request.issuer, request.id, request.issue_instant + rules.max_age + rules.clock_skew):
        return refuse(f"{service.name}: the request was already used (replayed)")
    if request.name_id_format and request.name_id_format != NAMEID_UNSPECIFIED:
        if request.name_id_format not in _MODE_OF_FORMAT:
            return refuse(f"{service.name}: NameID format {quoted(request.name_id_format)} is not offered",
                          STATUS_INVALID_NAME_ID_POLICY)
        if service.name_id == "immutable-id":
            # The policy pins the NameID: a request for `persistent` (what Entra asks for) gets the
            # immutable id, never Porth's own pairwise persistent id, which Entra cannot match.
            if request.name_id_format != NAMEID_PERSISTENT:
                return refuse(f"{service.name}: its policy sends the immutable id as a persistent NameID only, "
                              f"not {quoted(request.name_id_format)}", STATUS_INVALID_NAME_ID_POLICY)
        else:
            answer = replace(answer, name_id_format=request.name_id_format,
                             name_id_mode=_MODE_OF_FORMAT[request.name_id_format])
    # A request for a second factor (REFEDS MFA, Microsoft's multipleauthn) is met by asking for one
    # after the password (issue 18 point 8); NoAuthnContext only for what Porth cannot give at all,
    # or later, for an account with no second factor (idp/views.py).
    needed = authn_contexts.need(request.requested_contexts, request.context_comparison)
    if needed is authn_contexts.Need.UNMET:
        return refuse(f"{service.name}: asks for an authentication context Porth does not provide",
                      STATUS_NO_AUTHN_CONTEXT)
    if request.is_passive and request.force_authn:
        return refuse(f"{service.name}: ForceAuthn and IsPassive together cannot be met", STATUS_NO_PASSIVE)
    return replace(answer, is_passive=request.is_passive,
                   asks_password=any(c != AUTHN_UNSPECIFIED for c in request.requested_contexts),
                   requested_contexts=request.requested_contexts, context_comparison=request.context_comparison,
                   second_factor=needed is authn_contexts.Need.SECOND_FACTOR)


def idp_initiated(service: Service | None, relay_state: str | None) -> Pending | Refused:
    if service is None:
        return Refused("that service is not registered with Porth", page=PAGE_UNREGISTERED)
    if not service.idp_initiated:
        return Refused(f"{service.name} does not take sign-ins started at Porth")
    if relay_state is not None and len(relay_state) > 1024:
        return Refused("the RelayState is too long")
    consumer = service.consumer_for(None, None)
    if consumer is None:  # never: idp/services.py refuses a service without one when it loads
        return Refused(f"{service.name} lists no HTTP-POST address for the answer")
    return Pending(service=service.entity_id, acs_url=consumer.location, request_id=None, relay_state=relay_state,
                   name_id_format=NAME_ID_FORMATS[service.name_id], name_id_mode=service.name_id)
