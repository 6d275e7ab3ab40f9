"""The demo authority in a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

from playwright.sync_api import expect

from demo.loader import DEMO_SCHOOLS
from demo.people import GOVERNORS_PER_SCHOOL, SUPPLY_STAFF_PER_SCHOOL
from tests.browser.accessibility import keep_screenshot


def test_schools_page_in_a_browser(browser, demo_server, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(demo_server.url + "/")
    assert page.title() == "Schools – Porth"
    expect(page.get_by_role("heading", name="Gwynedd")).to_be_visible()
    rows = page.locator("tbody tr")
    assert rows.count() == DEMO_SCHOOLS
    for index in range(DEMO_SCHOOLS):
        row = rows.nth(index)
        assert row.get_by_role("rowheader").inner_text().startswith("Ysgol ")
        assert int(row.locator('[data-kind="learners"]').inner_text()) > 20
        assert int(row.locator('[data-kind="staff"]').inner_text()) > 2
        assert row.locator('[data-kind="governors"]').inner_text() == str(GOVERNORS_PER_SCHOOL)
        assert row.locator('[data-kind="non-mis"]').inner_text() == str(SUPPLY_STAFF_PER_SCHOOL)
    # Keyboard users get the skip link first.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    shot = keep_screenshot(page, tmp_path, "schools")
    assert shot.stat().st_size > 10_000
    page.close()


def test_the_schools_page_in_welsh(browser, demo_server, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(demo_server.url + "/?lang=cy")
    assert page.title() == "Ysgolion – Porth"
    assert page.locator("html").get_attribute("lang") == "cy"
    expect(page.get_by_role("columnheader", name="Dysgwyr")).to_be_visible()
    # The choice is remembered: the next page comes in Welsh without asking again.
    page.goto(demo_server.url + "/")
    expect(page.get_by_role("heading", name="Ysgolion", exact=True)).to_be_visible()
    keep_screenshot(page, tmp_path, "schools-cy")
    page.close()
