"""Signing in through Porth's page in a real browser (Chromium + Playwright), in
English and Welsh, and landing on a service with the right attributes (issue 4)."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request

from playwright.sync_api import expect

from directory.model import AccountKind, AccountState
from tests.browser.accessibility import ARTIFACTS
from tests.conftest import free_port
from tests.saml_test_service import DemoService


def _a_demo_learner(demo_server):
    with demo_server.runtime() as runtime:
        learner = next(a for a in runtime.store.iter_accounts()
                       if a.kind is AccountKind.LEARNER and a.state is AccountState.ACTIVE)
        return learner, runtime.store.reveal_password(learner.id)


def _registered(demo_server, service: DemoService) -> None:
    """Porth re-reads its services folder when it changes (at most once a second): wait until it answers."""
    (demo_server.services_dir / "test-service.xml").write_bytes(service.saml.metadata())
    (demo_server.services_dir / "test-service.toml").write_text(
        'category = "core"\nrelease = ["username", "mail", "given_name", "surname", "display_name"]\n'
        'display_name = { en = "Test service", cy = "Gwasanaeth prawf" }\n')
    wait_until_known(demo_server.url, "test-service")


def wait_until_known(porth_url: str, name: str) -> None:
    """Until the Porth at `porth_url` has read the service NAME from its folder (it looks at most
    once a second): an IdP-initiated sign-in to it is then answered, or refused as not accepted,
    but no longer as not registered."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{porth_url}/idp/sso/init?service={name}", timeout=5):
                return  # known, and it takes IdP-initiated sign-ins
        except urllib.error.HTTPError as refused:
            # Not "not registered" but "not accepted": the problem page's language switch names the kind.
            if b"reason=not-accepted" in refused.read():
                return  # known now (it just does not take IdP-initiated sign-ins)
        time.sleep(0.2)
    raise TimeoutError(f"Porth at {porth_url} did not pick up the service {name}")


def test_a_learner_signs_in_through_the_page_in_welsh_and_reaches_the_service(browser, demo_server, tmp_path):
    learner, password = _a_demo_learner(demo_server)
    with DemoService(free_port(), demo_server.url + "/idp/metadata") as service:
        _registered(demo_server, service)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(service.url + "/login")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert "Test service" in page.locator("main").inner_text()
        page.screenshot(path=str(tmp_path / "sign-in-en.png"), full_page=True)

        with page.expect_navigation():
            page.get_by_role("link", name="Cymraeg").click()
        expect(page.get_by_role("heading", name="Mewngofnodi")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == "cy"
        assert "Gwasanaeth prawf" in page.locator("main").inner_text()
        page.screenshot(path=str(tmp_path / "sign-in-cy.png"), full_page=True)
        page.keyboard.press("Tab")  # keyboard users get the skip link first, in their language
        assert page.evaluate("document.activeElement.textContent") == "Neidio i'r prif gynnwys"
        page.keyboard.press("Escape")

        page.get_by_label("Enw defnyddiwr").fill(learner.username)
        page.get_by_label("Cyfrinair").fill("not-the-password-1")
        with page.expect_navigation():
            page.get_by_role("button", name="Mewngofnodi").click()
        assert "Nid yw'r enw defnyddiwr neu'r cyfrinair yn gywir" in page.locator(".govuk-error-summary").inner_text()

        page.get_by_label("Cyfrinair").fill(password)
        page.get_by_role("button", name="Mewngofnodi").click()
        page.wait_for_url(service.url + "/acs")
        expect(page.get_by_role("heading", name="Welcome to the test service")).to_be_visible()
        assert page.locator("#relay").inner_text() == service.url + "/welcome"
        assert page.locator('[data-attribute="urn:oid:0.9.2342.19200300.100.1.3"]').inner_text() == learner.mail
        assert page.locator('[data-attribute="urn:oid:2.5.4.42"]').inner_text() == learner.forename
        assert page.locator('[data-attribute="urn:oid:0.9.2342.19200300.100.1.1"]').inner_text() == learner.username
        page.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("sign-in-en.png", "sign-in-cy.png"):
        assert (tmp_path / name).stat().st_size > 10_000
        shutil.copy(tmp_path / name, ARTIFACTS / name)
