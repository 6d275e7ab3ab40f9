"""The portal's Badges page in Chromium (issue 18 point 1): Print badges with nobody ticked says so
on the page and opens nothing; printing learners with no badge opens the sheet in a new tab at
once, printing one who has a badge asks first in this tab (the sheet then opens in a new tab);
a school turning PIN mode on sees which cards to print again; the group list offers only the years
chosen; a school turning badges off still sees its live badges, to revoke, and cannot print; the table
fits a phone without scrolling sideways; saving with no year keeps the form.
Each page is looked at at a desk's (1280 px) and a phone's (375 px) width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from directory.model import AccountKind, AccountState, Role
from directory.rules.badges import DEFAULT_YEARS
from tests.browser.accessibility import keep_screenshot, serious_problems


@pytest.fixture(scope="module")
def school_with_infants(demo_server):
    """The last demo school with learners of the badge years and a digital champion (the camera
    test takes the first: each has a school of its own to set up), a registration group of it
    with at least two such learners, and the champion's password."""
    with demo_server.runtime() as runtime:
        for school in sorted(runtime.store.schools(), key=lambda s: s.dfes, reverse=True):
            young = [a for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.LEARNER)
                     if a.state is AccountState.ACTIVE and a.school == school.dfes and a.year_group in DEFAULT_YEARS
                     and a.registration_group]
            champions = [a for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF)
                         if Role.DIGITAL_CHAMPION in a.roles and a.state is AccountState.ACTIVE]
            groups = sorted({a.registration_group for a in young if sum(
                1 for b in young if b.registration_group == a.registration_group) >= 2})
            if groups and champions:
                return school, groups[0], champions[0], runtime.store.reveal_password(champions[0].id)
    pytest.fail("the demo has no school with a registration group of nursery to Year 2 and a champion")


def _shoot(page, name: str, tmp_path) -> None:
    keep_screenshot(page, tmp_path, name)
    problems = serious_problems(page, name)
    assert not problems, "\n".join(problems)


def _at_both_widths(page, name: str, tmp_path, near: str | None = None) -> None:
    """The whole page at each width; with `near`, also the screen around that element as one sees it."""
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        _shoot(page, f"{name}-{width}", tmp_path)
        if near:
            page.locator(near).scroll_into_view_if_needed()
            page.evaluate("selector => document.querySelector(selector).scrollIntoView()", near)
            keep_screenshot(page, tmp_path, f"{name}-{width}-screen", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 900})


def _table_fits_a_phone(page, name: str, tmp_path) -> None:
    """At 375 px the Badges table is three columns: the box, the name (its year and registration
    group under it) and the badge, all on the screen, its region not scrolling sideways; at 1280 px
    Year and Registration group are columns of their own."""
    page.set_viewport_size({"width": 375, "height": 900})
    measured = page.evaluate("""() => {
        const region = document.querySelector('#badge-table').closest('.porth-table-scroll');
        const row = document.querySelector('#badge-table tbody tr');
        const shown = [...row.children].filter(c => getComputedStyle(c).display !== 'none');
        return {region: [region.scrollWidth, region.clientWidth], label: region.getAttribute('aria-label'),
                right: Math.max(...shown.map(c => c.getBoundingClientRect().right)), inner: innerWidth,
                shown: shown.map(c => c.dataset.badge ? 'badge' : c.tagName), detail: row.querySelector(
                    '.porth-row-detail').getBoundingClientRect().width > 0};
    }""")
    assert measured["region"][0] <= measured["region"][1], f"{name}: the table scrolls sideways: {measured}"
    assert measured["right"] <= measured["inner"] and measured["label"], measured
    assert measured["shown"] == ["TD", "TH", "badge"] and measured["detail"], measured
    page.locator("#badge-table").scroll_into_view_if_needed()
    keep_screenshot(page, tmp_path, f"{name}-375-screen", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.locator("#badge-table th", has_text=re.compile("^(Year|Blwyddyn)$")).is_visible()
    assert not page.locator("#badge-table .porth-row-detail").first.is_visible()


def _state(page, username: str) -> str | None:
    return page.locator(f'#badge-table tr[data-username="{username}"] [data-badge]').get_attribute("data-badge")


def _cards_printed(context, page) -> int:
    """Print badges pressed: the sheet opens in a new tab; how many cards it holds (closed after)."""
    with context.expect_page() as opened:
        page.get_by_role("button", name="Print badges").click()
    sheet = opened.value
    sheet.wait_for_load_state()
    count = sheet.locator(".badge-card").count()
    sheet.close()
    return count


def test_print_asks_first_only_for_live_badges_and_never_opens_for_nobody(browser, demo_server,
                                                                        school_with_infants, tmp_path):
    school, group, champion, password = school_with_infants
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(demo_server.url + f"/portal/?school={school.dfes}")
    page.get_by_label("Username").fill(champion.username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation(url="**/portal/**"):
        page.get_by_role("button", name="Sign in").click()
    badges_url = demo_server.url + f"/portal/badges?school={school.dfes}"
    page.goto(badges_url)
    page.get_by_label("Turn on badge sign-in for this school").check()
    page.get_by_label("Badge only").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".porth-flash")).to_contain_text("Badge settings saved.")
    shown = f"{badges_url}&group=reg:{group}"
    page.goto(shown)
    usernames = page.locator("#badge-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.username)")
    assert len(usernames) >= 2
    first, second = usernames[:2]
    # The demo school may have been printed for by an earlier run of this module's server: start afresh.
    if _state(page, first) != "none" or _state(page, second) != "none":
        page.locator("#all-shown").check()
        page.get_by_role("button", name="Revoke badges").click()
        page.get_by_role("button", name="Revoke badges").click()
        page.goto(shown)

    # Nobody ticked: the page says so, focused, and no tab opens.
    page.get_by_role("button", name="Print badges").click()
    summary = page.locator("#badge-choice-error")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Select at least one learner")
    assert len(context.pages) == 1 and page.url == shown
    _at_both_widths(page, "badges-nobody-ticked", tmp_path, near="#badge-choice-error")
    page.get_by_role("button", name="Revoke badges").click()  # revoking nobody: the same, no page sent
    assert page.url == shown and summary.is_visible()

    # The table's own box ticks and unticks every row.
    rows = page.locator('#badge-table input[name="account"]')
    page.locator("#select-all").check()
    assert rows.evaluate_all("boxes => boxes.every(b => b.checked)")
    page.locator("#select-all").uncheck()
    assert rows.evaluate_all("boxes => boxes.every(b => !b.checked)")

    # A learner with no badge: the sheet opens in a new tab at once, nothing asked.
    page.locator(f'#badge-table tr[data-username="{first}"]').get_by_role("checkbox").check()
    expect(summary).to_be_hidden()
    with context.expect_page() as opened:
        page.get_by_role("button", name="Print badges").click()
    sheet = opened.value
    sheet.wait_for_load_state()
    assert sheet.locator(".badge-card").count() == 1
    assert page.url == shown
    # The sheet's tab reloaded sends the form again: asked first, as any reprint is; nothing printed.
    sheet.reload()
    expect(sheet.get_by_role("heading", name="Print a new badge for this learner?")).to_be_visible()
    # Its address opened again (a restored tab, a bookmark): back to Badges, told why, in both languages.
    sheet_url = sheet.url
    sheet.goto(sheet_url)
    expect(sheet.get_by_role("heading", name="Badges", exact=True)).to_be_visible()
    expect(sheet.locator(".porth-flash")).to_contain_text("A sheet of badges is shown only once")
    _at_both_widths(sheet, "badges-sheet-opened-again", tmp_path, near=".porth-flash")
    sheet.goto(f"{sheet_url}&lang=cy")
    expect(sheet.locator(".porth-flash")).to_contain_text("Dim ond unwaith y dangosir dalen o fathodynnau")
    sheet.goto(f"{sheet_url}&lang=en")  # the language is the browser's: English again for what follows
    sheet.close()

    # One of the two has a live badge: this tab asks first, naming how many cards stop.
    page.goto(shown)
    assert _state(page, first) == "printed" and _state(page, second) == "none"
    for username in (first, second):
        page.locator(f'#badge-table tr[data-username="{username}"]').get_by_role("checkbox").check()
    page.get_by_role("button", name="Print badges").click()
    expect(page.get_by_role("heading", name="Print new badges for these 2 learners?")).to_be_visible()
    assert len(context.pages) == 1
    expect(page.locator(".govuk-warning-text")).to_contain_text(
        "1 of these learners already has a badge: printing stops that current card working at once")
    _at_both_widths(page, "badges-print-confirm", tmp_path)
    assert _cards_printed(context, page) == 2
    expect(page.locator("#opened")).to_be_visible()
    expect(page.locator("#confirm")).to_be_disabled()  # not sent twice from here
    _at_both_widths(page, "badges-print-confirmed", tmp_path)
    page.locator("#opened").get_by_role("link", name="Back to Badges").click()
    assert _state(page, first) == "printed" and _state(page, second) == "printed"

    # PIN mode: both cards were printed without a PIN, and the page says to print them again.
    page.get_by_label("Badge and a 4-digit PIN").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".porth-flash")).to_contain_text("no longer sign in until they are printed again")
    page.goto(shown)
    assert _state(page, first) == "no-pin" and _state(page, second) == "no-pin"
    expect(page.locator("#badges-without-pin")).to_contain_text("have badges printed without a PIN")
    for language in ("en", "cy"):
        page.goto(f"{shown}&lang={language}")
        _at_both_widths(page, f"badges-print-again-{language}", tmp_path, near="#badges-without-pin")
        _table_fits_a_phone(page, f"badges-table-{language}", tmp_path)
    page.goto(f"{shown}&lang=en")
    # The group list offers only the years chosen (and groups holding them), never a year with no badge.
    offered = page.locator('#group option[value^="year:"]').evaluate_all("options => options.map(o => o.value)")
    assert offered and all(value.removeprefix("year:") in DEFAULT_YEARS for value in offered)
    with demo_server.runtime() as runtime:  # a year the school teaches that may not have badges
        older = min((a.year_group for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.LEARNER)
                     if a.state is AccountState.ACTIVE and a.year_group and a.year_group not in DEFAULT_YEARS),
                    key=lambda year: int(year) if year.isdigit() else 99)
    assert page.locator(f'#group option[value="year:{older}"]').count() == 0
    page.goto(f"{badges_url}&group=year:{older}")  # an old link, or a year typed in
    expect(page.locator("#result-count")).to_contain_text(
        f"No learner of Year {older} may have a badge: badges are for")
    expect(page.locator("#badge-table")).to_have_count(0)
    page.locator("#result-count").get_by_role("link", name="Change the year groups in Settings").click()
    assert page.url.endswith("#badge-settings")

    # Badges off: the live badges stay listed to revoke (a lost card), nothing prints; on again, they work.
    page.goto(badges_url)
    page.get_by_label("Turn on badge sign-in for this school").uncheck()
    page.get_by_role("button", name="Save settings").click()
    page.goto(shown)
    expect(page.locator("#badges-off")).to_contain_text("do not sign anyone in while it is off")
    expect(page.get_by_role("button", name="Print badges")).to_have_count(0)
    listed = page.locator("#badge-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.username)")
    assert listed == [first, second]  # only those with live badges
    for language in ("en", "cy"):
        page.goto(f"{shown}&lang={language}")
        _at_both_widths(page, f"badges-off-{language}", tmp_path, near="#badges-off")
    page.goto(f"{shown}&lang=en")
    page.locator(f'#badge-table tr[data-username="{first}"]').get_by_role("checkbox").check()
    page.get_by_role("button", name="Revoke badges").click()
    page.get_by_role("button", name="Revoke badges").click()
    expect(page.locator(".porth-flash")).to_contain_text("1 badge revoked")
    assert page.locator("#badge-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.username)") == [second]
    page.goto(badges_url)
    page.get_by_label("Turn on badge sign-in for this school").check()
    page.get_by_role("button", name="Save settings").click()
    page.goto(shown)
    assert _state(page, first) == "revoked" and _state(page, second) == "no-pin"

    # Saving with no year: the error summary, and the form as it was sent.
    for box in page.locator('input[name="years"]').all():
        box.uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".govuk-error-summary").first).to_contain_text("Choose at least one year group")
    expect(page.get_by_label("Turn on badge sign-in for this school")).to_be_checked()
    assert page.locator('input[name="years"]:checked').count() == 0
    expect(page.get_by_label("Badge and a 4-digit PIN")).to_be_checked()
    _at_both_widths(page, "badges-settings-error", tmp_path)
    page.locator('.govuk-error-summary a[href^="#year-"]').click()
    assert re.fullmatch(r"year-\w+", page.evaluate("document.activeElement.id"))

    # Back to badge-only, so that the demo school is as other tests expect it.
    page.goto(badges_url)
    page.get_by_label("Badge only").check()
    page.get_by_role("button", name="Save settings").click()
    context.close()
