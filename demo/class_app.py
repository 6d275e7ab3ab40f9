"""The demo's class app: a service that signs learners in through Porth and takes badges.

Without it a newcomer could print badges in the demo but sign in with them nowhere: the portal
never takes a badge and Office 365 is not reachable from a demo. `porth demo` serves it in a
thread, as it serves the fake Microsoft Graph, and registers it in the demo's services folder
with `allow_badge = true` (docs/sign-in.md). It is a service provider as a school's other
services are: python3-saml sends a signed AuthnRequest and checks the signed Response in strict
mode; the page then shows whom Porth signed in and what it told the service.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, redirect, request
from markupsafe import escape
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from werkzeug.serving import make_server

from idp.attributes import ATTRIBUTES
from idp.saml_xml import BINDING_POST, NAMEID_PERSISTENT
from idp.signing import generate_signing_pair, load_signing_key

SERVICE_NAME = "demo-class-app"  # its files in the services folder: demo-class-app.xml and .toml
RELEASED = ("username", "given_name", "surname", "school", "year_group", "registration_group")
_LABELS = {ATTRIBUTES[name].uri: label for name, label in (
    ("username", "Username · Enw defnyddiwr"), ("given_name", "Forename · Enw cyntaf"),
    ("surname", "Surname · Cyfenw"), ("school", "School (DfES number) · Ysgol (rhif DfES)"),
    ("year_group", "Year group (NC year) · Blwyddyn (blwyddyn CC)"),
    ("registration_group", "Registration group · Grŵp cofrestru"))}
POLICY = f"""# The demo's class app (demo/class_app.py), written by `porth demo` each time it starts.
# Every account may reach it (C-2: a core service); it takes badges (issue 18).
category = "core"
release = [{", ".join(f'"{name}"' for name in RELEASED)}]
allow_badge = true

[display_name]
en = "Demo class app"
cy = "Ap dosbarth demo"
"""
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Demo class app</title>
<style>body{{font-family:system-ui,sans-serif;margin:0 auto;max-width:40rem;padding:1rem;line-height:1.5}}
a.button{{display:inline-block;background:#00703c;color:#fff;padding:.75rem 1.25rem;font-size:1.25rem;
text-decoration:none;border-radius:4px}} th{{text-align:left;padding-right:1rem}} p.note{{color:#505a5f}}
code{{overflow-wrap:anywhere}}</style>
</head><body><p class="note">Porth demo · Demo class app · <span lang="cy">Ap dosbarth demo</span></p>
<h1>{title}</h1>{body}</body></html>"""


def _listenable(host: str, port: int) -> None:
    """OSError when the port is taken: werkzeug's make_server would print a message of its own and
    exit the whole demo, naming no option to change."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class ClassApp:
    """The service at `url`, Porth's IdP at `idp_base_url`; its key under `var_dir`."""

    def __init__(self, port: int, idp_base_url: str, var_dir: Path, host: str = "127.0.0.1"):
        self.url = f"http://{'localhost' if host == '127.0.0.1' else host}:{port}"
        self.idp_base_url = idp_base_url.rstrip("/")
        self.entity_id = f"{self.url}/metadata"
        key_file = var_dir / "demo-class-app.pem"
        generate_signing_pair(key_file, self.entity_id)
        own = load_signing_key(key_file, key_file)
        self._sp = {
            "entityId": self.entity_id,
            "assertionConsumerService": {"url": f"{self.url}/acs", "binding": BINDING_POST},
            "NameIDFormat": NAMEID_PERSISTENT,
            "x509cert": own.certificate_base64,
            "privateKey": own.private_key_pem(),
        }
        # No RequestedAuthnContext: python3-saml's default names PasswordProtectedTransport, and a
        # request that asks for a password is never answered with a badge (issue 18 point 3).
        self._security = {"authnRequestsSigned": True, "wantAssertionsSigned": True, "wantMessagesSigned": True,
                          "rejectDeprecatedAlgorithm": True, "requestedAuthnContext": False}
        self._settings: OneLogin_Saml2_Settings | None = None  # made at the first sign-in: Porth answers by then
        self._lock = threading.Lock()
        self.outstanding: set[str] = set()  # the IDs of the requests sent, each answered once
        app = Flask(__name__)
        app.add_url_rule("/", "home", self.home)
        app.add_url_rule("/metadata", "metadata", self.metadata_view)
        app.add_url_rule("/login", "login", self.login)
        app.add_url_rule("/acs", "acs", self.acs, methods=["POST"])
        _listenable(host, port)
        self._server = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-class-app", daemon=True)

    # -- registration ---------------------------------------------------------------------------
    def metadata(self) -> bytes:
        """Its SAML metadata: what a service gives an IdP to be registered (no IdP needed for it)."""
        settings = OneLogin_Saml2_Settings({"strict": True, "sp": self._sp, "security": self._security},
                                           sp_validation_only=True)
        document = settings.get_sp_metadata()
        return document if isinstance(document, bytes) else document.encode("utf-8")

    def register(self, services_dir: Path) -> None:
        services_dir.mkdir(parents=True, exist_ok=True)
        (services_dir / f"{SERVICE_NAME}.xml").write_bytes(self.metadata())
        (services_dir / f"{SERVICE_NAME}.toml").write_text(POLICY, encoding="utf-8")

    def start(self) -> ClassApp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    # -- the service ----------------------------------------------------------------------------
    def _saml_settings(self) -> OneLogin_Saml2_Settings:
        with self._lock:
            if self._settings is None:
                with urllib.request.urlopen(f"{self.idp_base_url}/idp/metadata", timeout=10) as answer:  # noqa: S310
                    idp = OneLogin_Saml2_IdPMetadataParser.parse(answer.read().decode("utf-8"))["idp"]
                self._settings = OneLogin_Saml2_Settings({"strict": True, "sp": self._sp, "idp": idp,
                                                          "security": self._security})
            return self._settings

    def _auth(self, path: str, post: dict[str, Any] | None = None) -> OneLogin_Saml2_Auth:
        return OneLogin_Saml2_Auth({"https": "off", "http_host": urlsplit(self.url).netloc,  # with its port
                                    "script_name": path, "get_data": {}, "post_data": post or {}},
                                   old_settings=self._saml_settings())

    def home(self):
        body = ("<p>A service of the demo's schools, as a class's learning app would be. It signs you in "
                "through Porth, with a password or, for a learner of the years the school chose, a badge.</p>"
                f'<p><a class="button" id="sign-in" href="{self.url}/login">Sign in · Mewngofnodi</a></p>'
                "<p class=\"note\">A digital champion prints badges in the User Management Portal (Badges). "
                "On Porth's sign-in page, press <em>Sign in with my badge</em> and hold the card to the camera.</p>")
        return _PAGE.format(title="Demo class app", body=body)

    def metadata_view(self):
        return self.metadata(), 200, {"Content-Type": "application/samlmetadata+xml"}

    def login(self):
        auth = self._auth("/login")
        url = auth.login(return_to=self.url + "/")
        self.outstanding.add(auth.get_last_request_id())
        return redirect(url)

    def acs(self):
        auth = self._auth("/acs", post=request.form.to_dict())
        try:
            auth.process_response()
        except Exception as exc:  # noqa: BLE001 - python3-saml raises anything on a garbled message
            return self._refused(f"{type(exc).__name__}: {exc}")
        answered = auth.get_last_response_in_response_to()
        if auth.get_errors() or answered not in self.outstanding:
            return self._refused(auth.get_last_error_reason() or "a Response to no request of this app")
        self.outstanding.discard(answered)  # each request is answered once
        attributes = auth.get_attributes()
        name = " ".join(attributes.get(ATTRIBUTES[n].uri, [""])[0] for n in ("given_name", "surname")).strip()
        rows = "".join(f"<tr><th scope=\"row\">{escape(_LABELS.get(uri, uri))}</th>"
                       f"<td data-attribute=\"{escape(uri)}\">{escape(', '.join(values))}</td></tr>"
                       for uri, values in sorted(attributes.items(), key=lambda item: _LABELS.get(item[0], item[0])))
        body = (f'<p id="signed-in">Signed in as <strong>{escape(name)}</strong>. '
                f'<span lang="cy">Wedi mewngofnodi fel <strong>{escape(name)}</strong>.</span></p>'
                "<h2>What Porth told this service · Beth ddywedodd Porth wrth y gwasanaeth hwn</h2>"
                f"<table>{rows}</table>"
                f"<p class=\"note\">Sign-in context: <code id=\"authn-context\">"
                f"{escape(' '.join(auth.get_last_authn_contexts()))}</code></p>"
                f'<p><a href="{self.url}/">Back to the class app · Yn ôl i\'r ap dosbarth</a></p>')
        return _PAGE.format(title="Welcome · Croeso", body=body)

    def _refused(self, reason: str):
        body = (f'<p id="refused">This service did not accept Porth\'s answer: {escape(reason)}</p>'
                f'<p><a href="{self.url}/">Try again · Rhowch gynnig arall arni</a></p>')
        return _PAGE.format(title="Not signed in · Heb fewngofnodi", body=body), 403
