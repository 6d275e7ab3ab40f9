"""Signing out: SAML Single Logout with the services of a session, and Porth's own sign-out page.

    GET  /idp/slo/redirect, POST /idp/slo/post   a service's LogoutRequest or LogoutResponse
    GET  /idp/slo/continue                       a posted message, checked, carried to a GET
    GET  /idp/logout, POST                       sign out here (and of the services that support SLO)

Ending a session asks each service used in it that has a logout endpoint to
log out too, one after the other through the browser (front channel), then
answers the service that asked (or shows the signed-out page).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature

from idp import bindings
from idp.messages import MessageError, read_logout_request, read_logout_response
from idp.responses import logout_request, logout_response
from idp.saml_xml import BINDING_POST, BINDING_REDIRECT, STATUS_PARTIAL_LOGOUT, STATUS_SUCCESS, XmlRefused, parse
from idp.services import Service
from idp.signing import SignatureRefused, sign_redirect_query, verify_enveloped, verify_redirect
from idp.sso_session import SESSION_KEY, identity_provider, live_session, post_to, problem, signed_tokens, utc_now

# Its own blueprint beside the sign-in one (idp/views.py), under the same /idp prefix.
blueprint = Blueprint("idp_logout", __name__, url_prefix="/idp")


def _logout_query(service: Service, message_kind: str, document: bytes, relay_state: str | None) -> str:
    return sign_redirect_query(bindings.redirect_query(message_kind, document, relay_state), identity_provider().key)


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
        session["logout"] = state
        _request_id, document = logout_request(
            key=provider.key if endpoint.binding == BINDING_POST else None, idp_entity_id=provider.entity_id,
            destination=endpoint.location, name_id=name_id, name_id_format=name_id_format,
            service_entity_id=entity_id, session_index=state["session_index"], now=utc_now(),
            lifetime=timedelta(minutes=5), qualify_name_id=bool(qualify))
        if endpoint.binding == BINDING_REDIRECT:
            separator = "&" if "?" in endpoint.location else "?"
            return redirect(endpoint.location + separator + _logout_query(service, "SAMLRequest", document, None), 303)
        return post_to(endpoint.location, "SAMLRequest", document, None)
    session.pop("logout", None)
    initiator = state.get("initiator") if state else None
    if initiator:
        return _answer_logout(initiator, STATUS_SUCCESS if not state.get("partial") else STATUS_PARTIAL_LOGOUT)
    return render_template("idp/signed_out.html")


def _answer_logout(initiator: dict, status: str):
    provider = identity_provider()
    service = provider.services.get(initiator["service"])
    endpoint = service.logout_endpoint() if service else None
    if service is None or endpoint is None:
        return render_template("idp/signed_out.html")
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


def _read_logout(document: bytes, redirect_raw: dict[str, str] | None) -> dict | tuple[str, int]:
    """A service's LogoutRequest or LogoutResponse, checked (issuer registered, signature
    good or not required), as the few values acting on it needs; or a problem page."""
    provider = identity_provider()
    try:
        root = parse(document)
        kind = root.tag.rsplit("}", 1)[-1]
        message = read_logout_request(root) if kind == "LogoutRequest" else read_logout_response(root)
    except (XmlRefused, MessageError) as exc:
        return problem(f"the logout message cannot be read: {exc}")
    service = provider.services.get(message.issuer)
    if service is None:
        return problem(f"the service {message.issuer!r} is not registered with Porth")
    allow_sha1 = provider.settings.idp.allow_sha1_requests or service.accept_sha1_request_signatures
    try:
        field = "SAMLRequest" if kind == "LogoutRequest" else "SAMLResponse"
        octets = bindings.redirect_signed_octets(redirect_raw, field) if redirect_raw else None
        if redirect_raw and octets is not None:  # octets come only with the redirect's raw query
            verify_redirect(octets, bindings.decoded(redirect_raw["SigAlg"]),
                            bindings.decoded(redirect_raw["Signature"]), service.signing_certificates, allow_sha1)
        elif message.signed:
            verify_enveloped(root, service.signing_certificates, allow_sha1)
        elif kind == "LogoutRequest" and (service.authn_requests_signed
                                          or provider.settings.idp.require_signed_requests):
            raise SignatureRefused("the logout request is not signed")
    except SignatureRefused as exc:
        return problem(f"{service.name}: {exc}")
    return {"kind": kind, "service": service.entity_id, "id": message.id,
            "status": getattr(message, "status", None)}


def _act_on_logout(checked: dict, relay_state: str | None):
    if checked["kind"] == "LogoutResponse":
        state = session.get("logout")
        if state is not None and checked["status"] != STATUS_SUCCESS:
            state["partial"] = True
            session["logout"] = state
        return _next_logout_step()
    return _end_session({"service": checked["service"], "request_id": checked["id"], "relay_state": relay_state})


@blueprint.get("/slo/redirect")
def slo_redirect():
    raw = bindings.raw_query_values(request.query_string)
    kind = "SAMLRequest" if "SAMLRequest" in raw else "SAMLResponse"
    if kind not in raw:
        return problem("no SAMLRequest or SAMLResponse in the query string")
    try:
        document = bindings.decode_redirect(bindings.decoded(raw[kind]))
    except bindings.BindingError as exc:
        return problem(str(exc))
    relay = bindings.decoded(raw["RelayState"]) if "RelayState" in raw else None
    checked = _read_logout(document, raw)
    return _act_on_logout(checked, relay) if isinstance(checked, dict) else checked


@blueprint.post("/slo/post")
def slo_post():
    # Cross-site POST: carried to a GET so the session cookie is seen (see the module docstring).
    field = "SAMLRequest" if "SAMLRequest" in request.form else "SAMLResponse"
    try:
        document = bindings.decode_post(request.form.get(field, ""))
    except bindings.BindingError as exc:
        return problem(str(exc))
    checked = _read_logout(document, None)
    if not isinstance(checked, dict):
        return checked
    token = signed_tokens("slo").dumps({**checked, "relay_state": request.form.get("RelayState")})
    return redirect(url_for("idp_logout.slo_continue", message=token), 303)


@blueprint.get("/slo/continue")
def slo_continue():
    try:
        data = signed_tokens("slo").loads(request.args.get("message", ""), max_age=60)
    except BadSignature:
        return problem(_("This sign-out link has expired."))
    return _act_on_logout(data, data.get("relay_state"))


@blueprint.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "GET":
        sso = live_session()
        services = [s for s in (identity_provider().services.get(e) for e in (sso or {}).get("services", {})) if s]
        return render_template("idp/logout.html", signed_in=sso is not None, services=services)
    return _end_session(None)
