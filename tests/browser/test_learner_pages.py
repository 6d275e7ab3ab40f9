"""View Learners of the demo's largest school in a real browser (issue 16 points 10 and 2): a
digital champion pages through the register (slapd sends each page: sssvlv) and filters by the
year groups provisioning stored from the MIS export, and sees what the directory holds, in
register order, with the list's size. Screenshots at desk and phone width go to var/screenshots/."""

from __future__ import annotations

from math import ceil

import pytest
from playwright.sync_api import expect

from directory.model import AccountKind, AccountState, GroupKind, Role
from directory.rules.register_order import register_key
from tests.browser.accessibility import keep_screenshot

PAGE_SIZE = 50  # the portal's default (PORTH_PORTAL__PAGE_SIZE)



@pytest.fixture(scope="module")
def largest_school(demo_server):
    """The demo school with most active learners, its champion, its register and year groups."""
    with demo_server.runtime() as runtime:
        store = runtime.store
        rolls = {school.dfes: [a for a in store.iter_accounts(school=school.dfes, kind=AccountKind.LEARNER)
                               if a.state is AccountState.ACTIVE] for school in store.schools()}
        dfes = max(rolls, key=lambda d: len(rolls[d]))
        champion = next(a for a in store.iter_accounts(school=dfes, kind=AccountKind.STAFF)
                        if Role.DIGITAL_CHAMPION in a.roles)
        password = store.reveal_password(champion.id)
        assert password, "the demo champion's password is shown under Show password"
        years = store.groups(dfes, GroupKind.YEAR_GROUP)
        return dfes, champion.username, password, sorted(rolls[dfes], key=register_key), years


def shown_usernames(page) -> list[str]:
    return page.locator("#users tbody tr").evaluate_all("rows => rows.map(r => r.dataset.username)")


def test_a_champion_pages_through_the_register_and_filters_by_year_group(browser, demo_server, largest_school,
                                                                         tmp_path):
    dfes, username, password, register, years = largest_school
    assert len(register) > 2 * PAGE_SIZE, "the demo's secondary has hundreds of learners"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(demo_server.url + "/portal/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation(url="**/portal/"):
        page.get_by_role("button", name="Sign in").click()
    page.goto(f"{demo_server.url}/portal/users/learners?school={dfes}")

    # The first page: the register's first 50, and how many the whole list holds.
    pages = ceil(len(register) / PAGE_SIZE)
    assert page.locator("#result-count").inner_text() == f"{len(register)} accounts"
    assert shown_usernames(page) == [a.username for a in register[:PAGE_SIZE]]
    assert f"Page 1 of {pages}" in page.locator("main").inner_text()
    with page.expect_navigation(url="**page=2*"):
        page.get_by_role("link", name="Next").click()
    expect(page.locator("main")).to_contain_text(f"Page 2 of {pages}")
    assert shown_usernames(page) == [a.username for a in register[PAGE_SIZE:2 * PAGE_SIZE]]

    # The year groups provisioning stored from the MIS export are offered by name, in school order.
    options = page.locator("#year option").all_inner_texts()
    assert options == ["All", *(g.name for g in years)]
    assert years and all(g.name.startswith(("Year ", "Reception", "Nursery")) for g in years)
    year = years[0]
    in_year = [a for a in register if a.year_group == year.code]
    page.get_by_label("Year group").select_option(label=year.name)
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    expect(page.locator("#result-count")).to_have_text(f"{len(in_year)} accounts")
    assert shown_usernames(page) == [a.username for a in in_year[:PAGE_SIZE]]
    assert page.locator("#year option:checked").inner_text() == year.name
    for width, height in ((1280, 900), (375, 812)):
        page.set_viewport_size({"width": width, "height": height})
        keep_screenshot(page, tmp_path, f"portal-learners-by-year-{width}")
    context.close()
