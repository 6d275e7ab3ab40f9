"""The identity provider's HTTP endpoints (a Flask blueprint).

    GET  /idp/metadata              the IdP's SAML metadata
    GET  /idp/sso/redirect          AuthnRequest, HTTP-Redirect binding
    POST /idp/sso/post              AuthnRequest, HTTP-POST binding
    GET  /idp/sso/continue          a checked request, carried in a signed token
    GET  /idp/sso/init              IdP-initiated sign-in (?service=NAME&RelayState=...)
    GET  /idp/sign-in, POST         the sign-in form
    GET  /idp/badge, POST           sign in with a badge (issue 18; idp/badges.py)
    GET  /idp/second-factor, POST   the second factor, after the password (issue 18; idp/second_factor_views.py)
    (Single Logout and the sign-out page: idp/logout_views.py, its own blueprint;
    the session and pages both use: idp/sso_session.py)

Why requests arriving by POST are carried to a GET: services post across
sites, and a SameSite=Lax session cookie is not sent with a cross-site POST.
So the POST endpoints check the message, then redirect (303) to a GET with
the checked request in a signed, short-lived token; the GET sees the
session and can give single sign-on.

One answer per request (issue 15 point 3): that token, and the `pending` token of the
sign-in form, serve only the browser they were handed to. The form's token is written
into this browser's session when the form is shown, and taken back once the request is
answered; the POST's token (made where no session cookie is sent) is claimed in the
shared ledger by the first browser to use it. The same browser may load either page
again (reload, language switch); another browser gets the problem page.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from datetime import datetime, timedelta

from flask import (
    Blueprint,
    Response,
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
from itsdangerous import BadSignature

from directory import errors as directory_errors
from directory.model import Account
from directory.rules.badges import read_token
from directory.rules.cloud_identity import InvalidImmutableId, immutable_id
from directory.rules.cloud_principal import InvalidUserPrincipalName
from idp import bindings, metrics, policy, second_factor_pages
from idp.attribute_values import carriable, value_problem
from idp.attributes import IdentifierContext, persistent_id, released
from idp.authn_contexts import answered_context
from idp.badges import Outcome, throttle_name
from idp.browser_sessions import renew_session
from idp.intake import (
    PAGE_NOT_ACCEPTED,
    PAGE_UNREADABLE,
    PAGE_UNREGISTERED,
    Pending,
    Refused,
    check_request,
    idp_initiated,
    receive_post,
    receive_redirect,
)
from idp.metadata import Description, default_logo, idp_metadata
from idp.pages import PreparedPage, too_many_attempts, with_language
from idp.responses import SignInFacts, Timing, authn_response, status_response
from idp.saml_xml import AUTHN_BADGE, STATUS_NO_AUTHN_CONTEXT, STATUS_NO_PASSIVE, STATUS_RESPONDER
from idp.second_factor_pages import second_factor_form
from idp.services import Service
from idp.sso_session import (
    SECOND_FACTOR_KEY,
    SESSION_KEY,
    identity_provider,
    live_session,
    post_to,
    problem,
    signed_tokens,
    utc_now,
)
from idp.throttling import Verdict

log = logging.getLogger("porth.idp")
blueprint = Blueprint("idp", __name__, url_prefix="/idp", template_folder="templates")


# -- single sign-on session ------------------------------------------------------
BADGE = "badge"  # the session's sign-in method, when a badge began it (issue 18)


def _start_session(account: Account, method: str = "password") -> dict:
    now = utc_now()
    hours = identity_provider().settings.idp.session_hours
    data = {"account": account.id, "username": account.username, "authn_instant": now.isoformat(),
            "session_index": "_" + secrets.token_hex(16), "expires": (now + timedelta(hours=hours)).isoformat(),
            "services": {}, "method": method, SECOND_FACTOR_KEY: False}
    session[SESSION_KEY] = data
    session.permanent = True
    return data


# -- answering a service -----------------------------------------------------------
SIGN_IN_PAGE = PreparedPage("idp/sign_in.html",
                            ("csrf_token", "pending", "username", "language_url_en", "language_url_cy", "badge_url"))


PAGE_KINDS = (PAGE_UNREADABLE, PAGE_UNREGISTERED, PAGE_NOT_ACCEPTED)


def page_reason(page: str) -> str:
    """What a person is told of a refused request (intake's PAGE_ kinds), in their language."""
    if page == PAGE_UNREADABLE:
        return _("The service you came from sent a sign-in request that Porth cannot read.")
    if page == PAGE_UNREGISTERED:
        return _("The service you came from is not registered with Porth, so Porth cannot sign you in to it.")
    return _("The service you came from asked for something Porth does not do, so Porth cannot sign you in to it.")


def _refuse(refused: Refused, status: int = 400):
    if refused.to_service is None:
        return problem(page_reason(refused.page), status, detail=refused.reason, kind=refused.page)
    log.info("answering %s with %s: %s", refused.to_service.service, refused.status.rsplit(":", 1)[-1],
             refused.reason)
    provider = identity_provider()
    message = status_response(key=provider.key, idp_entity_id=provider.entity_id,
                              destination=refused.to_service.acs_url, in_response_to=refused.to_service.request_id,
                              status=refused.status, message=refused.reason, now=utc_now())
    return post_to(refused.to_service.acs_url, "SAMLResponse", message, refused.to_service.relay_state)


def _name_id(pending: Pending, account: Account, service: Service) -> str:
    if pending.name_id_mode == "immutable-id":
        return immutable_id(account.id)  # what the Graph sync wrote as onPremisesImmutableId
    if pending.name_id_mode == "persistent":
        return persistent_id(identity_provider().persistent_id_key, account.id, service.entity_id)
    if pending.name_id_mode == "email":
        return account.mail
    return "_" + secrets.token_hex(20)  # transient: new for every assertion


def _answer(pending: Pending, account: Account, sso: dict, token_key: str | None = None):
    """The Response to the service, or the page saying why not; `token_key` is the sign-in form's
    token this answers, taken back from the browser once a Response goes (a page in its stead, such
    as the consent page, may still be seen again in another language)."""
    provider = identity_provider()
    service = provider.services.get(pending.service)
    if service is None:
        return problem(_("That service is no longer registered with Porth."))
    refusal = policy.may_reach(account, service.category)
    if refusal is policy.Refusal.NOT_ACTIVE:
        metrics.service_refusals.labels(metrics.REFUSED_NOT_ACTIVE, service.category).inc()
        session.pop(SESSION_KEY, None)
        return render_template("idp/not_active.html"), 403
    if refusal is policy.Refusal.NO_CONSENT:
        metrics.service_refusals.labels(metrics.REFUSED_NO_CONSENT, service.category).inc()
        log.info("account %s: no consent for %s (%s)", account.id, service.name, service.category)
        return render_template("idp/no_consent.html", service=service, account=account), 403
    idp_settings = provider.settings.idp
    try:
        name_id = _name_id(pending, account, service)
        attributes, left_out = carriable(released(
            account, service.release, service.attributes,
            IdentifierContext(provider.persistent_id_key, provider.settings.accounts.username_domain,
                              service.entity_id)))
    except (InvalidImmutableId, InvalidUserPrincipalName) as exc:
        # The account cannot be named the way this service needs (S-1): the service is told, not misled.
        log.error("account %s cannot be sent to %s: %s", account.id, service.name, exc)
        metrics.service_refusals.labels(metrics.REFUSED_UNNAMEABLE, service.category).inc()
        if token_key:
            _take_back(token_key)
        return _refuse(Refused(f"{service.name}: this account cannot be signed in to it", STATUS_RESPONDER,
                               pending))
    # A value XML cannot carry, or over saml2int's 256 characters, is left out, never a 500 (issue 15):
    # logged by account id and attribute, never the value (it may be a name).
    for gap in left_out:
        log.warning("account %s: a value of %s left out of the Response to %s: it %s", account.id,
                    gap.attribute, service.name, gap.reason)
    name_id_problem = value_problem(name_id)
    if name_id_problem:  # a NameID cannot be left out (e.g. an email NameID from a mail written by hand)
        log.error("account %s cannot be sent to %s: its NameID %s", account.id, service.name, name_id_problem)
        metrics.service_refusals.labels(metrics.REFUSED_UNNAMEABLE, service.category).inc()
        return _refuse(Refused(f"{service.name}: this account cannot be signed in to it", STATUS_RESPONDER,
                               pending))
    qualify = pending.name_id_mode != "immutable-id"
    facts = SignInFacts(authn_instant=datetime.fromisoformat(sso["authn_instant"]),
                        session_index=sso["session_index"],
                        session_not_on_or_after=datetime.fromisoformat(sso["expires"]),
                        authn_context=AUTHN_BADGE if sso.get("method") == BADGE else answered_context(
                            pending.requested_contexts, pending.context_comparison, bool(sso.get(SECOND_FACTOR_KEY)),
                            service.mfa_context))
    timing = Timing(now=utc_now(), clock_skew=timedelta(seconds=idp_settings.clock_skew_seconds),
                    lifetime=timedelta(seconds=idp_settings.assertion_lifetime_seconds))
    message = authn_response(key=provider.key, idp_entity_id=provider.entity_id, service=service,
                             destination=pending.acs_url, in_response_to=pending.request_id, name_id=name_id,
                             name_id_format=pending.name_id_format, qualify_name_id=qualify,
                             attributes=attributes, facts=facts, timing=timing)
    # What Single Logout must name the person by at this service: the NameID exactly as sent.
    sent_as = [pending.name_id_format, name_id, qualify]
    if service.logout_endpoint() is not None and sso["services"].get(service.entity_id) != sent_as:
        sso["services"][service.entity_id] = sent_as
        session[SESSION_KEY] = sso
    if token_key:
        _take_back(token_key)
    if pending.request_id:
        _give(ANSWERED + _request_key(pending.service, pending.request_id))
    return post_to(pending.acs_url, "SAMLResponse", message, pending.relay_state)


def answer_after_second_factor(pending: Pending, account: Account, sso: dict, token_key: str | None = None,
                               token: str | None = None):
    """The Response, once the second factor the request asks for is given (issue 18 point 8): a
    session without one shows the second-factor page, unless the account has no factor, which the
    service is told (NoAuthnContext). `token` is the sign-in form's token, when there is one."""
    if not pending.second_factor or sso.get(SECOND_FACTOR_KEY):
        return _answer(pending, account, sso, token_key)
    if not identity_provider().second_factors.store.has_factor(account.id):
        log.info("account %s has no second factor, which %s asks for", account.id, pending.service)
        if token_key:
            _take_back(token_key)
        return _refuse(Refused("the account has no second factor to sign in with", STATUS_NO_AUTHN_CONTEXT,
                               pending))
    return second_factor_form(pending, token or _pending_token(pending), account)


# -- what this browser was handed ----------------------------------------------------
GIVEN_KEY = "idp_given"  # request IDs, continuation and sign-in tokens handed to this browser
MOST_GIVEN = 12  # several tabs signing in at once; the oldest goes first
ANSWERED = "answered "  # with a request key: a Response went for that request from this browser


def _given(key: str) -> bool:
    return key in session.get(GIVEN_KEY, ())


def _give(key: str) -> None:
    kept = [k for k in session.get(GIVEN_KEY, ()) if k != key]
    session[GIVEN_KEY] = [*kept[-(MOST_GIVEN - 1):], key]


def _take_back(key: str) -> None:
    given = session.get(GIVEN_KEY, ())
    if key in given:
        session[GIVEN_KEY] = [k for k in given if k != key]


def _request_key(issuer: str, request_id: str) -> str:
    return "request " + hashlib.sha256(f"{issuer}\x00{request_id}".encode()).hexdigest()[:32]


def _pending_token(pending: Pending) -> str:
    """The sign-in form's token for this request, good in this browser only, until answered."""
    nonce = secrets.token_urlsafe(16)
    _give(f"pending {nonce}")
    return signed_tokens("pending").dumps(pending.to_dict() | {"nonce": nonce})


def _proceed(pending: Pending, token_key: str | None = None):
    """Answer at once from a live session, or NoPassive, or ask for the password (`token_key`: as _answer's)."""
    if pending.request_id:
        request_key = _request_key(pending.service, pending.request_id)
        if _given(ANSWERED + request_key):
            # One answer per request (issue 15 point 3): a reload, the back button or a second use of
            # its continuation link after the Response went gets no second Response.
            log.warning("sign-in request refused: answered already in this browser")
            return problem(_("This sign-in has been completed."))
        # This browser may load the page again (reload, language switch) until it is answered: the
        # request's second use is then not a replay. Another browser's is.
        _give(request_key)
    sso = live_session()
    if sso and sso.get("method") == BADGE and not _badge_serves(pending):
        # Issue 18 point 3: a badge session never answers a service or request that asks for more.
        log.info("badge session of account %s: %s asks for a password", sso["account"], pending.service)
        return _sign_in_form(pending, _pending_token(pending), "")
    if sso and not pending.force_authn:
        account = identity_provider().directory.account_by_id(sso["account"])
        if account is None:
            session.pop(SESSION_KEY, None)
        else:
            return answer_after_second_factor(pending, account, sso, token_key)
    if pending.is_passive:
        return _refuse(Refused("no live session and the service asked Porth not to ask for a password",
                               STATUS_NO_PASSIVE, pending))
    username = sso["username"] if sso and pending.force_authn else ""
    return _sign_in_form(pending, _pending_token(pending), username)


def _sign_in_form(pending: Pending, token: str, username: str, error: str | None = None, status: int = 200):
    """The form is shown where the request arrived (one round trip less per sign-in);
    its language switch and its POST carry the checked request in `token`."""
    service = identity_provider().services.get(pending.service)
    if service is None:
        return problem(_("That service is no longer registered with Porth."))
    g.language_base = url_for("idp.sign_in", pending=token)
    offer_badge = _badge_serves(pending)
    badge_url = url_for("idp.badge_sign_in", pending=token) if offer_badge else ""
    if error is not None:
        return render_template("idp/sign_in.html", service=service, pending=token, username=username,
                               error=error, offer_badge=offer_badge, badge_url=badge_url), status
    page = SIGN_IN_PAGE.render((service.entity_id, service.title(str(get_locale())), offer_badge), {
        "service": service, "error": None, "csrf_token": lambda: SIGN_IN_PAGE.marker("csrf_token"),
        "language_url": lambda code: SIGN_IN_PAGE.marker(f"language_url_{code}"), "offer_badge": offer_badge,
    }, {"csrf_token": generate_csrf(), "pending": token, "username": username,
        "language_url_en": with_language(g.language_base, "en"),
        "language_url_cy": with_language(g.language_base, "cy"), "badge_url": badge_url})
    return page, status


def pending_from(token: str | None) -> tuple[Pending, str] | None:
    """The request a sign-in form's token carries and the token's key in this browser's session;
    None when it is not good here (expired, answered, or handed to another browser)."""
    if not token:
        return None
    try:
        data = signed_tokens("pending").loads(token, max_age=identity_provider().settings.idp.request_max_age_seconds)
    except BadSignature:
        return None
    key = f"pending {data.get('nonce')}"
    if not _given(key):
        log.warning("sign-in token refused: not handed to this browser, or its request answered already")
        return None
    return Pending.from_dict(data), key


# -- endpoints ---------------------------------------------------------------------
@blueprint.get("/metadata")
def metadata() -> Response:
    provider = identity_provider()
    return Response(idp_metadata(entity_id=provider.entity_id, base_url=provider.base_url, key=provider.key,
                                 about=_description(), now=utc_now(),
                                 requests_must_be_signed=provider.settings.idp.require_signed_requests),
                    mimetype="application/samlmetadata+xml")


def _description() -> Description:
    """The metadata's description of Porth, from the settings (config.settings.IdpMetadataSettings)."""
    provider = identity_provider()
    about = provider.settings.idp.metadata
    contact = about.technical_contact_email or f"postmaster@{provider.settings.accounts.username_domain}"
    return Description(scope=provider.settings.accounts.username_domain,
                       display_name={"en": about.display_name_en, "cy": about.display_name_cy},
                       description={"en": about.description_en, "cy": about.description_cy},
                       information_url=about.information_url or provider.base_url + "/",
                       privacy_statement_url=about.privacy_statement_url,
                       logo_url=about.logo_url or default_logo(),
                       technical_contact=contact, support_contact=about.support_contact_email,
                       valid_for=timedelta(days=about.valid_days))


def _check(received) -> Pending | Refused:
    provider = identity_provider()
    now = utc_now()

    def first_use(issuer: str, request_id: str, keep_until: datetime) -> bool:
        return (provider.ledger.first_use(issuer, request_id, keep_until, now)
                or _given(_request_key(issuer, request_id)))

    return check_request(received, provider.services, provider.intake_rules, now, first_use)


@blueprint.get("/sso/redirect")
def sso_redirect():
    try:
        received = receive_redirect(request.query_string)
    except bindings.BindingError as exc:
        return problem(page_reason(PAGE_UNREADABLE), detail=str(exc), kind=PAGE_UNREADABLE)
    checked = _check(received)
    return _refuse(checked) if isinstance(checked, Refused) else _proceed(checked)


@blueprint.post("/sso/post")
def sso_post():
    try:
        received = receive_post(request.form.get("SAMLRequest"), request.form.get("RelayState"))
    except bindings.BindingError as exc:
        return problem(page_reason(PAGE_UNREADABLE), detail=str(exc), kind=PAGE_UNREADABLE)
    checked = _check(received)
    if isinstance(checked, Refused):
        return _refuse(checked)
    token = signed_tokens("post").dumps(checked.to_dict() | {"nonce": secrets.token_urlsafe(16)})
    return redirect(url_for("idp.sso_continue", request=token), 303)


@blueprint.get("/sso/continue")
def sso_continue():
    provider = identity_provider()
    max_age = provider.settings.idp.request_max_age_seconds
    expired = _("This sign-in link has expired.")
    try:
        data = signed_tokens("post").loads(request.args.get("request", ""), max_age=max_age)
    except BadSignature:
        return problem(expired)
    # No session cookie came with the cross-site POST that made this token, so the first browser
    # to bring it here takes it (in the ledger every node shares); it then serves that browser only.
    nonce = data.get("nonce")
    key = f"continue {nonce}"
    now = utc_now()
    if not nonce or not (_given(key) or provider.ledger.first_use("porth continuation", nonce,
                                                                  now + timedelta(seconds=max_age), now)):
        log.warning("sign-in continuation refused: used already by another browser")
        return problem(expired)
    _give(key)
    return _proceed(Pending.from_dict(data))


@blueprint.get("/sso/init")
def sso_init():
    wanted = request.args.get("service", "")
    provider = identity_provider()
    service = provider.services.get(wanted) or next((s for s in provider.services.all() if s.name == wanted), None)
    checked = idp_initiated(service, request.args.get("RelayState"))
    return _refuse(checked, 404) if isinstance(checked, Refused) else _proceed(checked)


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    token = request.values.get("pending")
    found = pending_from(token)
    if found is None:
        return problem(_("This sign-in has expired."))
    pending, given_key = found
    service = identity_provider().services.get(pending.service)
    if service is None:
        return problem(_("That service is no longer registered with Porth."))
    sso = live_session()
    username = request.form.get("username", sso["username"] if sso and pending.force_authn else "").strip()
    if request.method == "GET":
        if sso and not pending.force_authn:  # signed in meanwhile (another tab, or this page in another language)
            return _proceed(pending, given_key)
        return _sign_in_form(pending, token, username)

    # Counted and timed by how it ends (idp/metrics.py); an exception before the password was
    # checked, or while it was, counts as unchecked.
    attempt = _Attempt(metrics.PASSWORD)
    try:
        return _attempt_sign_in(pending, token, given_key, service, sso, username, attempt)
    finally:
        attempt.record()


class _Attempt:
    """How one sign-in attempt ended, as far as it got, and when it started (idp/metrics.py)."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.outcome = metrics.UNCHECKED
        self.started = time.perf_counter()

    def record(self) -> None:
        metrics.sign_ins.labels(self.method, self.outcome).inc()
        metrics.sign_in_seconds.labels(self.method, self.outcome).observe(time.perf_counter() - self.started)

    def locked_by_failure(self, verdict: Verdict) -> None:
        """The failure of an attempt the throttle let go ahead: the locks it wrote (S-3)."""
        for kind in verdict.locks_if_wrong:
            metrics.lockouts.labels(metrics.BADGE if kind == "username" and self.method == metrics.BADGE
                                    else kind).inc()


def _attempt_sign_in(pending: Pending, token: str, given_key: str, service: Service, sso: dict | None,
                     username: str, attempt: _Attempt):
    provider = identity_provider()
    password = request.form.get("password", "")
    address = request.remote_addr or "-"
    now = utc_now()
    if not username or not password:
        attempt.outcome = metrics.INCOMPLETE
        return _sign_in_form(pending, token, username, _("Enter your username and password"))
    # Counted as a failure before the password is checked, so a burst cannot outrun the count.
    verdict = provider.throttle.attempt(username, address, now)
    if verdict.wait_seconds:
        attempt.outcome = metrics.LOCKED if verdict.locked else metrics.DELAYED
        log.warning("sign-in attempt refused: too many failures (%s, wait %ss)", address, verdict.wait_seconds)
        error = too_many_attempts(verdict.wait_seconds, verdict.locked)
        return _sign_in_form(pending, token, username, error, 429)
    try:
        account = provider.directory.authenticate(username, password)
    except directory_errors.InvalidCredentials as failed:
        attempt.outcome = metrics.WRONG_PASSWORD if failed.account_id else metrics.UNKNOWN_USERNAME
        attempt.locked_by_failure(verdict)
        # The account's id, never what was typed: a username that matched no account may be a
        # password typed in the wrong box, and a UPN is never logged (M-3).
        log.info("sign-in failed: account %s, from %s", failed.account_id or "(no account matched)", address)
        return _sign_in_form(pending, token, username, _("The username or password is not right"))
    except BaseException:
        provider.throttle.not_checked(username, address)
        raise
    provider.throttle.succeeded(username, address)
    if policy.may_sign_in(account) is not None:
        attempt.outcome = metrics.NOT_ACTIVE
        session.pop(SESSION_KEY, None)
        return render_template("idp/not_active.html"), 403
    attempt.outcome = metrics.SIGNED_IN
    # Sign-in and step-up alike: a new session id and CSRF token, so whatever cookie was in this
    # browser before the password was typed (planted, or copied) opens nothing now.
    renew_session()
    if sso and sso["account"] == account.id and pending.force_authn:
        # Step-up in the same session: a fresh AuthnInstant, the same session index; a fresh
        # authentication asks the second factor again too (issue 18).
        sso["authn_instant"] = now.isoformat()
        sso["method"] = "password"  # a badge session stepped up with the password is a password one now
        sso[SECOND_FACTOR_KEY] = False
        session[SESSION_KEY] = sso
    else:
        sso = _start_session(account)
    log.info("signed in: account %s to %s", account.id, service.name)
    return answer_after_second_factor(pending, account, sso, given_key, token)


# -- the second factor (issue 18) -----------------------------------------------------
@blueprint.route("/second-factor", methods=["GET", "POST"])
def second_factor():
    """After the password, for a request that asks for a second factor (idp/second_factor_pages.py)."""
    token = request.values.get("pending")
    found = pending_from(token)
    if found is None or token is None:
        return problem(_("This sign-in has expired."))
    pending, given_key = found
    sso = live_session()
    if not sso:  # the session ended meanwhile: the password first
        return _sign_in_form(pending, token, "")
    account = identity_provider().directory.account_by_id(sso["account"])
    if account is None or policy.may_sign_in(account) is not None:
        session.pop(SESSION_KEY, None)
        return render_template("idp/not_active.html"), 403
    if sso.get(SECOND_FACTOR_KEY) or request.method == "GET":
        return answer_after_second_factor(pending, account, sso, given_key, token)
    checked = second_factor_pages.check_posted(account, sso["username"], utc_now())
    if isinstance(checked, second_factor_pages.Refusal):
        return second_factor_form(pending, token, account, checked.message, checked.status, checked.method)
    # More is open to this session now: a new session id, as after the password.
    renew_session()
    sso[SECOND_FACTOR_KEY] = True
    session[SESSION_KEY] = sso
    return _answer(pending, account, sso, given_key)


# -- badge sign-in (issue 18) ---------------------------------------------------------------
def _badge_serves(pending: Pending) -> bool:
    service = identity_provider().services.get(pending.service)
    return service is not None and policy.badge_enough(service.allow_badge, pending.asks_password)


BADGE_NOT_RIGHT = "badge not right"  # marker: the one message every refused badge gets


def _badge_page(pending: Pending, token: str, error: str | None = None, status: int = 200, *,
                scanned: str | None = None):
    """The camera page, or (`scanned` given: a right badge of a school in badge + PIN mode) the PIN page."""
    service = identity_provider().services.get(pending.service)
    g.language_base = url_for("idp.badge_sign_in", pending=token)
    if error == BADGE_NOT_RIGHT and scanned:
        # On the PIN page the same words whatever was wrong there (a wrong PIN, or a right one for a
        # learner the badge may not sign in): a child who mistyped is not told the card is bad.
        error = _("That badge and PIN do not match. Try again, or ask your teacher.")
    elif error == BADGE_NOT_RIGHT:
        # The same words whatever was wrong (unknown, revoked, reprinted, another school): a refusal
        # tells nothing about the badge, as a wrong password tells nothing about the username.
        error = _("That badge cannot sign you in. Try again, or ask your teacher.")
    template = "idp/badge_pin.html" if scanned else "idp/badge_sign_in.html"
    return render_template(template, service=service, pending=token, error=error, scanned=scanned,
                           password_url=url_for("idp.sign_in", pending=token)), status


@blueprint.route("/badge", methods=["GET", "POST"])
def badge_sign_in():
    """Sign in with my badge: the page reads the badge's QR code with the camera and posts what it
    holds (never in a URL); a school in badge + PIN mode then asks for the PIN."""
    token = request.values.get("pending")
    found = pending_from(token)
    if found is None:
        return problem(_("This sign-in has expired."))
    pending, given_key = found
    if not _badge_serves(pending):
        log.info("badge sign-in refused: %s does not take badges, or asks for a password", pending.service)
        return _sign_in_form(pending, token, "", _("This service needs your username and password."), 403)
    if request.method == "GET":
        return _badge_page(pending, token)

    attempt = _Attempt(metrics.BADGE)
    try:
        return _attempt_badge_sign_in(pending, token, given_key, attempt)
    finally:
        attempt.record()


def _attempt_badge_sign_in(pending: Pending, token: str, given_key: str, attempt: _Attempt):
    provider = identity_provider()
    text = request.form.get("badge", "")
    pin = request.form.get("pin", "").strip() or None
    address = request.remote_addr or "-"
    now = utc_now()
    if not text:
        attempt.outcome = metrics.INCOMPLETE
        return _badge_page(pending, token, _("Hold your badge up to the camera."), 400)
    scanned = read_token(text)
    # Throttled per badge and per address, as a password is (SPEC S-3). A PIN (10,000 values) is
    # counted before it is checked; a badge's secret cannot be guessed, so it is checked against
    # the counters as they stand and counted only if wrong (idp/guards.py, SignInThrottle.standing).
    name = throttle_name(scanned)
    if pin:
        verdict, had_failures = provider.throttle.attempt(name, address, now), True
    else:
        verdict, had_failures = provider.throttle.standing(name, address, now)
    if verdict.wait_seconds:
        attempt.outcome = metrics.LOCKED if verdict.locked else metrics.DELAYED
        log.warning("badge sign-in refused: too many failures (%s, wait %ss)", address, verdict.wait_seconds)
        error = too_many_attempts(verdict.wait_seconds, verdict.locked)
        return _badge_page(pending, token, error, 429, scanned=text if pin else None)
    try:
        result = provider.badges.check(scanned, pin, provider.directory.account_by_id)
    except BaseException:
        if pin:
            provider.throttle.not_checked(name, address)
        raise
    if result.outcome is Outcome.NEEDS_PIN:
        attempt.outcome = metrics.PIN_ASKED
        return _badge_page(pending, token, scanned=text)  # nothing was guessed yet: the PIN is what counts
    if result.outcome is Outcome.REFUSED:
        attempt.outcome = metrics.BADGE_REFUSED
        # A badge alone is counted now that it is known to be wrong: that count says what it locked.
        attempt.locked_by_failure(verdict if pin else provider.throttle.failed(name, address, now))
        log.info("badge sign-in refused: account %s, from %s: %s", result.account_id or "(no badge matched)",
                 address, result.reason)
        provider.badges.audit_refusal(result, scanned, address, now, provider.directory.account_by_id)
        return _badge_page(pending, token, BADGE_NOT_RIGHT, 400, scanned=text if pin else None)
    account = result.account
    if account is None:  # never: a SIGNED_IN result always carries its account
        raise LookupError("a badge sign-in without its account")
    if pin:
        provider.throttle.succeeded(name, address)
    elif had_failures:
        provider.throttle.forget_failures(name)
    if policy.may_sign_in(account) is not None:  # A-6, exactly as after a right password
        attempt.outcome = metrics.NOT_ACTIVE
        session.pop(SESSION_KEY, None)
        return render_template("idp/not_active.html"), 403
    attempt.outcome = metrics.SIGNED_IN
    provider.directory.record_badge_sign_in(account, now)
    renew_session()
    sso = _start_session(account, method=BADGE)
    log.info("signed in with a badge: account %s to %s", account.id, pending.service)
    return _answer(pending, account, sso, given_key)


@blueprint.get("/problem")
def problem_page():
    """The errorURL in Porth's metadata: where services send people when something went wrong;
    and where a problem page's language switch leads, with the kind of reason to say again."""
    kind = request.args.get("reason")
    return render_template("idp/problem.html", reason=page_reason(kind) if kind in PAGE_KINDS else None), 200

