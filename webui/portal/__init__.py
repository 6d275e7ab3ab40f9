"""The User Management Portal (issue 5): school staff, digital champions and Hwb administrators."""

from __future__ import annotations

from flask import Flask, redirect, request, url_for

from config.settings import Settings
from idp.provider import IdentityProvider
from webui.portal.access import SchoolRegister, init_login
from webui.portal.saml_sp import PortalServiceProvider


def init_portal(app: Flask, settings: Settings, provider: IdentityProvider) -> None:
    # Each module adds its routes to the one portal blueprint.
    from webui.portal import administrators, audit_view, credentials, licences, manage, nonmis, users, views  # noqa: F401

    sp = PortalServiceProvider(base_url=settings.idp.base_url, idp_entity_id=provider.entity_id,
                               idp_key=provider.key, key_file=settings.secrets_dir / "portal-sp.pem")
    provider.services.add_built_in(sp.as_service())
    app.extensions["porth.portal_sp"] = sp
    register = SchoolRegister(app.extensions["porth"].store)
    app.extensions["porth.school_register"] = register
    manager = init_login(app, register)

    @manager.unauthorized_handler
    def sign_in_first():
        return redirect(url_for("portal.sign_in", next=request.full_path.rstrip("?")), 303)

    app.extensions["csrf"].exempt(views.assertion_consumer)  # a signed SAML Response, checked by python3-saml
    app.register_blueprint(views.blueprint)
