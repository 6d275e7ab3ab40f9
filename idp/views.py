"""The identity provider's HTTP endpoints (a Flask blueprint).

    GET  /idp/metadata              the IdP's SAML metadata
    GET  /idp/sso/redirect          AuthnRequest, HTTP-Redirect binding
    POST /idp/sso/post              AuthnRequest, HTTP-POST binding
    GET  /idp/sso/continue          a checked request, carried in a signed token
    GET  /idp/sso/init              IdP-initiated sign-in (?service=NAME&RelayState=...)
    GET  /idp/sign-in, POST         the sign-in form
    (Single Logout and the sign-out page: idp/logout_views.py)

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
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer

from directory import errors as directory_errors
from directory.model import Account
from idp import bindings, policy, tokens
from idp.attributes import persistent_id, released
from idp.intake import Pending, Refused, check_request, idp_initiated, receive_post, receive_redirect
from idp.metadata import idp_metadata
from idp.pages import PreparedPage, with_language
from idp.provider import IdentityProvider
from idp.responses import SignInFacts, Timing, authn_response, status_response
from idp.saml_xml import NAMEID_EMAIL, NAMEID_PERSISTENT, STATUS_NO_PASSIVE
from idp.services import Service

log = logging.getLogger("porth.idp")
blueprint = Blueprint("idp", __name__, url_prefix="/idp", template_folder="templates")

SESSION_KEY = "sso"


def _idp() -> IdentityProvider:
    return current_app.extensions["porth.idp"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _tokens(purpose: str) -> URLSafeTimedSerializer:
    return tokens.serializer((current_app.secret_key,), f"porth.idp.{purpose}")


def _problem(reason: str, status: int = 400) -> tuple[str, int]:
    """A page for a request that cannot be answered to any service."""
    log.warning("sign-in request refused: %s", reason)
    g.language_base = url_for("idp.problem_page")  # never the request's own URL: a second use is refused
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
POST_BINDING_PAGE = PreparedPage("idp/post_binding.html", ("action", "value", "relay_state"))
SIGN_IN_PAGE = PreparedPage("idp/sign_in.html",
                            ("csrf_token", "pending", "username", "language_url_en", "language_url_cy"))


def _post_to(url: str, field: str, message: bytes, relay_state: str | None) -> str:
    """The page that posts a message to a service (HTTP-POST binding), submitted by script."""
    fixed = {"field": field} if relay_state is not None else {"field": field, "relay_state": None}
    return POST_BINDING_PAGE.render((field, relay_state is None), fixed, {
        "action": url, "value": bindings.encode_post(message), "relay_state": relay_state or ""})


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
    if pending.request_id:
        # This browser may load the page again (reload, language switch): the request's
        # second use is then not a replay. Another browser's is.
        session["idp_request"] = _request_key(pending.service, pending.request_id)
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
    if error is not None:
        return render_template("idp/sign_in.html", service=service, pending=token, username=username,
                               error=error), status
    page = SIGN_IN_PAGE.render((service.entity_id, service.title(str(get_locale()))), {
        "service": service, "error": None, "csrf_token": lambda: SIGN_IN_PAGE.marker("csrf_token"),
        "language_url": lambda code: SIGN_IN_PAGE.marker(f"language_url_{code}"),
    }, {"csrf_token": generate_csrf(), "pending": token, "username": username,
        "language_url_en": with_language(g.language_base, "en"),
        "language_url_cy": with_language(g.language_base, "cy")})
    return page, status


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
        if sso and not pending.force_authn:  # signed in meanwhile (another tab, or this page in another language)
            return _proceed(pending)
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


@blueprint.get("/problem")
def problem_page():
    """The errorURL in Porth's metadata: where services send people when something went wrong."""
    return render_template("idp/problem.html", reason=None), 200


# The Single Logout endpoints live in their own module, on this blueprint.
from idp import logout_views  # noqa: E402,F401  (registers its routes)
