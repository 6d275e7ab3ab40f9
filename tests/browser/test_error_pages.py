"""Error pages and the audit log in a real browser (issue 16 points 3, 7, 8, 11).

A digital champion follows a link to another school's learner (R-5: not found), sends a form
that has expired, sends too much, switches language on the error page and takes the way back;
a member of staff is refused the staff download (403); the audit log reads in Welsh. Every page
is checked by axe-core (0 serious or critical) and photographed at 1280 and 375 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from directory.model import AccountKind, AccountState, PasswordStatus, Role
from tests.browser.test_portal import Checks, champion  # noqa: F401 (fixture)

PHONE = {"width": 375, "height": 812}
DESK = {"width": 1280, "height": 900}


@dataclass(frozen=True)
class Others:
    outside_learner_id: str  # a learner of another school than the champion's
    staff_username: str  # a member of the champion's school's staff who is no champion
    staff_password: str


@pytest.fixture(scope="module")
def others(demo_server, champion):
    _person, _password, school = champion
    with demo_server.runtime() as runtime:
        store = runtime.store
        elsewhere = next(s for s in sorted(store.schools(), key=lambda s: s.dfes) if s.dfes != school.dfes)
        outside = next(a for a in store.iter_accounts(school=elsewhere.dfes, kind=AccountKind.LEARNER)
                       if a.state is AccountState.ACTIVE)
        teacher = next(a for a in store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF)
                       if not a.roles and a.state is AccountState.ACTIVE
                       and a.password_status is PasswordStatus.AVAILABLE and Role.DIGITAL_CHAMPION not in a.roles)
        password = store.reveal_password(teacher.id)
        assert password
        return Others(outside.id, teacher.username, password)


def look_at_both_widths(checks: Checks, page, name: str, fits_a_phone: bool = True) -> None:
    """axe and a screenshot at desk width, then at phone width, where an error page must not
    scroll sideways (wide tables scroll in their own container: tests/browser/test_page_widths.py)."""
    checks.look(page, name)
    page.set_viewport_size(PHONE)
    if fits_a_phone:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], f"{name} scrolls sideways"
    checks.look(page, f"{name}-375")
    page.set_viewport_size(DESK)


def sign_in(page, url: str, username: str, password: str, words=("Username", "Password", "Sign in")) -> None:
    page.goto(url + "/portal/")
    page.get_by_label(words[0]).fill(username)
    page.get_by_label(words[1], exact=True).fill(password)
    with page.expect_navigation(url="**/portal/"):
        page.get_by_role("button", name=words[2]).click()


def test_error_pages_in_english_and_welsh_with_the_switch_and_the_way_back(browser, demo_server, champion,
                                                                           others, tmp_path):
    person, password, _school = champion
    checks = Checks(tmp_path)
    context = browser.new_context(viewport=DESK, accept_downloads=True)
    page = context.new_page()
    sign_in(page, demo_server.url, person.username, password)

    # A link to a learner of another school: not found, exactly as if there were no such account.
    answer = page.goto(f"{demo_server.url}/portal/accounts/{others.outside_learner_id}")
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # the portal's own layout
    assert "Traceback" not in page.content() and "Not Found" not in page.content()
    look_at_both_widths(checks, page, "error-404")

    # The language switch shows the same page in Welsh, still a 404.
    with page.expect_navigation() as switched:
        page.get_by_role("link", name="Cymraeg").click()
    assert switched.value.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Heb ddod o hyd i'r dudalen")
    assert page.locator("html").get_attribute("lang") == "cy"
    look_at_both_widths(checks, page, "error-404-cy")
    # The way back leads to the dashboard, in Welsh now.
    page.get_by_role("link", name="Mynd i'ch dangosfwrdd").click()
    expect(page.get_by_role("heading", name="Dangosfwrdd Gweinyddwr yr Ysgol")).to_be_visible()

    # A form left open until its token no longer holds (here: replaced, as an old session's would be).
    page.get_by_role("link", name="Fy Mhroffil").click()
    profile_url = page.url

    def send_the_form_expired() -> None:
        page.locator('main form input[name="csrf_token"]').evaluate("input => input.value = 'expired'")
        with page.expect_navigation() as sent:
            page.locator("main form").first.get_by_role("button").last.click()
        assert sent.value.status == 400

    send_the_form_expired()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mae'r ffurflen hon wedi dod i ben")
    expect(page.locator("main")).to_contain_text("Does dim wedi newid")
    look_at_both_widths(checks, page, "error-400-cy")
    # The switch leads to the form in English; it never sends the refused form again.
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="My Profile")).to_be_visible()
    assert page.url.startswith(profile_url)
    send_the_form_expired()
    expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
    page.get_by_role("link", name="Open the form again").click()
    expect(page.get_by_label("New password")).to_be_visible()
    assert page.url.startswith(profile_url)

    # Too much sent at once (here 2 MB in one field): refused before anything reads it.
    page.goto(demo_server.url + "/portal/profile?lang=en")
    page.locator("main form").first.evaluate(
        "form => { const big = document.createElement('input'); big.type = 'hidden'; big.name = 'padding';"
        " big.value = 'x'.repeat(2 * 1024 * 1024); form.appendChild(big); }")
    with page.expect_navigation() as sent:
        page.locator("main form").first.locator('button[type="submit"]').first.click()
    assert sent.value.status == 413
    expect(page.get_by_role("heading", level=1)).to_have_text("Too much was sent")
    look_at_both_widths(checks, page, "error-413")
    page.get_by_role("link", name="Go to your dashboard").click()
    expect(page.get_by_role("heading", name="School Administrator Dashboard")).to_be_visible()
    context.close()
    assert not checks.problems, checks.problems


def test_staff_are_refused_the_staff_download_in_their_language(browser, demo_server, others, tmp_path):
    checks = Checks(tmp_path)
    context = browser.new_context(viewport=DESK, locale="cy-GB", extra_http_headers={"Accept-Language": "cy"})
    page = context.new_page()
    sign_in(page, demo_server.url, others.staff_username, others.staff_password,
            ("Enw defnyddiwr", "Cyfrinair", "Mewngofnodi"))
    answer = page.goto(demo_server.url + "/portal/download/staff")
    assert answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Ni allwch wneud hyn gyda'ch cyfrif")
    look_at_both_widths(checks, page, "error-403-cy")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot do this with your account")
    page.get_by_role("link", name="Go to your dashboard").click()
    expect(page.get_by_role("heading", name="School Administrator Dashboard")).to_be_visible()
    context.close()
    assert not checks.problems, checks.problems


def test_a_download_reads_as_one_entry_in_the_welsh_audit_log(browser, demo_server, champion, tmp_path):
    person, password, school = champion
    checks = Checks(tmp_path)
    context = browser.new_context(viewport=DESK, accept_downloads=True)
    page = context.new_page()
    sign_in(page, demo_server.url, person.username, password)
    with demo_server.runtime() as runtime:
        learners = sum(1 for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.LEARNER)
                       if a.state is AccountState.ACTIVE)
    page.get_by_role("link", name="All Pupils").click()
    with page.expect_download():
        page.get_by_role("button", name="Proceed with download").click()
    page.goto(demo_server.url + "/portal/audit?lang=cy")
    expect(page.get_by_role("heading", name="Log archwilio")).to_be_visible()
    newest = page.locator("#audit tbody tr").first
    cells = newest.locator("td")
    assert cells.nth(2).inner_text() == "Lawrlwytho Pob Disgybl"
    assert f"{learners} o gyfrifon" in cells.nth(3).inner_text()
    assert cells.nth(6).inner_text() == "Llwyddodd"
    assert "Hyrwyddwr digidol" in cells.nth(1).inner_text()
    # Only one entry for that download: the next one is not another row of it.
    assert page.locator('#audit tbody tr[data-action="download-pupils"]').count() >= 1
    assert page.locator('#audit tbody tr[data-action="download-credentials"]').count() == 0
    # The filter offers actions as words too, and finds the download by them.
    page.get_by_label("Cam gweithredu").select_option(label="Lawrlwytho Pob Disgybl")
    page.get_by_role("button", name="Hidlo").click()
    rows = page.locator("#audit tbody tr")
    assert rows.count() >= 1 and all(rows.nth(i).get_attribute("data-action") == "download-pupils"
                                     for i in range(rows.count()))
    look_at_both_widths(checks, page, "audit-cy", fits_a_phone=False)
    context.close()
    assert not checks.problems, checks.problems


def test_the_sign_in_problem_page_in_welsh_then_english_and_home(browser, demo_server, tmp_path):
    checks = Checks(tmp_path)
    context = browser.new_context(viewport=DESK, extra_http_headers={"Accept-Language": "cy"})
    page = context.new_page()
    answer = page.goto(demo_server.url + "/idp/sso/init?service=https://nowhere.example/sp")
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Mae'n ddrwg gennym, mae problem wrth eich mewngofnodi")
    assert page.locator("#problem-reason").inner_text().startswith(
        "Nid yw'r gwasanaeth y daethoch ohono wedi'i gofrestru gyda Porth")
    assert "nowhere.example" not in page.content()
    look_at_both_widths(checks, page, "idp-problem-cy")
    page.get_by_role("link", name="English").click()
    expect(page.locator("#problem-reason")).to_contain_text("is not registered with Porth")
    page.get_by_role("link", name="Go to the Porth home page").click()
    expect(page.get_by_role("heading", name="Schools", exact=True)).to_be_visible()
    context.close()
    assert not checks.problems, checks.problems
