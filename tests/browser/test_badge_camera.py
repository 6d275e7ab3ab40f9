"""Badge sign-in as a child would use it (issue 18 point 4), in Chromium: a digital champion turns
badges on and prints a sheet; a photo of one printed card becomes the camera's picture
(--use-file-for-fake-video-capture, an MJPEG made from the sheet's screenshot); the learner presses
"Sign in with my badge", the page reads the QR code with jsQR (this Chromium has no
BarcodeDetector: docs/sign-in.md) and the learner lands with their attributes at the demo's class
app (demo/class_app.py, python3-saml), the service `porth demo` offers a newcomer to try badges at."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from demo.class_app import SERVICE_NAME, ClassApp
from directory.model import AccountKind, AccountState, Role
from directory.rules.badges import DEFAULT_YEARS
from operational.badges import revoke_badges
from tests.browser.accessibility import keep_screenshot, serious_problems
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.conftest import free_port

CAMERA_FLAGS = [*CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture(scope="module")
def infants(demo_server):
    """A demo school with learners of the badge years, its digital champion and their password."""
    with demo_server.runtime() as runtime:
        for school in sorted(runtime.store.schools(), key=lambda s: s.dfes):
            young = [a for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.LEARNER)
                     if a.state is AccountState.ACTIVE and a.school == school.dfes and a.year_group in DEFAULT_YEARS]
            champions = [a for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF)
                         if Role.DIGITAL_CHAMPION in a.roles and a.state is AccountState.ACTIVE]
            if young and champions:
                return school, sorted(young, key=lambda a: (a.surname, a.forename)), champions[0], \
                    runtime.store.reveal_password(champions[0].id)
    pytest.fail("the demo has no school with learners of nursery to Year 2 and a digital champion")


def _registered(demo_server, service: ClassApp) -> None:
    service.register(demo_server.services_dir)  # what `porth demo` does with its own services folder
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(demo_server.url + f"/idp/sso/init?service={SERVICE_NAME}", timeout=5):
                pass
        except urllib.error.HTTPError as refused:
            if b"reason=not-accepted" in refused.read():
                return  # registered (it just takes no IdP-initiated sign-in)
        time.sleep(0.2)
    raise TimeoutError("Porth did not pick up the badge service")


def _shoot(page, name: str, tmp_path) -> None:
    """A screenshot kept, and axe-core finds nothing serious on the page as it is shown."""
    keep_screenshot(page, tmp_path, name)
    problems = serious_problems(page, name)
    assert not problems, "\n".join(problems)


# The badge panel's camera has started, or said it cannot (badge-scanner.js writes one or the other).
CAMERA_SETTLED = """() => { const s = document.querySelector('[data-badge-status]');
    return s.textContent === s.dataset.looking || s.textContent === s.dataset.noCamera; }"""


def _shoot_sign_in_pages(browser, service: ClassApp, tmp_path) -> None:
    """The sign-in page a child sees, and its badge panel, at a desk's and a phone's width in both
    languages (this browser has no camera, so the panel says to ask the teacher)."""
    for width in (1280, 375):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(service.url + "/login")
        for language, label in (("en", "Sign in with my badge"), ("cy", "Mewngofnodi gyda fy mathodyn")):
            if language == "cy":
                page.get_by_role("link", name="Cymraeg").click()
            _shoot(page, f"badge-sign-in-{language}-{width}", tmp_path)
            page.get_by_role("button", name=label).click()
            page.wait_for_function(CAMERA_SETTLED)
            _shoot(page, f"badge-camera-{language}-{width}", tmp_path)
            page.locator("[data-badge-close]").click()
            expect(page.get_by_label("Password" if language == "en" else "Cyfrinair")).to_be_visible()
        context.close()


def test_a_champion_prints_a_badge_and_a_child_signs_in_with_the_camera(browser, demo_server, infants, tmp_path):
    school, young, champion, password = infants
    child = young[0]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(demo_server.url + "/portal/")
    page.get_by_label("Username").fill(champion.username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation(url="**/portal/"):
        page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Badges").click()
    page.get_by_label("Turn on badge sign-in for this school").check()
    page.get_by_role("button", name="Save settings").click()
    assert "Badge settings saved." in page.locator(".porth-flash").inner_text()
    row = page.locator(f'#badge-table tr[data-username="{child.username}"]')
    assert row.locator("[data-badge]").get_attribute("data-badge") == "none"
    badges_page = page.url
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        for language in ("cy", "en"):
            page.goto(badges_page + ("&" if "?" in badges_page else "?") + f"lang={language}")
            _shoot(page, f"badges-{language}-{width}", tmp_path)
    page.set_viewport_size({"width": 1280, "height": 900})
    row.get_by_role("checkbox").check()
    with context.expect_page() as opened:
        page.get_by_role("button", name="Print badges").click()
    sheet = opened.value
    sheet.wait_for_load_state()
    card = sheet.locator(f'.badge-card[data-username="{child.username}"]')
    assert f"{child.forename} {child.surname}" in card.inner_text() and school.name in card.inner_text()
    _shoot(sheet, "badge-sheet", tmp_path)
    photo = card.screenshot(type="jpeg", quality=90)
    page.reload()
    assert page.locator(f'#badge-table tr[data-username="{child.username}"] [data-badge]').get_attribute(
        "data-badge") == "printed"
    context.close()

    # The camera sees the printed card: an MJPEG of the card's photo, frame after frame.
    video = tmp_path / "badge.mjpeg"
    video.write_bytes(photo * 30)
    camera = browser.browser_type.launch(executable_path=str(CHROMIUM),
                                         args=[*CAMERA_FLAGS, f"--use-file-for-fake-video-capture={video}"])
    try:
        service = ClassApp(free_port(), demo_server.url, demo_server.var_dir).start()
        try:
            _registered(demo_server, service)
            _shoot_sign_in_pages(browser, service, tmp_path)
            tablet = camera.new_context(viewport={"width": 1024, "height": 768})
            tablet.grant_permissions(["camera"], origin=demo_server.url)
            child_page = tablet.new_page()
            asked = []  # what the tablet asks Porth for, after the sign-in page
            child_page.goto(service.url + "/login")
            child_page.on("request", lambda r: asked.append((r.method, r.url.split("?", 1)[0].split("/static/")[-1])))
            assert child_page.evaluate("'BarcodeDetector' in window") is False  # so jsQR is what reads it
            child_page.get_by_role("button", name="Sign in with my badge").click()
            expect(child_page.get_by_role("heading", name="Sign in with my badge")).to_be_visible()
            child_page.wait_for_url(service.url + "/acs", timeout=30_000)
            # Issue 18 point 5: the camera is in the sign-in page, and jsQR is fetched only once it starts.
            porth_asked = [(method, url) for method, url in asked if not url.startswith(service.url)]
            posted = ("POST", demo_server.url + "/idp/badge")
            assert posted in porth_asked  # then the page that posts the Response, with its own assets
            assert porth_asked[:porth_asked.index(posted) + 1] == [("GET", "vendor/jsqr/jsQR.js"), posted]
            expect(child_page.get_by_role("heading", name="Welcome · Croeso")).to_be_visible()
            expect(child_page.locator("#signed-in")).to_contain_text(f"Signed in as {child.forename} {child.surname}")
            username = child_page.locator('[data-attribute="urn:oid:0.9.2342.19200300.100.1.1"]').inner_text()
            assert username == child.username
            assert child_page.locator('[data-attribute="urn:oid:2.5.4.42"]').inner_text() == child.forename
            tablet.close()
            _a_refused_card_is_posted_once_until_try_again(demo_server, camera, service, child, tmp_path)
        finally:
            service.stop()
    finally:
        camera.close()


# Counts the page's camera starts (getUserMedia calls), from the first script of every page on.
COUNT_CAMERA_STARTS = """window.cameraStarts = 0;
const realGetUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (wanted) => { window.cameraStarts += 1; return realGetUserMedia(wanted); };"""


def _a_refused_card_is_posted_once_until_try_again(demo_server, camera, service, child, tmp_path) -> None:
    """The card revoked, the same child holds it up: one refusal, and the camera waits for Try
    again, though the card is still in front of it (it posted the card twice a second before)."""
    with demo_server.runtime() as runtime:
        assert revoke_badges(runtime.db, [child.id], datetime.now(UTC)) == [child.id]
    tablet = camera.new_context(viewport={"width": 1024, "height": 768})
    tablet.grant_permissions(["camera"], origin=demo_server.url)
    tablet.add_init_script(COUNT_CAMERA_STARTS)
    page = tablet.new_page()
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/idp/badge") else None)
    page.goto(service.url + "/login")
    page.get_by_role("button", name="Sign in with my badge").click()
    expect(page.get_by_text("That badge cannot sign you in. Try again, or ask your teacher.")).to_be_visible()
    page.wait_for_load_state("load")  # the page's scripts have run: the camera would have started by now
    retry = page.get_by_role("button", name="Try again")
    expect(retry).to_be_visible()
    assert page.evaluate("window.cameraStarts") == 0 and page.locator("video").is_hidden()
    assert len(posts) == 1
    _shoot(page, "badge-refused", tmp_path)
    with page.expect_navigation():  # pressed: the camera reads the card again, and posts it once more
        retry.click()
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    assert len(posts) == 2
    tablet.close()
