"""What both the sign-in endpoints (idp/views.py) and the sign-out endpoints (idp/logout_views.py)
work with: the single sign-on session in the browser's session (a server-side row,
idp/browser_sessions.py), the identity provider of this worker, the signed tokens that carry
a checked message to a GET, and the two pages every endpoint may answer with (the problem
page, and the page that posts a message to a service).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import current_app, g, render_template, session, url_for
from itsdangerous import URLSafeTimedSerializer

from idp import bindings, tokens
from idp.pages import PreparedPage
from idp.provider import IdentityProvider

log = logging.getLogger("porth.idp")

SESSION_KEY = "sso"  # the single sign-on session, in the browser's server-side session
# In the single sign-on session: a second factor was given after the password (issue 18).
SECOND_FACTOR_KEY = "second_factor"

POST_BINDING_PAGE = PreparedPage("idp/post_binding.html", ("action", "value", "relay_state"))


def identity_provider() -> IdentityProvider:
    return current_app.extensions["porth.idp"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def signed_tokens(purpose: str) -> URLSafeTimedSerializer:
    """The serializer of one kind of token (`pending`, `post`, `slo`): a token of one kind is never read as another."""
    return tokens.serializer((current_app.secret_key,), f"porth.idp.{purpose}")


def live_session() -> dict | None:
    """The browser's single sign-on session, unless it has expired (then it is forgotten)."""
    data = session.get(SESSION_KEY)
    if not data:
        return None
    expires = datetime.fromisoformat(data["expires"])
    if expires <= utc_now():
        session.pop(SESSION_KEY, None)
        return None
    return data


def problem(reason: str, status: int = 400, *, detail: str | None = None, kind: str | None = None) -> tuple[str, int]:
    """A page for a request that cannot be answered to any service: `reason` is shown, in the
    reader's language; `detail`, the technical English the service's people need (which check
    refused what), goes to the log only (issue 16 point 8: the page is the person's, in Welsh too).
    With a `kind` (intake's PAGE_ kinds) the language switch shows the same reason again."""
    log.warning("sign-in request refused: %s", detail or reason)
    # Never the request's own URL (a second use is refused): the problem page, with the kind of reason.
    g.language_base = url_for("idp.problem_page", reason=kind) if kind else url_for("idp.problem_page")
    return render_template("idp/problem.html", reason=reason), status


def post_to(url: str, field: str, message: bytes, relay_state: str | None) -> str:
    """The page that posts a message to a service (HTTP-POST binding), submitted by script."""
    fixed = {"field": field} if relay_state is not None else {"field": field, "relay_state": None}
    return POST_BINDING_PAGE.render((field, relay_state is None), fixed, {
        "action": url, "value": bindings.encode_post(message), "relay_state": relay_state or ""})
