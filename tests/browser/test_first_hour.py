"""The first hour with Porth in a real browser (issue 16 point 9): from the home page a newcomer
reaches user management and signs in with the usernames and passwords `make demo` printed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.accessibility import keep_screenshot, serious_problems

WIDTHS = {"desk": 1280, "phone": 375}


def printed_sign_ins(demo_server) -> dict[str, tuple[str, str]]:
    """Role -> (username, password), read from what `porth load-demo` printed, as a person would."""
    found = re.findall(r"as the (digital champion|teacher|LA administrator)\b.*?: (\S+@hwbcymru\.net) / (\S+)",
                       demo_server.load_outputs[-1])
    return {who: (username, password) for who, username, password in found}


def look_at_home_page(page, width: str, tmp_path) -> list[str]:
    """axe-core's serious problems of the home page, and a screenshot kept. (Whether the page scrolls
    sideways on a phone is tests/browser/test_page_widths.py's: the table scrolls in its own
    porth-table-scroll region, styled there.)"""
    problems = serious_problems(page, width)
    keep_screenshot(page, tmp_path, f"i16-home-{width}")
    return problems


@pytest.mark.parametrize("role", ["teacher", "LA administrator"])
def test_a_newcomer_goes_from_the_home_page_to_user_management_with_the_printed_password(
        browser, demo_server, role, tmp_path):
    username, password = printed_sign_ins(demo_server)[role]
    context = browser.new_context(viewport={"width": WIDTHS["desk"], "height": 900})
    page = context.new_page()
    page.goto(demo_server.url + "/")
    start = page.get_by_role("button", name="Sign in to user management")
    expect(start).to_be_visible()
    start.click()
    # The portal asks for the password every time, on Porth's own sign-in page.
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation(url="**/portal/**"):
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert "The username or password is not right" not in page.content()
    context.close()


def test_the_home_page_offers_user_management_at_desk_and_phone_width_in_both_languages(
        browser, demo_server, tmp_path):
    problems: list[str] = []
    for width, pixels in WIDTHS.items():
        page = browser.new_page(viewport={"width": pixels, "height": 900})
        page.goto(demo_server.url + "/")
        button = page.get_by_role("button", name="Sign in to user management")
        assert button.is_visible() and button.bounding_box()["x"] + button.bounding_box()["width"] <= pixels
        problems += look_at_home_page(page, width, tmp_path)
        page.goto(demo_server.url + "/?lang=cy")
        expect(page.get_by_role("button", name="Mewngofnodi i reoli defnyddwyr")).to_be_visible()
        assert "rheoli cyfrifon yn yr adran rheoli defnyddwyr" in page.locator("main").inner_text()
        page.close()
    assert problems == []
