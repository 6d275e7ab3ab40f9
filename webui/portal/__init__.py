"""The User Management Portal (issue 5): school staff, digital champions and Hwb administrators.

One blueprint per area, each in its own module (flaskr style), nested under one `portal`
blueprint at /portal: endpoints read `portal.<area>.<view>` (`portal.users.account_details`).
The parent holds what every area shares: the page helpers of the templates and the answer to
an operation's refusal (the same 404 or 403 a view's own check gives). The state changes
themselves are the operations of webui/portal/operations/.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, redirect, request, url_for
from werkzeug.exceptions import Forbidden, NotFound

from config.settings import PORTAL_SP_PEM, Settings, secret_path
from idp.provider import IdentityProvider
from webui.portal import (
    administrators,
    audit_view,
    badges,
    credentials,
    dashboard,
    factors,
    licences,
    manage,
    nonmis,
    session,
    users,
)
from webui.portal.access import SchoolRegister, init_login
from webui.portal.lists import group_label
from webui.portal.menu import page_helpers, school_labels
from webui.portal.operations.core import OutOfScope, Refused
from webui.portal.saml_sp import PortalServiceProvider
from webui.portal.words import TEMPLATE_GLOBALS as WORDS

AREAS = (session, dashboard, users, manage, nonmis, credentials, administrators, licences, audit_view, badges,
         factors)


def refused(exc: Refused):
    """R-5: outside the person's scope is not found (its existence never confirmed); in scope, forbidden."""
    return current_app.handle_http_exception(NotFound() if isinstance(exc, OutOfScope) else Forbidden())


def portal_blueprint() -> Blueprint:
    """The portal's blueprint with every area's registered in it (one per app: Flask keeps
    a blueprint's children on it)."""
    portal = Blueprint("portal", __name__, url_prefix="/portal")
    portal.context_processor(page_helpers)
    # A global, not a page helper: the macros of _macros.html are imported without the page's context.
    portal.add_app_template_global(school_labels)
    portal.add_app_template_global(group_label)
    for name, words in WORDS.items():  # stored ids read as words, in the reader's language (issue 16 point 7)
        portal.add_app_template_global(words, name)
    portal.register_error_handler(Refused, refused)
    # Issue 18 point 7: the roles that must give a second factor give one before anything opens.
    portal.before_request(factors.second_factor_gate)
    portal.add_app_template_global(factors.second_factor_summary)
    for area in AREAS:
        portal.register_blueprint(area.bp)
    return portal


def init_portal(app: Flask, settings: Settings, provider: IdentityProvider) -> None:
    sp = PortalServiceProvider(base_url=settings.idp.base_url, idp_entity_id=provider.entity_id,
                               idp_key=provider.key, key_file=secret_path(settings, PORTAL_SP_PEM),
                               replay_ledger=provider.ledger)
    provider.services.add_built_in(sp.as_service())
    app.extensions["porth.portal_sp"] = sp
    register = SchoolRegister(app.extensions["porth"].store)
    app.extensions["porth.school_register"] = register
    manager = init_login(app, register)

    @manager.unauthorized_handler
    def sign_in_first():
        return redirect(url_for("portal.session.sign_in", next=request.full_path.rstrip("?")), 303)

    app.extensions["csrf"].exempt(session.assertion_consumer)  # a signed SAML Response, checked by python3-saml
    app.register_blueprint(portal_blueprint())
