"""The identity provider's HTTP endpoints (a Flask blueprint).

    GET  /idp/metadata              the IdP's SAML metadata
    GET  /idp/sso/redirect          AuthnRequest, HTTP-Redirect binding
    POST /idp/sso/post              AuthnRequest, HTTP-POST binding
    GET  /idp/sso/continue          a checked request, carried in a signed token
    GET  /idp/sso/init              IdP-initiated sign-in (?service=NAME&RelayState=...)
    GET  /idp/sign-in, POST         the sign-in form
    GET  /idp/slo/redirect, POST /idp/slo/post   Single Logout
    GET  /idp/logout, POST          sign out here (and of the services that support SLO)

Why requests arriving by POST are carried to a GET: services post across
sites, and a SameSite=Lax session cookie is not sent with a cross-site POST.
So the POST endpoints check the message, then redirect (303) to a GET with
the checked request in a signed, short-lived token; the GET sees the
session and can give single sign-on.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta, timezone

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from directory import errors as directory_errors
from directory.model import Account
from idp import bindings, policy
from idp.attributes import persistent_id, released
from idp.intake import Pending, Refused, check_request, idp_initiated, receive_post, receive_redirect
from idp.messages import MessageError, read_logout_request, read_logout_response
from idp.metadata import idp_metadata
from idp.provider import IdentityProvider
from idp.responses import SignInFacts, Timing, authn_response, logout_request, logout_response, status_response
from idp.saml_xml import (
    BINDING_POST,
    BINDING_REDIRECT,
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    STATUS_NO_PASSIVE,
    STATUS_PARTIAL_LOGOUT,
    STATUS_SUCCESS,
    XmlRefused,
    parse,
)
from idp.services import Service
from idp.signing import SignatureRefused, sign_redirect_query, verify_enveloped, verify_redirect

log = logging.getLogger("porth.idp")
blueprint = Blueprint("idp", __name__, url_prefix="/idp", template_folder="templates")

SESSION_KEY = "sso"


def _idp() -> IdentityProvider:
    return current_app.extensions["porth.idp"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _tokens(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=f"porth.idp.{purpose}")


def _problem(reason: str, status: int = 400) -> tuple[str, int]:
    """A page for a request that cannot be answered to any service."""
    log.warning("sign-in request refused: %s", reason)
    return render_template("idp/problem.html", reason=reason), status


# -- single sign-on session ------------------------------------------------------
def _live_session() -> dict | None:
    data = session.get(SESSION_KEY)
    if not data:
        return None
    expires = datetime.fromisoformat(data["expires"])
    if expires <= _now():
        session.pop(SESSION_KEY, None)
        return None
    return data


def _start_session(account: Account) -> dict:
    now = _now()
    hours = _idp().settings.idp.session_hours
    data = {"account": account.id, "username": account.username, "authn_instant": now.isoformat(),
            "session_index": "_" + secrets.token_hex(16), "expires": (now + timedelta(hours=hours)).isoformat(),
            "services": {}}
    session[SESSION_KEY] = data
    session.permanent = True
    return data


# -- answering a service -----------------------------------------------------------
def _post_to(url: str, field: str, message: bytes, relay_state: str | None) -> str:
    return render_template("idp/post_binding.html", action=url, field=field,
                           value=bindings.encode_post(message), relay_state=relay_state)


def _refuse(refused: Refused):
    if refused.to_service is None:
        return _problem(refused.reason)
    log.info("answering %s with %s: %s", refused.to_service.service, refused.status.rsplit(":", 1)[-1],
             refused.reason)
    provider = _idp()
    message = status_response(key=provider.key, idp_entity_id=provider.entity_id,
                              destination=refused.to_service.acs_url, in_response_to=refused.to_service.request_id,
                              status=refused.status, message=refused.reason, now=_now())
    return _post_to(refused.to_service.acs_url, "SAMLResponse", message, refused.to_service.relay_state)


def _name_id(pending: Pending, account: Account, service: Service) -> str:
    if pending.name_id_format == NAMEID_PERSISTENT:
        return persistent_id(_idp().persistent_id_key, account.id, service.entity_id)
    if pending.name_id_format == NAMEID_EMAIL:
        return account.mail
    return "_" + secrets.token_hex(20)  # transient: new for every assertion


def _answer(pending: Pending, account: Account, sso: dict):
    provider = _idp()
    service = provider.services.get(pending.service)
    if service is None:
        return _problem(_("That service is no longer registered with Porth."))
    refusal = policy.may_reach(account, service.category)
    if refusal is policy.Refusal.NOT_ACTIVE:
        session.pop(SESSION_KEY, None)
        return render_template("idp/not_active.html"), 403
    if refusal is policy.Refusal.NO_CONSENT:
        log.info("account %s: no consent for %s (%s)", account.id, service.name, service.category)
        return render_template("idp/no_consent.html", service=service, account=account), 403
    idp_settings = provider.settings.idp
    name_id = _name_id(pending, account, service)
    facts = SignInFacts(authn_instant=datetime.fromisoformat(sso["authn_instant"]),
                        session_index=sso["session_index"],
                        session_not_on_or_after=datetime.fromisoformat(sso["expires"]))
    timing = Timing(now=_now(), clock_skew=timedelta(seconds=idp_settings.clock_skew_seconds),
                    lifetime=timedelta(seconds=idp_settings.assertion_lifetime_seconds))
    message = authn_response(key=provider.key, idp_entity_id=provider.entity_id, service=service,
                             destination=pending.acs_url, in_response_to=pending.request_id, name_id=name_id,
                             name_id_format=pending.name_id_format,
                             attributes=released(account, service.release), facts=facts, timing=timing)
    if service.logout_endpoint() is not None and sso["services"].get(service.entity_id) != [
            pending.name_id_format, name_id]:
        sso["services"][service.entity_id] = [pending.name_id_format, name_id]
        session[SESSION_KEY] = sso
    return _post_to(pending.acs_url, "SAMLResponse", message, pending.relay_state)


def _proceed(pending: Pending):
    """Answer at once from a live session, or NoPassive, or ask for the password."""
    sso = _live_session()
    if sso and not pending.force_authn:
        account = _idp().directory.account_by_id(sso["account"])
        if account is None:
            session.pop(SESSION_KEY, None)
        else:
            return _answer(pending, account, sso)
    if pending.is_passive:
        return _refuse(Refused("no live session and the service asked Porth not to ask for a password",
                               STATUS_NO_PASSIVE, pending))
    if pending.request_id:
        # This browser may reload the page: the request's second use is then not a replay.
        session["idp_request"] = _request_key(pending.service, pending.request_id)
    username = sso["username"] if sso and pending.force_authn else ""
    return _sign_in_form(pending, _tokens("pending").dumps(pending.to_dict()), username)


def _request_key(issuer: str, request_id: str) -> str:
    return f"{issuer} {request_id}"


def _sign_in_form(pending: Pending, token: str, username: str, error: str | None = None, status: int = 200):
    """The form is shown where the request arrived (one round trip less per sign-in);
    its language switch and its POST carry the checked request in `token`."""
    service = _idp().services.get(pending.service)
    if service is None:
        return _problem(_("That service is no longer registered with Porth."))
    g.language_base = url_for("idp.sign_in", pending=token)
    return render_template("idp/sign_in.html", service=service, pending=token, username=username,
                           error=error), status


def _pending_from(token: str | None) -> Pending | None:
    if not token:
        return None
    try:
        data = _tokens("pending").loads(token, max_age=_idp().settings.idp.request_max_age_seconds)
    except BadSignature:
        return None
    return Pending.from_dict(data)


# -- endpoints ---------------------------------------------------------------------
@blueprint.get("/metadata")
def metadata() -> Response:
    provider = _idp()
    return Response(idp_metadata(entity_id=provider.entity_id, base_url=provider.base_url, key=provider.key,
                                 requests_must_be_signed=provider.settings.idp.require_signed_requests),
                    mimetype="application/samlmetadata+xml")


def _check(received) -> Pending | Refused:
    provider = _idp()
    now = _now()

    def first_use(issuer: str, request_id: str, keep_until: datetime) -> bool:
        return (provider.ledger.first_use(issuer, request_id, keep_until, now)
                or session.get("idp_request") == _request_key(issuer, request_id))

    return check_request(received, provider.services, provider.intake_rules, now, first_use)


@blueprint.get("/sso/redirect")
def sso_redirect():
    try:
        received = receive_redirect(request.query_string)
    except bindings.BindingError as exc:
        return _problem(str(exc))
    checked = _check(received)
    return _refuse(checked) if isinstance(checked, Refused) else _proceed(checked)


@blueprint.post("/sso/post")
def sso_post():
    try:
        received = receive_post(request.form.get("SAMLRequest"), request.form.get("RelayState"))
    except bindings.BindingError as exc:
        return _problem(str(exc))
    checked = _check(received)
    if isinstance(checked, Refused):
        return _refuse(checked)
    return redirect(url_for("idp.sso_continue", request=_tokens("post").dumps(checked.to_dict())), 303)


@blueprint.get("/sso/continue")
def sso_continue():
    try:
        data = _tokens("post").loads(request.args.get("request", ""),
                                     max_age=_idp().settings.idp.request_max_age_seconds)
    except BadSignature:
        return _problem(_("This sign-in link has expired. Go back to the service and try again."))
    return _proceed(Pending.from_dict(data))


@blueprint.get("/sso/init")
def sso_init():
    wanted = request.args.get("service", "")
    provider = _idp()
    service = provider.services.get(wanted) or next((s for s in provider.services.all() if s.name == wanted), None)
    checked = idp_initiated(service, request.args.get("RelayState"))
    return _problem(checked.reason, 404) if isinstance(checked, Refused) else _proceed(checked)


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    token = request.values.get("pending")
    pending = _pending_from(token)
    if pending is None:
        return _problem(_("This sign-in has expired. Go back to the service and try again."))
    service = _idp().services.get(pending.service)
    if service is None:
        return _problem(_("That service is no longer registered with Porth."))
    sso = _live_session()
    username = request.form.get("username", sso["username"] if sso and pending.force_authn else "").strip()
    if request.method == "GET":
        return _sign_in_form(pending, token, username)

    provider = _idp()
    password = request.form.get("password", "")
    address = request.remote_addr or "-"
    now = _now()
    if not username or not password:
        return _sign_in_form(pending, token, username, _("Enter your username and password"))
    verdict = provider.throttle.check(username, address, now)
    if verdict.wait_seconds:
        log.warning("sign-in attempt refused: too many failures (%s, wait %ss)", address, verdict.wait_seconds)
        minutes = (verdict.wait_seconds + 59) // 60
        error = (_("Too many attempts. Try again in %(minutes)d minutes.", minutes=minutes) if verdict.locked
                 else _("Too many attempts. Wait %(seconds)d seconds and try again.", seconds=verdict.wait_seconds))
        return _sign_in_form(pending, token, username, error, 429)
    try:
        account = provider.directory.authenticate(username, password)
    except directory_errors.InvalidCredentials:
        provider.throttle.failed(username, address, now)
        log.info("sign-in failed from %s", address)
        return _sign_in_form(pending, token, username, _("The username or password is not right"))
    if verdict.username_has_failures:
        provider.throttle.succeeded(username, address)
    if policy.may_sign_in(account) is not None:
        session.pop(SESSION_KEY, None)
        return render_template("idp/not_active.html"), 403
    if sso and sso["account"] == account.id and pending.force_authn:
        # Step-up in the same session: a fresh AuthnInstant, the same session index.
        sso["authn_instant"] = now.isoformat()
        session[SESSION_KEY] = sso
    else:
        sso = _start_session(account)
    log.info("signed in: account %s to %s", account.id, service.name)
    return _answer(pending, account, sso)


# -- logout ----------------------------------------------------------------------------
def _logout_query(service: Service, message_kind: str, document: bytes, relay_state: str | None) -> str:
    return sign_redirect_query(bindings.redirect_query(message_kind, document, relay_state), _idp().key)


def _next_logout_step():
    """Ask the next service of the ending session to log out (front channel), or finish."""
    state = session.get("logout")
    provider = _idp()
    while state and state["remaining"]:
        entity_id, (name_id_format, name_id) = state["remaining"].pop(0)
        service = provider.services.get(entity_id)
        endpoint = service.logout_endpoint() if service else None
        if endpoint is None:
            continue
        session["logout"] = state
        _request_id, document = logout_request(
            key=provider.key if endpoint.binding == BINDING_POST else None, idp_entity_id=provider.entity_id,
            destination=endpoint.location, name_id=name_id, name_id_format=name_id_format,
            service_entity_id=entity_id, session_index=state["session_index"], now=_now(),
            lifetime=timedelta(minutes=5))
        if endpoint.binding == BINDING_REDIRECT:
            separator = "&" if "?" in endpoint.location else "?"
            return redirect(endpoint.location + separator + _logout_query(service, "SAMLRequest", document, None), 303)
        return _post_to(endpoint.location, "SAMLRequest", document, None)
    session.pop("logout", None)
    initiator = state.get("initiator") if state else None
    if initiator:
        return _answer_logout(initiator, STATUS_SUCCESS if not state.get("partial") else STATUS_PARTIAL_LOGOUT)
    return render_template("idp/signed_out.html")


def _answer_logout(initiator: dict, status: str):
    provider = _idp()
    service = provider.services.get(initiator["service"])
    endpoint = service.logout_endpoint() if service else None
    if endpoint is None:
        return render_template("idp/signed_out.html")
    destination = endpoint.response_location or endpoint.location
    document = logout_response(key=provider.key if endpoint.binding == BINDING_POST else None,
                               idp_entity_id=provider.entity_id, destination=destination,
                               in_response_to=initiator["request_id"], status=status, now=_now())
    if endpoint.binding == BINDING_REDIRECT:
        separator = "&" if "?" in destination else "?"
        return redirect(destination + separator + _logout_query(service, "SAMLResponse", document,
                                                               initiator.get("relay_state")), 303)
    return _post_to(destination, "SAMLResponse", document, initiator.get("relay_state"))


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
    provider = _idp()
    try:
        root = parse(document)
        kind = root.tag.rsplit("}", 1)[-1]
        message = read_logout_request(root) if kind == "LogoutRequest" else read_logout_response(root)
    except (XmlRefused, MessageError) as exc:
        return _problem(f"the logout message cannot be read: {exc}")
    service = provider.services.get(message.issuer)
    if service is None:
        return _problem(f"the service {message.issuer!r} is not registered with Porth")
    allow_sha1 = provider.settings.idp.allow_sha1_requests
    try:
        field = "SAMLRequest" if kind == "LogoutRequest" else "SAMLResponse"
        octets = bindings.redirect_signed_octets(redirect_raw, field) if redirect_raw else None
        if octets is not None:
            verify_redirect(octets, bindings.decoded(redirect_raw["SigAlg"]),
                            bindings.decoded(redirect_raw["Signature"]), service.signing_certificates, allow_sha1)
        elif message.signed:
            verify_enveloped(root, service.signing_certificates, allow_sha1)
        elif kind == "LogoutRequest" and (service.authn_requests_signed
                                          or provider.settings.idp.require_signed_requests):
            raise SignatureRefused("the logout request is not signed")
    except SignatureRefused as exc:
        return _problem(f"{service.name}: {exc}")
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
        return _problem("no SAMLRequest or SAMLResponse in the query string")
    try:
        document = bindings.decode_redirect(bindings.decoded(raw[kind]))
    except bindings.BindingError as exc:
        return _problem(str(exc))
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
        return _problem(str(exc))
    checked = _read_logout(document, None)
    if not isinstance(checked, dict):
        return checked
    token = _tokens("slo").dumps({**checked, "relay_state": request.form.get("RelayState")})
    return redirect(url_for("idp.slo_continue", message=token), 303)


@blueprint.get("/slo/continue")
def slo_continue():
    try:
        data = _tokens("slo").loads(request.args.get("message", ""), max_age=60)
    except BadSignature:
        return _problem(_("This sign-out link has expired."))
    return _act_on_logout(data, data.get("relay_state"))


@blueprint.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "GET":
        sso = _live_session()
        services = [s for s in (_idp().services.get(e) for e in (sso or {}).get("services", {})) if s]
        return render_template("idp/logout.html", signed_in=sso is not None, services=services)
    return _end_session(None)


@blueprint.get("/problem")
def problem_page():
    """The errorURL in Porth's metadata: where services send people when something went wrong."""
    return render_template("idp/problem.html", reason=None), 200
