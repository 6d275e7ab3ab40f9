"""Signing in to the portal and out of it (SPEC R-6), as a SAML service provider of Porth's IdP.

    GET  /portal/sign-in               start a forced sign-in at Porth's IdP (R-6)
    POST /portal/saml/acs              the IdP's Response
    GET  /portal/saml/metadata         the portal's SAML metadata
    POST /portal/sign-out              end the portal session and the single sign-on session
    GET  /portal/saml/sls              the IdP's LogoutResponse (or LogoutRequest)
    GET  /portal/signed-out
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from idp.browser_sessions import renew_session
from webui.portal.access import (
    SIGN_IN_NAME,
    SIGN_IN_SESSION_INDEX,
    SIGNED_IN_AT,
    SIGNED_IN_WITH_SECOND_FACTOR,
    portal_user,
)
from webui.portal.context import directory, school_register, service_provider, utc_now
from webui.portal.saml_sp import PortalSignInRefused

log = logging.getLogger("porth.portal")
bp = Blueprint("session", __name__)

PENDING_SIGN_IN = "portal_sign_in"  # the AuthnRequest ID and where to go after
PENDING_SIGN_OUT = "portal_sign_out"
SIGN_OUT_PARTIAL = "portal_sign_out_partial"  # the IdP answered PartialLogout: said on the signed-out page


def local_path(target: str | None) -> str:
    """Only a path of the portal itself is a place to go after signing in (no open redirect)."""
    if target and target.startswith("/portal/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("portal.dashboard.dashboard")


@bp.get("/sign-in")
def sign_in():
    if request.args.get("second_factor") and current_user.is_authenticated:
        # Issue 18 point 7: a password-only portal session of someone whose role needs a second
        # factor asks the IdP for it; the Response must name the same person (assertion_consumer).
        url, request_id = service_provider().second_factor_url(return_to="")
        session[PENDING_SIGN_IN] = {"id": request_id, "next": local_path(request.args.get("next")),
                                    "account": current_user.account.id}
        return redirect(url, 303)
    url, request_id = service_provider().sign_in_url(return_to="")
    session[PENDING_SIGN_IN] = {"id": request_id, "next": local_path(request.args.get("next"))}
    return redirect(url, 303)


@bp.post("/saml/acs")
def assertion_consumer():
    pending = session.pop(PENDING_SIGN_IN, None) or {}
    try:
        signed_in = service_provider().accept(request.form.to_dict(), pending.get("id"))
    except PortalSignInRefused as exc:
        log.warning("portal sign-in refused: %s", exc)
        return render_template("portal/sign_in_failed.html"), 400
    account = directory().find_by_username(signed_in.username)
    if account is None or not account.is_active:
        return render_template("portal/sign_in_failed.html"), 403
    second_factor_step = pending.get("account")
    if second_factor_step and (second_factor_step != account.id or not signed_in.second_factor
                               or not session.get(SIGNED_IN_AT)):
        log.warning("portal second-factor step refused: another account, or no second factor in the Response")
        return render_template("portal/sign_in_failed.html"), 403
    # A new session id and CSRF token: a cookie planted or copied before this moment opens nothing.
    renew_session()
    session[SIGNED_IN_WITH_SECOND_FACTOR] = signed_in.second_factor
    if second_factor_step:  # the password's forced sign-in still dates the portal session
        log.info("portal: account %s gave a second factor", account.id)
        return redirect(local_path(pending.get("next")), 303)
    session[SIGNED_IN_AT] = utc_now().isoformat()
    session[SIGN_IN_NAME] = signed_in.name_id
    session[SIGN_IN_SESSION_INDEX] = signed_in.session_index
    login_user(portal_user(account, school_register()))
    log.info("portal: account %s signed in", account.id)
    return redirect(local_path(pending.get("next")), 303)


@bp.get("/saml/metadata")
def metadata() -> Response:
    return Response(service_provider().metadata(), mimetype="application/samlmetadata+xml")


def forget_portal_session() -> None:
    logout_user()
    for key in (SIGNED_IN_AT, SIGN_IN_NAME, SIGN_IN_SESSION_INDEX, SIGNED_IN_WITH_SECOND_FACTOR):
        session.pop(key, None)


@bp.post("/sign-out")
def sign_out():
    name_id, session_index = session.get(SIGN_IN_NAME), session.get(SIGN_IN_SESSION_INDEX)
    forget_portal_session()
    if not name_id:
        return redirect(url_for("portal.session.signed_out"), 303)
    url, request_id = service_provider().sign_out_url(name_id, session_index)
    session[PENDING_SIGN_OUT] = request_id
    return redirect(url, 303)


@bp.get("/saml/sls")
def single_logout():
    """Acts only on a valid, signed message from the IdP (issue 15 point 2): anything else leaves
    the portal session as it is and says so."""
    pending = session.get(PENDING_SIGN_OUT)
    checked = service_provider().accept_logout(request.args.to_dict(), pending, session.get(SIGN_IN_NAME),
                                               session.get(SIGN_IN_SESSION_INDEX))
    if not checked.acted:
        log.warning("portal single logout message refused: %s", ", ".join(checked.problems))
        return render_template("portal/sign_out_ignored.html", signed_in=current_user.is_authenticated), 400
    session.pop(PENDING_SIGN_OUT, None)
    forget_portal_session()
    if checked.answer_url:  # signed out elsewhere: tell the IdP the portal has done so too
        return redirect(checked.answer_url, 303)
    if checked.partial:
        session[SIGN_OUT_PARTIAL] = True
    return redirect(url_for("portal.session.signed_out"), 303)


@bp.get("/signed-out")
def signed_out():
    return render_template("portal/signed_out.html", partial=session.pop(SIGN_OUT_PARTIAL, False))
