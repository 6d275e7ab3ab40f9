"""A local-authority administrator's portal in a real browser (issue 16 points 4, 5 and 11):
the LA's overview and into a school, the LA's non-MIS list with Active N and its next page, the
expiring banner, licences searched and one allocated then revoked from its row, champions
searched; axe-core on each page, screenshots at 1280 and 375 px in var/screenshots/portal-la-*.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from demo.people import DEMO_LA
from directory.model import AccountKind, AccountState, NewAccount, Role
from operational import licence_requests
from tests.browser.test_portal import Checks

EXTRA_PEOPLE = 52  # with the administrator, more than the 50 of a page: the list has a second page
EXPIRING_SURNAME = "Terfynol"


@pytest.fixture(scope="module")
def la_day(demo_server):
    """The demo LA's administrator and password; the LA's own people made through the directory
    store (52 active, 3 deactivated, one expiring in 20 days); a school's member of staff with no
    licence, and another to search for among the digital champions."""
    now = datetime.now(UTC)
    with demo_server.runtime() as runtime:
        store = runtime.store
        administrator = next(a for a in store.iter_accounts(organisation=DEMO_LA, kind=AccountKind.LA_NONMIS)
                             if Role.LA_ADMINISTRATOR in a.roles)
        password = store.reveal_password(administrator.id)
        assert password, "the demo LA administrator's password is shown under Show password"
        present = {a.surname for a in store.iter_accounts(organisation=DEMO_LA, kind=AccountKind.LA_NONMIS)}
        for n in range(EXTRA_PEOPLE):
            surname = f"Swyddog{chr(65 + n // 26)}{chr(65 + n % 26)}"
            if surname not in present:
                store.add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname=surname, forename="Alun",
                                             created_by="test", organisation=DEMO_LA,
                                             expiry=now + timedelta(days=300)), now)
        for n in range(3):
            surname = f"Cyn{chr(65 + n)}"
            if surname not in present:
                gone = store.add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname=surname, forename="Beca",
                                                    created_by="test", organisation=DEMO_LA), now)
                store.set_state(gone.id, AccountState.DEACTIVATED, by="test", reason="expired", now=now)
        if EXPIRING_SURNAME not in present:
            store.add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname=EXPIRING_SURNAME, forename="Catrin",
                                         created_by="test", organisation=DEMO_LA,
                                         expiry=now + timedelta(days=20)), now)
        school = min((s for s in store.schools() if s.la_code == DEMO_LA), key=lambda s: s.dfes)
        wanted = {i for i, s in licence_requests.latest(runtime.db, school.dfes).items() if s.wanted}
        staff = sorted((a for a in store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF)
                        if a.state is AccountState.ACTIVE), key=lambda a: a.username)
        unlicensed = next(a for a in staff if a.id not in wanted)
        colleague = next(a for a in staff if Role.DIGITAL_CHAMPION not in a.roles and a.id != unlicensed.id)
        return administrator, password, school, unlicensed, colleague


def look_at_both_widths(checks: Checks, page, name: str) -> None:
    checks.look(page, f"la-{name}")
    page.set_viewport_size({"width": 375, "height": 800})
    checks.look(page, f"la-{name}-375")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_la_administrators_day_in_the_portal(browser, demo_server, la_day, tmp_path):
    administrator, password, school, unlicensed, colleague = la_day
    checks = Checks(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(demo_server.url + "/portal/")
    page.get_by_label("Username").fill(administrator.username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation(url="**/portal/"):
        page.get_by_role("button", name="Sign in").click()

    # The LA's overview: its schools with their provisioning status, the expiring banner.
    expect(page.get_by_role("heading", name="Gwynedd", level=1)).to_be_visible()
    assert "does not belong to a school" not in page.locator("main").inner_text()
    rows = page.locator("#schools tbody tr")
    assert rows.count() >= 3
    learners_status = page.locator(f'#schools tr[data-school="{school.dfes}"] [data-workflow="learners"] .govuk-tag')
    expect(learners_status).to_be_visible()
    banner = page.locator("#expiring-banner")
    assert "expire in the next 8 weeks" in banner.inner_text() or "expires in the next 8 weeks" in banner.inner_text()
    look_at_both_widths(checks, page, "overview")
    banner.get_by_role("link", name="Manage Expiring Accounts").click()
    expect(page.get_by_role("heading", name="Manage Expiring Accounts")).to_be_visible()
    expect(page.locator("tbody tr", has_text=EXPIRING_SURNAME)).to_be_visible()
    look_at_both_widths(checks, page, "expiring")

    # Into a school from the overview, and back.
    page.get_by_role("link", name="Overview", exact=True).click()
    page.get_by_role("link", name=school.name, exact=True).click()
    expect(page.get_by_role("heading", name="School Administrator Dashboard")).to_be_visible()
    assert school.name in page.locator("#school-information").inner_text()
    page.locator("#back-to-overview").click()
    expect(page.get_by_role("heading", name="Gwynedd", level=1)).to_be_visible()

    # The LA's non-MIS users: Active N lists only the deactivated; Active Y has a second page.
    page.get_by_role("link", name="Non-MIS Users").click()
    page.get_by_label("Active").select_option("N")
    page.get_by_role("button", name="Search").click()
    deactivated = page.locator("#users tbody tr")
    assert deactivated.count() >= 3
    assert deactivated.count() == page.locator("#users tbody tr", has_text="Deactivated").count()
    look_at_both_widths(checks, page, "non-mis-active-n")
    page.get_by_label("Active").select_option("Y")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()  # waits for the page the search loads
    assert page.locator("#users tbody tr").count() == 50
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    assert "active=Y" in page.url
    assert page.get_by_label("Active").input_value() == "Y"  # the filter is kept on the next page
    assert page.locator("#users tbody tr").count() >= 3
    assert page.locator("#users tbody tr", has_text="Deactivated").count() == 0

    # M365 Licences of the school: search, allocate from the row, then revoke from the row.
    page.goto(f"{demo_server.url}/portal/?school={school.dfes}")
    page.get_by_role("link", name="M365 Licences").click()
    page.get_by_label("Search term").fill(unlicensed.username)
    page.get_by_role("button", name="Search").click()
    row = page.locator(f'#staff tr[data-username="{unlicensed.username}"]')
    assert page.locator("#staff tbody tr").count() == 1 and "Not allocated" in row.inner_text()
    look_at_both_widths(checks, page, "licences")
    row.get_by_role("button", name=f"Allocate a licence to {unlicensed.username}").click()
    assert "1 change has been queued for Microsoft 365." in page.locator(".porth-flash").inner_text()
    assert page.get_by_label("Search term").input_value() == unlicensed.username  # the search is kept
    assert "Allocated" in row.inner_text() and "Pending" in row.inner_text()
    row.get_by_role("button", name=f"Revoke the licence of {unlicensed.username}").click()
    assert "1 change has been queued" in page.locator(".porth-flash").inner_text()
    assert "Not allocated" in row.inner_text()

    # Digital Champions of the school: search.
    page.get_by_role("link", name="Digital Champions").click()
    page.get_by_label("Search term").fill(colleague.username)
    page.get_by_role("button", name="Search").click()
    assert page.locator("#others tbody tr").count() == 1
    expect(page.locator(f'#others tr[data-username="{colleague.username}"]')).to_be_visible()
    look_at_both_widths(checks, page, "champions")
    context.close()
    assert not checks.problems, "\n".join(checks.problems)
