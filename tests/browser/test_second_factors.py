"""Second factors in Chromium (issue 18 point 9): a digital champion of the demo, asked to enrol at
their first visit, enrols a security key through Chromium's virtual authenticator (the DevTools
protocol's WebAuthn domain) and an authenticator app (codes computed here), enters the management
area with the key, signs in to a python3-saml service that asks for REFEDS MFA with the app's code,
then with a recovery code that works once; a cloned key behind the real one's counter is refused;
an Entra-shaped request for multipleauthn is answered with it. Make new recovery codes and Remove
ask first (the last factor's question says what goes with it). Screenshots of each page at 1280
and 375 px, in English and Welsh, in var/screenshots/mfa-*.png.

The demo server (tests/conftest.py) asks no role for a second factor, so this module starts a
second `porth serve` on the same directory and database with the default roles, at
http://localhost (WebAuthn takes a host name, not an IP address, as its relying party)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from demo.people import DEMO_LA
from directory.model import AccountKind, Role
from idp import second_factor_rules
from idp.authn_contexts import MICROSOFT_MULTIPLE_AUTHN, REFEDS_MFA
from tests.browser.accessibility import keep_screenshot, serious_problems
from tests.browser.test_sign_in_page import _registered, wait_until_known
from tests.conftest import ROOT, free_port, wait_until_answering
from tests.saml_test_service import DemoService

WRONG = "That code or security key is not right. Try again."
WRONG_RECOVERY = ("That recovery code is not right, or it has been used already: each one works once. "
                  "Try another of your recovery codes.")
SHIPPED = Path(__file__).parents[2] / "config" / "services"


@pytest.fixture(scope="module")
def mfa_server(demo_server, tmp_path_factory):
    port = free_port()
    env = {k: v for k, v in demo_server.env.items() if k != "PORTH_MFA__REQUIRED_ROLES"}
    env["PORTH_IDP__BASE_URL"] = f"http://localhost:{port}"
    log = (tmp_path_factory.mktemp("mfa") / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port), "--workers",
                                "1"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        wait_until_answering(f"http://localhost:{port}/healthz", process)
        yield f"http://localhost:{port}"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def champion(demo_server):
    """A digital champion of the demo's last school (the portal tests use the first school's)."""
    with demo_server.runtime() as runtime:
        school = max(runtime.store.schools(), key=lambda s: s.dfes)
        person = next(a for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF)
                      if Role.DIGITAL_CHAMPION in a.roles)
        return person, runtime.store.reveal_password(person.id)


def look(page, name: str, tmp_path, languages: tuple[str, ...] = ("en", "cy")) -> None:
    """Screenshots at 1280 and 375 px, in English and in Welsh (the language switch, then back),
    and axe-core finds nothing serious at the phone's width; a page that answers a POST (shown
    once, or an error) in the language it is in only."""
    for language in languages:
        if language == "cy":
            with page.expect_navigation():
                page.locator('a[hreflang="cy"]').click()
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            keep_screenshot(page, tmp_path, f"mfa-{name}-{language}-{width}")
        # The last width is the phone's: the page itself never scrolls sideways (a table may, in its region).
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{name} ({language}) is {width} px wide on a 375 px phone"
        problems = serious_problems(page, f"{name} ({language}, 375 px)")
        assert not problems, "\n".join(problems)
    if "cy" in languages:
        with page.expect_navigation():
            page.locator('a[hreflang="en"]').click()
    page.set_viewport_size({"width": 1280, "height": 900})


def out_of_reach(page, selector: str) -> list[str]:
    """What `selector` finds that is off the screen's sides, or inside something that scrolls sideways."""
    return page.evaluate("""(selector) => [...document.querySelectorAll(selector)].filter((element) => {
        const box = element.getBoundingClientRect();
        if (box.left < 0 || box.right > document.documentElement.clientWidth) { return true; }
        for (let parent = element.parentElement; parent; parent = parent.parentElement) {
            const overflow = getComputedStyle(parent).overflowX;
            if (overflow !== "visible" && parent.scrollWidth > parent.clientWidth + 1) { return true; }
        }
        return false;
    }).map((element) => element.textContent.trim())""", selector)


def virtual_authenticator(context, page):
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True}})
    return cdp, found["authenticatorId"]


def password(page, username: str, typed: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(typed)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def next_code(secret: str) -> str:
    # The code of the next 30 s (the IdP takes one step ahead): the current one is used up.
    return second_factor_rules.totp_code(secret, second_factor_rules.time_step(datetime.now(UTC)) + 1)


def test_second_factors_in_chromium(browser, demo_server, mfa_server, champion, tmp_path):
    person, typed_password = champion
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(context, page)

    # First visit: the password, then "set up a second factor" before anything else opens.
    page.goto(mfa_server + "/portal/")
    password(page, person.username, typed_password)
    page.wait_for_url("**/portal/profile/second-factors")
    expect(page.locator("#must-enrol")).to_be_visible()
    look(page, "must-enrol", tmp_path)

    # A security key through the virtual authenticator, and the recovery codes shown once.
    page.get_by_role("link", name="Add a security key or passkey").click()
    look(page, "enrol-key", tmp_path)
    page.get_by_label("A name for it").fill("Blue key")
    with page.expect_navigation():
        page.get_by_role("button", name="Add the security key").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    # What comes next is said of the factor set up: a key is touched, it has no code to wait for.
    expect(page.locator("main")).to_contain_text("Have your security key or passkey ready.")
    expect(page.locator("main")).not_to_contain_text("needs its next code")
    look(page, "recovery-codes", tmp_path, ("en",))
    # Print these codes: the browser's print (portal.js; the CSP runs no inline script), and on paper
    # only the codes and what they are for.
    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    page.get_by_role("button", name="Print these codes").click()
    assert page.evaluate("window.printed") == 1
    page.emulate_media(media="print")
    keep_screenshot(page, tmp_path, "mfa-recovery-codes-print")
    expect(page.locator("#recovery-codes")).to_be_visible()
    for off_paper in ("#print-codes", "#continue", ".govuk-service-navigation", ".govuk-footer"):
        expect(page.locator(off_paper)).to_be_hidden()
    page.emulate_media(media="screen")

    # The management area now asks the IdP for the key: no password again.
    page.locator("#continue").click()
    page.get_by_role("heading", name="Confirm it is you").wait_for()
    look(page, "prompt-key", tmp_path)
    with page.expect_navigation(url="**/portal/"):
        page.get_by_role("button", name="Use your security key").click()
    expect(page.get_by_role("heading", name="School Administrator Dashboard")).to_be_visible()

    # An authenticator app as well, from its QR code's key (what the app would read).
    page.goto(mfa_server + "/portal/profile/second-factors/app")
    expect(page.locator("#qr svg")).to_be_visible()
    scanned = page.locator("#totp-secret").text_content().replace(" ", "")
    qr = page.locator("#qr").inner_html()
    look(page, "enrol-app", tmp_path)  # Cymraeg and back: the same key and QR code as scanned
    page.reload()
    assert page.locator("#qr").inner_html() == qr
    page.get_by_text("Cannot scan the code?").click()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert secret == scanned
    page.get_by_label("A name for it").fill("My phone")
    page.get_by_label("Code from your authenticator app").fill(
        second_factor_rules.totp_code(secret, second_factor_rules.time_step(datetime.now(UTC))))
    with page.expect_navigation():
        page.get_by_role("button", name="Add the app").click()
    expect(page.locator("#factors").get_by_role("heading", name="My phone", exact=True)).to_be_visible()
    expect(page.locator("#factors").get_by_role("heading", name="Blue key", exact=True)).to_be_visible()
    look(page, "factors", tmp_path)
    # On a phone, in both languages, each factor's Remove (Dileu, a link to its question) is on the
    # screen, not in a region scrolled sideways.
    page.set_viewport_size({"width": 375, "height": 900})
    for language in ("cy", "en"):
        with page.expect_navigation():
            page.locator(f'a[hreflang="{language}"]').click()
        actions = page.locator("#factors .govuk-summary-card__action a")
        assert actions.count() == 2
        assert not out_of_reach(page, "#factors .govuk-summary-card__action a"), f"cut off at 375 px ({language})"
    page.set_viewport_size({"width": 1280, "height": 900})
    key = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]

    # Make new recovery codes asks first (the codes they have stop working), then shows the new ones.
    with page.expect_navigation():
        page.get_by_role("button", name="Make new recovery codes").click()
    expect(page.get_by_role("heading", name="Make new recovery codes?")).to_be_visible()
    expect(page.locator(".govuk-warning-text")).to_contain_text("will stop working at once")
    look(page, "new-codes-confirm", tmp_path)
    with page.expect_navigation():
        page.locator("#confirm").click()
    expect(page.locator("#codes-replaced")).to_be_visible()
    assert page.locator("#recovery-codes code").all_inner_texts() != codes
    codes = page.locator("#recovery-codes code").all_inner_texts()  # the ones the recovery below uses
    assert len(codes) == 10

    with DemoService(free_port(), mfa_server + "/idp/metadata", requested_contexts=(REFEDS_MFA,)) as service:
        _registered(demo_server, service)
        # A python3-saml service asking for REFEDS MFA, from another browser: password, then the app's code.
        other = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = other.new_page()
        tab.goto(service.url + "/login")
        password(tab, person.username, typed_password)
        expect(tab.get_by_label("Code from your authenticator app")).to_be_visible()
        look(tab, "prompt-app", tmp_path)
        tab.get_by_label("Code from your authenticator app").fill(next_code(secret))
        tab.get_by_role("button", name="Continue").click()
        tab.wait_for_url(service.url + "/acs")
        assert tab.locator("#authn-context").inner_text() == REFEDS_MFA
        other.close()

        # Lost phone and key: a recovery code, once.
        for attempt in ("first", "again"):
            lost = browser.new_context(viewport={"width": 1280, "height": 900})
            tab = lost.new_page()
            tab.goto(service.url + "/login")
            password(tab, person.username, typed_password)
            tab.get_by_text("Lost your phone or security key?").click()
            tab.get_by_label("Recovery code").fill(codes[0])
            with tab.expect_navigation():
                tab.get_by_role("button", name="Use recovery code").click()
            if attempt == "first":
                tab.wait_for_url(service.url + "/acs")
                assert tab.locator("#authn-context").inner_text() == REFEDS_MFA
            else:
                # Refused on its own field, its section still open, the help naming who is above a champion.
                assert tab.locator(".govuk-error-summary").inner_text().endswith(WRONG_RECOVERY)
                expect(tab.locator("#recovery-code-error")).to_be_visible()
                expect(tab.get_by_label("Recovery code")).to_be_focused()
                expect(tab.locator("#who-resets")).to_contain_text("Ask your local authority’s Hwb administrator")
                look(tab, "refused", tmp_path, ("en",))
            lost.close()

        # A clone of the key (its private key copied, its counter behind): refused like a wrong code.
        cloned = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = cloned.new_page()
        clone_cdp, clone = virtual_authenticator(cloned, tab)
        clone_cdp.send("WebAuthn.addCredential", {"authenticatorId": clone, "credential": {
            **{k: key[k] for k in ("credentialId", "isResidentCredential", "rpId", "privateKey", "userHandle")},
            "signCount": 0}})
        tab.goto(service.url + "/login")
        password(tab, person.username, typed_password)
        with tab.expect_navigation():
            tab.get_by_role("button", name="Use your security key").click()
        assert tab.locator(".govuk-error-summary").inner_text().endswith(WRONG)
        cloned.close()

    # Entra's request for multipleauthn, posted by a page as Entra's is; login.srf caught on its way.
    (demo_server.services_dir / "office365.xml").write_bytes((SHIPPED / "office365.xml").read_bytes())
    (demo_server.services_dir / "office365.toml").write_text((SHIPPED / "office365.toml").read_text("utf-8"))
    wait_until_known(mfa_server, "office365")  # it re-reads the folder at most once a second
    request_id = f"_{uuid.uuid4()}"
    issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    document = (f'<samlp:AuthnRequest ID="{request_id}" Version="2.0" IssueInstant="{issued}" '
                'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:'
                'assertion">urn:federation:MicrosoftOnline</Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:'
                'SAML:2.0:nameid-format:persistent"/><samlp:RequestedAuthnContext Comparison="minimum">'
                '<AuthnContextClassRef xmlns="urn:oasis:names:tc:SAML:2.0:assertion">'
                f'{MICROSOFT_MULTIPLE_AUTHN}</AuthnContextClassRef></samlp:RequestedAuthnContext>'
                '</samlp:AuthnRequest>')
    posted: list[str] = []

    def catch(route):
        posted.append(route.request.post_data or "")
        route.fulfill(status=200, body="<h1>Office 365</h1>", content_type="text/html")

    page.route("https://login.microsoftonline.com/**", catch)
    page.goto(mfa_server + "/schools")
    page.evaluate("""([action, value]) => { const form = document.createElement('form'); form.method = 'post';
        form.action = action; const field = document.createElement('input'); field.type = 'hidden';
        field.name = 'SAMLRequest'; field.value = value; form.appendChild(field); document.body.appendChild(form);
        form.submit(); }""", [mfa_server + "/idp/sso/post", base64.b64encode(document.encode()).decode()])
    try:  # single sign-on with the key used: the Response is posted on to Microsoft at once
        page.wait_for_url("https://login.microsoftonline.com/**", timeout=30_000)
    except PlaywrightTimeoutError:
        shown = " | ".join(page.inner_text("body").split("\n"))[:1500]
        pytest.fail(f"the Entra request was not answered with a Response; {page.url} shows: {shown}")
    response = base64.b64decode(parse_qs(posted[0])["SAMLResponse"][0]).decode()
    assert f"<saml:AuthnContextClassRef>{MICROSOFT_MULTIPLE_AUTHN}</saml:AuthnContextClassRef>" in response

    # Remove asks first, naming the factor; the last one's question says the recovery codes go too
    # and, a champion needing a second factor, that they must set one up again.
    page.unroute("https://login.microsoftonline.com/**")
    page.goto(mfa_server + "/portal/profile/second-factors")
    with page.expect_navigation():
        page.locator("#factors").get_by_role("link", name="Remove My phone").click()
    expect(page.get_by_role("heading", name="Remove My phone?")).to_be_visible()
    expect(page.locator(".govuk-warning-text")).not_to_contain_text("only second factor")
    look(page, "remove-confirm", tmp_path)
    with page.expect_navigation():
        page.locator("#confirm").click()
    expect(page.locator(".porth-flash")).to_contain_text("My phone has been removed.")
    expect(page.locator("#factors").get_by_role("heading", name="My phone", exact=True)).to_have_count(0)
    with page.expect_navigation():
        page.locator("#factors").get_by_role("link", name="Remove Blue key").click()
    expect(page.locator(".govuk-warning-text")).to_contain_text("Blue key is your only second factor")
    expect(page.locator(".govuk-warning-text")).to_contain_text("you must set one up again")
    look(page, "remove-last-confirm", tmp_path)
    with page.expect_navigation():
        page.get_by_role("link", name="Cancel", exact=True).click()
    expect(page.locator("#factors").get_by_role("heading", name="Blue key", exact=True)).to_be_visible()
    context.close()

    # Phone and key lost for good: the LA's Hwb administrator resets the champion's factor (on the demo
    # server, which asks no role for one), asked first on a page naming them.
    with demo_server.runtime() as runtime:
        admin = next(a for a in runtime.store.iter_accounts(organisation=DEMO_LA, kind=AccountKind.LA_NONMIS)
                     if Role.LA_ADMINISTRATOR in a.roles)
        admin_password = runtime.store.reveal_password(admin.id)
    office = browser.new_context(viewport={"width": 1280, "height": 900})
    page = office.new_page()
    page.goto(demo_server.url + "/portal/")
    password(page, admin.username, admin_password)
    page.goto(f"{demo_server.url}/portal/accounts/{person.id}")
    with page.expect_navigation():
        page.get_by_role("button", name="Reset second factor").click()
    expect(page.get_by_role("heading", name=f"Reset the second factor of {person.display_name}?")).to_be_visible()
    expect(page.locator(".govuk-warning-text")).to_contain_text("next time they sign in to the management area")
    look(page, "reset-confirm", tmp_path)
    with page.expect_navigation():
        page.locator("#confirm").click()
    expect(page.locator("#second-factor")).to_have_text("None")
    office.close()
