"""The portal in the Flask test client, signed in through Porth's own IdP like a browser would."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.integration.idp_fixtures import PASSWORD, Porth, make_porth
from tests.saml_services import path_of, posted_form


@dataclass
class PortalBrowser:
    porth: Porth

    @property
    def client(self):
        return self.porth.client

    def open(self, path: str):
        return self.porth.follow(self.client.get(path))

    def sign_in(self, username: str, password: str = PASSWORD, path: str = "/portal/"):
        """From a portal address to the page it leads to, through the IdP's sign-in form."""
        form_page = self.open(path)
        assert 'name="password"' in form_page.get_data(as_text=True), "the portal must ask for the password (R-6)"
        answer = self.porth.submit(form_page, username, password)
        posted = posted_form(answer.get_data(as_text=True))
        assert posted is not None, answer.get_data(as_text=True)[:1500]
        assert posted.action == "http://localhost/portal/saml/acs"
        return self.porth.follow(self.client.post(path_of(posted.action), data=posted.fields))


@pytest.fixture
def portal(slapd, store, tmp_path):
    made = make_porth(slapd, tmp_path, portal={"page_size": 10})
    yield PortalBrowser(made)
    made.app.extensions["porth.idp"].close()
    made.runtime.close()
