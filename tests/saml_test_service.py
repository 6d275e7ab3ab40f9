"""A small web service that signs people in through Porth, built on python3-saml
(nobody here wrote its SAML code): what a school's other services look like to
the IdP. Used by the browser test; `python -m tests.saml_test_service` is not
needed, the test starts it in a thread."""

from __future__ import annotations

import threading
import urllib.request

from flask import Flask, redirect, request
from markupsafe import escape
from werkzeug.serving import make_server

from tests.saml_services import OneLoginService


class DemoService:
    def __init__(self, port: int, idp_metadata_url: str, **saml_options):
        with urllib.request.urlopen(idp_metadata_url, timeout=10) as response:
            metadata = response.read().decode("utf-8")
        self.saml = OneLoginService(entity_id=f"http://127.0.0.1:{port}/metadata", idp_metadata=metadata,
                                    base=f"http://127.0.0.1:{port}", **saml_options)
        self.url = f"http://127.0.0.1:{port}"
        self.outstanding: set[str] = set()
        app = Flask(__name__)
        app.add_url_rule("/login", "login", self.login)
        app.add_url_rule("/acs", "acs", self.acs, methods=["POST"])
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _request_data(self, path, post=None):
        data = self.saml._request_data(path, post=post)
        data.update(https="off", http_host=self.url.split("//", 1)[1])
        return data

    def login(self):
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        auth = OneLogin_Saml2_Auth(self._request_data("/login"), old_settings=self.saml.settings())
        url = auth.login(return_to=self.url + "/welcome")
        self.outstanding.add(auth.get_last_request_id())
        return redirect(url)

    def acs(self):
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        auth = OneLogin_Saml2_Auth(self._request_data("/acs", post=request.form.to_dict()),
                                   old_settings=self.saml.settings())
        auth.process_response()
        if auth.get_errors() or auth.get_last_response_in_response_to() not in self.outstanding:
            return f"<h1>Refused</h1><p id='reason'>{escape(auth.get_last_error_reason())}</p>", 403
        rows = "".join(f"<tr><th>{escape(name)}</th><td data-attribute='{escape(name)}'>{escape(', '.join(values))}"
                       "</td></tr>" for name, values in sorted(auth.get_attributes().items()))
        contexts = escape(" ".join(auth.get_last_authn_contexts()))
        return (f"<h1>Welcome to the test service</h1><p id='relay'>{escape(request.form.get('RelayState', ''))}"
                f"</p><p id='authn-context'>{contexts}</p><table>{rows}</table>")

    def __enter__(self) -> DemoService:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
