"""Porth's web app with its IdP, against the session's real slapd, for SAML tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import load_settings, with_secrets
from directory.slapd import PrivateSlapd
from entrypoints.runtime import build_runtime
from tests.integration.conftest import BASE_DN, ROOT_DN
from tests.saml_services import csrf_token, path_of, posted_form
from webui.app import create_app

PASSWORD = "Tiger4821"


@dataclass
class Porth:
    app: object
    client: object
    services_dir: Path
    runtime: object

    @property
    def metadata(self) -> str:
        return self.client.get("/idp/metadata").get_data(as_text=True)

    def register(self, name: str, metadata: bytes, policy: str = "") -> None:
        (self.services_dir / f"{name}.xml").write_bytes(metadata)
        if policy:
            (self.services_dir / f"{name}.toml").write_text(policy)
        self.app.extensions["porth.idp"].services.check_every = 0  # see the new files at once

    def follow(self, response, limit: int = 5):
        for _ in range(limit):
            if response.status_code not in (301, 302, 303):
                return response
            response = self.client.get(path_of(response.headers["Location"]))
        return response

    def sign_in(self, url: str, username: str, password: str = PASSWORD):
        """Browser steps from a service's redirect URL to Porth's answer (the page with the posted form)."""
        page = self.follow(self.client.get(path_of(url)))
        if posted_form(page.get_data(as_text=True)):
            return page  # single sign-on: answered without the form
        return self.submit(page, username, password)

    def submit(self, page, username: str, password: str = PASSWORD):
        text = page.get_data(as_text=True)
        pending = text.split('name="pending" value="', 1)[1].split('"', 1)[0]
        return self.client.post("/idp/sign-in", data={"csrf_token": csrf_token(text), "pending": pending,
                                                      "username": username, "password": password})


def make_porth(slapd: PrivateSlapd, tmp_path: Path, database_url: str | None = None, web: dict | None = None,
               ldap_url: str | None = None, portal: dict | None = None, mfa: dict | None = None,
               ldap: dict | None = None, **idp_settings) -> Porth:
    tmp_path.mkdir(parents=True, exist_ok=True)
    services_dir = tmp_path / "services"
    services_dir.mkdir(exist_ok=True)
    settings = with_secrets(load_settings(
        var_dir=tmp_path / "var",
        ldap={"url": ldap_url or slapd.url, "base_dn": BASE_DN, "bind_dn": ROOT_DN,
              "bind_password": slapd.root_password} | (ldap or {}),
        database={"url": database_url or f"sqlite:///{tmp_path}/operational.sqlite3"},
        idp={"base_url": "http://localhost", "services_dir": services_dir} | idp_settings,
        web=web or {},
        portal=portal or {},
        # Second factors (issue 18) are asked of no role unless a test says so: the portal tests
        # sign champions and administrators in with a password alone.
        mfa={"required_roles": []} if mfa is None else mfa,
    ))
    runtime = build_runtime(settings)
    runtime.db.migrate()
    app = create_app(runtime)
    return Porth(app=app, client=app.test_client(), services_dir=services_dir, runtime=runtime)


@pytest.fixture
def porth(slapd, store, tmp_path) -> Porth:
    made = make_porth(slapd, tmp_path)
    yield made
    made.app.extensions["porth.idp"].close()
    made.runtime.close()
