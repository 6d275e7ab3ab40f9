"""Signing out: SAML Single Logout with the services of a session, and Porth's own sign-out page.

    GET  /idp/slo/redirect, POST /idp/slo/post   a service's LogoutRequest or LogoutResponse
    GET  /idp/slo/continue                       a posted message, checked, carried to a GET
    GET  /idp/logout, POST                       sign out here (and of the services that support SLO)

Ending a session asks each service used in it that has a logout endpoint to
log out too, one after the other through the browser (front channel), then
answers the service that asked (or shows the signed-out page).

Only the right party ends a session (issue 15 point 2, saml2int SDP-IDP26): a service's
LogoutRequest must be signed, or come from a service without signing keys (or whose policy
allows it) and name exactly the NameID and SessionIndex Porth gave that service in this
browser's session; every LogoutRequest must name this endpoint as its Destination, be fresh
and be used once (idp/logout_rules.py). Otherwise the session stays and the service is
answered RequestDenied. A service's LogoutResponse that fails its checks does not stop the
sign-out on an error page: that service is counted as not signed out (PartialLogout).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature

from idp import bindings
from idp.logout_rules import Freshness, Outcome, delivery_problem, logout_verdict
from idp.messages import LogoutRequest, LogoutResponse, MessageError, read_logout_request, read_logout_response
from idp.responses import logout_request, logout_response
from idp.saml_xml import (
    BINDING_POST,
    BINDING_REDIRECT,
    STATUS_PARTIAL_LOGOUT,
    STATUS_REQUEST_DENIED,
    STATUS_SUCCESS,
    XmlRefused,
    parse,
    parse_instant,
)
from idp.services import Service
from idp.signing import SignatureRefused, sign_redirect_query, verify_enveloped, verify_redirect
from idp.sso_session import SESSION_KEY, identity_provider, live_session, post_to, problem, signed_tokens, utc_now

log = logging.getLogger("porth.idp")

# Its own blueprint beside the sign-in one (idp/views.py), under the same /idp prefix.
blueprint = Blueprint("idp_logout", __name__, url_prefix="/idp")


# What the person reads of a refused sign-out message, in their language; the technical reason
# (for the service's people) goes to the log (idp.sso_session.problem).
def unreadable_sign_out() -> str:
    return _("The service you came from sent a sign-out message that Porth cannot read.")


def refused_sign_out() -> str:
    return _("The service you came from sent a sign-out message that Porth cannot accept.")


CONTINUE_MAX_AGE = 60  # seconds a posted message's token is good for at /idp/slo/continue


def _logout_query(service: Service, message_kind: str, document: bytes, relay_state: str | None) -> str:
    return sign_redirect_query(bindings.redirect_query(message_kind, document, relay_state), identity_provider().key)


def _signed_out_page(partial: bool):
    return render_template("idp/signed_out.html", partial=partial)


def _next_logout_step():
    """Ask the next service of the ending session to log out (front channel), or finish."""
    state = session.get("logout")
    provider = identity_provider()
    while state and state["remaining"]:
        entity_id, sent_as = state["remaining"].pop(0)
        # [format, value, qualified] as idp/views.py recorded it (a session from before carries two)
        name_id_format, name_id, qualify = [*sent_as, True][:3]
        service = provider.services.get(entity_id)
        endpoint = service.logout_endpoint() if service else None
        if endpoint is None:
            continue
        request_id, document = logout_request(
            key=provider.key if endpoint.binding == BINDING_POST else None, idp_entity_id=provider.entity_id,
            destination=endpoint.location, name_id=name_id, name_id_format=name_id_format,
            service_entity_id=entity_id, session_index=state["session_index"], now=utc_now(),
            lifetime=timedelta(minutes=5), qualify_name_id=bool(qualify))
        # The one LogoutResponse this step waits for: from this service, in response to this request.
        state["awaiting"] = {"service": entity_id, "request_id": request_id}
        session["logout"] = state
        if endpoint.binding == BINDING_REDIRECT:
            separator = "&" if "?" in endpoint.location else "?"
            return redirect(endpoint.location + separator + _logout_query(service, "SAMLRequest", document, None), 303)
        return post_to(endpoint.location, "SAMLRequest", document, None)
    session.pop("logout", None)
    initiator = state.get("initiator") if state else None
    partial = bool(state and state.get("partial"))
    if initiator:
        return _answer_logout(initiator, STATUS_PARTIAL_LOGOUT if partial else STATUS_SUCCESS, partial)
    return _signed_out_page(partial)


def _answer_logout(initiator: dict, status: str, partial: bool = False):
    """The signed LogoutResponse to the service that asked (at its metadata's endpoint only)."""
    provider = identity_provider()
    service = provider.services.get(initiator["service"])
    endpoint = service.logout_endpoint() if service else None
    if service is None or endpoint is None:
        return _signed_out_page(partial)
    destination = endpoint.response_location or endpoint.location
    document = logout_response(key=provider.key if endpoint.binding == BINDING_POST else None,
                               idp_entity_id=provider.entity_id, destination=destination,
                               in_response_to=initiator["request_id"], status=status, now=utc_now())
    if endpoint.binding == BINDING_REDIRECT:
        separator = "&" if "?" in destination else "?"
        return redirect(destination + separator + _logout_query(service, "SAMLResponse", document,
                                                               initiator.get("relay_state")), 303)
    return post_to(destination, "SAMLResponse", document, initiator.get("relay_state"))


def _end_session(initiator: dict | None):
    sso = session.pop(SESSION_KEY, None) or {}
    others = [(entity, value) for entity, value in sso.get("services", {}).items()
              if not initiator or entity != initiator["service"]]
    session["logout"] = {"remaining": others, "session_index": sso.get("session_index", ""),
                         "initiator": initiator}
    return _next_logout_step()


def _freshness() -> Freshness:
    settings = identity_provider().settings.idp
    return Freshness(clock_skew=timedelta(seconds=settings.clock_skew_seconds),
                     max_age=timedelta(seconds=settings.request_max_age_seconds))


def _refuse_request(service: Service, request_id: str, relay_state: str | None, reason: str):
    """The session stays; the service hears why in a status, not a silent sign-out (saml-core 3.2.2.2:
    RequestDenied, the requester's failure). Without a logout endpoint it can only be a page."""
    if service.logout_endpoint() is None:
        return problem(refused_sign_out(), detail=f"{service.name}: {reason}")
    log.warning("logout request from %s refused: %s", service.name, reason)
    return _answer_logout({"service": service.entity_id, "request_id": request_id, "relay_state": relay_state},
                          STATUS_REQUEST_DENIED)


def _verify(root, redirect_raw: dict[str, str] | None, field: str, service: Service) -> bool:
    """Whether the message carries a signature, which then verifies (else SignatureRefused):
    the query string's on the Redirect binding, the enveloped one otherwise."""
    provider = identity_provider()
    allow_sha1 = provider.settings.idp.allow_sha1_requests or service.accept_sha1_request_signatures
    octets = bindings.redirect_signed_octets(redirect_raw, field) if redirect_raw else None
    if redirect_raw and octets is not None:  # octets come only with the redirect's raw query
        verify_redirect(octets, bindings.decoded(redirect_raw["SigAlg"]),
                        bindings.decoded(redirect_raw["Signature"]), service.signing_certificates, allow_sha1)
        return True
    if root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None:
        verify_enveloped(root, service.signing_certificates, allow_sha1)
        return True
    return False


def _unsigned_refused(service: Service) -> bool:
    """saml2int SDP-IDP26: a service that can sign must. One without a key cannot; nor, where its
    policy says so, one whose software sends its LogoutRequests unsigned."""
    idp_settings = identity_provider().settings.idp
    if idp_settings.require_signed_requests or service.authn_requests_signed:
        return True
    return bool(service.signing_certificates) and not service.accept_unsigned_logout_requests


def _failed_response(reason: str) -> dict:
    return {"kind": "LogoutResponse", "failure": reason}


def _read_logout(document: bytes, field: str, redirect_raw: dict[str, str] | None, arrived_at: str,
                 relay_state: str | None):
    """A service's message, checked as far as it can be without the browser's session: a dict of
    the values acting on it needs, or (for a LogoutRequest that is refused) the answer to send."""
    provider = identity_provider()
    now = utc_now()
    try:
        root = parse(document)
        # The field says which message it must be; the readers refuse the other kind.
        message = read_logout_response(root) if field == "SAMLResponse" else read_logout_request(root)
    except (XmlRefused, MessageError) as exc:
        if field == "SAMLResponse":
            return _failed_response(f"the logout response cannot be read: {exc}")
        return problem(unreadable_sign_out(), detail=f"the logout message cannot be read: {exc}")
    service = provider.services.get(message.issuer)
    if service is None:
        if field == "SAMLResponse":
            return _failed_response("the logout response comes from a service not registered with Porth")
        return problem(_("The service that sent this sign-out message is not registered with Porth."))
    try:
        signed = _verify(root, redirect_raw, field, service)
    except SignatureRefused as exc:
        if field == "SAMLResponse":
            return _failed_response(f"{service.name}: {exc}")
        return _refuse_request(service, message.id, relay_state, str(exc))
    if isinstance(message, LogoutResponse):
        if not signed and service.signing_certificates:
            return _failed_response(f"{service.name}: the logout response is not signed")
        issued = parse_instant(root.get("IssueInstant"))
        late = delivery_problem(destination=message.destination, arrived_at=arrived_at, issued=issued, now=now,
                                freshness=_freshness(), destination_required=signed)
        if late:
            return _failed_response(f"{service.name}: {late}")
        return {"kind": "LogoutResponse", "service": service.entity_id, "id": message.id, "failure": None,
                "in_response_to": message.in_response_to, "status": message.status}
    if not signed and _unsigned_refused(service):
        return _refuse_request(service, message.id, relay_state, "the logout request is not signed")
    late = delivery_problem(destination=message.destination, arrived_at=arrived_at, issued=message.issue_instant,
                            now=now, freshness=_freshness())
    if late:
        return _refuse_request(service, message.id, relay_state, late)
    if not provider.ledger.first_use(message.issuer, message.id, _freshness().keep_until(message.issue_instant), now):
        return _refuse_request(service, message.id, relay_state, "the logout request was already used (replayed)")
    return {"kind": "LogoutRequest", "service": service.entity_id, "id": message.id, "signed": signed,
            "issue_instant": message.issue_instant.isoformat(), "name_id": message.name_id,
            "name_id_format": message.name_id_format, "session_indexes": list(message.session_indexes),
            "relay_state": relay_state}


def _logout_response_arrived(checked: dict):
    state = session.get("logout")
    awaiting = (state or {}).get("awaiting")
    if state is None or awaiting is None:
        # Nothing is being signed out of in this browser: the message changes nothing, and the
        # sign-out page says whether the person is still signed in.
        log.warning("a logout response arrived with no sign-out under way in this browser")
        return redirect(url_for("idp_logout.logout"), 303)
    failure = checked.get("failure")
    if failure is None and (checked["service"] != awaiting["service"]
                            or checked["in_response_to"] != awaiting["request_id"]):
        failure = "the logout response does not answer the request Porth sent"
    if failure is None and checked["status"] != STATUS_SUCCESS:
        failure = "the service did not sign out (its status is not Success)"
    if failure is not None:
        log.warning("single logout partial: %s", failure)
        state["partial"] = True
    state.pop("awaiting", None)
    session["logout"] = state
    return _next_logout_step()


def _logout_request_arrived(checked: dict):
    provider = identity_provider()
    service = provider.services.get(checked["service"])
    if service is None:
        return problem(_("That service is no longer registered with Porth."))
    message = LogoutRequest(id=checked["id"], issuer=checked["service"],
                            issue_instant=datetime.fromisoformat(checked["issue_instant"]),
                            name_id=checked["name_id"], session_indexes=tuple(checked["session_indexes"]),
                            name_id_format=checked["name_id_format"])
    verdict = logout_verdict(message, live_session(), checked["signed"])
    initiator = {"service": service.entity_id, "request_id": checked["id"], "relay_state": checked["relay_state"]}
    if verdict.outcome is Outcome.REFUSE:
        return _refuse_request(service, checked["id"], checked["relay_state"], verdict.reason)
    if verdict.outcome is Outcome.NOTHING_TO_END:
        log.info("logout request from %s: %s", service.name, verdict.reason)
        return _answer_logout(initiator, STATUS_SUCCESS)
    log.info("single logout asked by %s (%s)", service.name, verdict.reason)
    return _end_session(initiator)


def _act_on_logout(checked: dict):
    if checked["kind"] == "LogoutResponse":
        return _logout_response_arrived(checked)
    return _logout_request_arrived(checked)


def _endpoint_url(path: str) -> str:
    """Where a message to this endpoint says it was sent (as idp/provider.py names the SSO endpoints)."""
    return f"{identity_provider().base_url}/idp/slo/{path}"


@blueprint.get("/slo/redirect")
def slo_redirect():
    raw = bindings.raw_query_values(request.query_string)
    field = "SAMLRequest" if "SAMLRequest" in raw else "SAMLResponse"
    if field not in raw:
        return problem(unreadable_sign_out(), detail="no SAMLRequest or SAMLResponse in the query string")
    relay = bindings.decoded(raw["RelayState"]) if "RelayState" in raw else None
    try:
        document = bindings.decode_redirect(bindings.decoded(raw[field]))
    except bindings.BindingError as exc:
        if field == "SAMLResponse":
            return _act_on_logout(_failed_response(str(exc)))
        return problem(unreadable_sign_out(), detail=str(exc))
    checked = _read_logout(document, field, raw, _endpoint_url("redirect"), relay)
    return _act_on_logout(checked) if isinstance(checked, dict) else checked


@blueprint.post("/slo/post")
def slo_post():
    # Cross-site POST: carried to a GET so the session cookie is seen (see the module docstring).
    field = "SAMLRequest" if "SAMLRequest" in request.form else "SAMLResponse"
    relay = request.form.get("RelayState")
    try:
        document = bindings.decode_post(request.form.get(field, ""))
    except bindings.BindingError as exc:
        if field == "SAMLRequest":
            return problem(unreadable_sign_out(), detail=str(exc))
        document = None
        checked = _failed_response(str(exc))
    if document is not None:
        read = _read_logout(document, field, None, _endpoint_url("post"), relay)
        if not isinstance(read, dict):
            return read
        checked = read
    token = signed_tokens("slo").dumps(checked)
    return redirect(url_for("idp_logout.slo_continue", message=token), 303)


@blueprint.get("/slo/continue")
def slo_continue():
    try:
        data = signed_tokens("slo").loads(request.args.get("message", ""), max_age=CONTINUE_MAX_AGE)
    except BadSignature:
        return problem(_("This sign-out link has expired."))
    if data["kind"] == "LogoutRequest":
        # The token is used once, like the request it carries: a second use (this browser's or
        # another's) is refused, never acted on again.
        provider = identity_provider()
        now = utc_now()
        if not provider.ledger.first_use(f"{data['service']} (carried to a GET)", data["id"],
                                         now + timedelta(seconds=CONTINUE_MAX_AGE), now):
            return problem(_("This sign-out link has already been used."))
    return _act_on_logout(data)


@blueprint.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "GET":
        sso = live_session()
        services = [s for s in (identity_provider().services.get(e) for e in (sso or {}).get("services", {})) if s]
        return render_template("idp/logout.html", signed_in=sso is not None, services=services)
    return _end_session(None)
