"""The User Management Portal in a real browser (issue 5): a digital champion's day,
with an accessibility check (axe-core) of every page type and screenshots kept
in var/screenshots/portal-*.png."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from directory.model import AccountKind, AccountState, GroupKind, Role
from tests.browser.accessibility import keep_screenshot, serious_problems


@pytest.fixture(scope="module")
def champion(demo_server):
    """The demo's digital champion of its first school, and their password."""
    with demo_server.runtime() as runtime:
        school = min(runtime.store.schools(), key=lambda s: s.dfes)
        person = next(a for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF)
                      if Role.DIGITAL_CHAMPION in a.roles)
        password = runtime.store.reveal_password(person.id)
        assert password, "the demo champion's password is shown under Show password"
        return person, password, school


class Checks:
    """Looks at every page type: accessibility (axe-core) and a screenshot."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.problems: list[str] = []
        self.seen: list[str] = []

    def look(self, page, name: str) -> None:
        self.problems.extend(serious_problems(page, name))
        keep_screenshot(page, self.tmp_path, f"portal-{name}")
        self.seen.append(name)


def test_a_digital_champions_day_in_the_portal(browser, demo_server, champion, tmp_path):
    person, password, school = champion
    checks = Checks(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()

    # Signing in: the portal sends the browser to Porth's sign-in page, which always asks.
    page.goto(demo_server.url + "/portal/")
    page.get_by_label("Username").fill(person.username)
    page.get_by_label("Password").fill(password)
    checks.look(page, "sign-in")
    with page.expect_navigation(url="**/portal/"):
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="School Administrator Dashboard")).to_be_visible()
    assert school.name in page.locator("#school-information").inner_text()
    assert page.locator("#workflows tbody tr").count() == 5
    checks.look(page, "dashboard")
    page.locator('#workflows [data-workflow="learners"] a').click()
    expect(page.get_by_role("heading", name="Learners workflow")).to_be_visible()
    checks.look(page, "workflow-log")

    # Finding a learner.
    with demo_server.runtime() as runtime:
        active = [a for a in runtime.store.iter_accounts(school=school.dfes, kind=AccountKind.LEARNER)
                  if a.state is AccountState.ACTIVE]
        learners = sorted((a for a in active if a.registration_group), key=lambda a: (a.registration_group, a.surname))
        group = learners[0].registration_group
        in_group = [a for a in learners if a.registration_group == group]
        classes = [g for g in runtime.store.groups(school.dfes) if g.kind is GroupKind.CLASS]
    wanted = in_group[0]
    page.get_by_role("link", name="View Users").click()
    page.get_by_label("Search term").fill(wanted.username)
    page.get_by_role("button", name="Search").click()
    assert page.locator("#users tbody tr").count() == 1
    checks.look(page, "view-learners")
    page.get_by_role("link", name=f"View Details of {wanted.username}").click()
    expect(page.get_by_role("heading", name=wanted.display_name)).to_be_visible()
    checks.look(page, "account-details")

    # Resetting a registration group's passwords, then printing them.
    page.get_by_role("link", name="View Users").click()
    page.get_by_text("Group Actions").click()
    page.get_by_role("link", name="Reset Passwords: Registration Group / Class / Year").click()
    page.get_by_label("Registration group, class or year").select_option(f"reg:{group}")
    checks.look(page, "group-reset")
    page.get_by_role("button", name="Reset Passwords").click()
    assert page.locator("#affected li").count() == len(in_group)
    checks.look(page, "confirm")
    page.locator("#confirm").click()
    assert "passwords have been reset" in page.locator(".porth-flash").inner_text()
    with page.expect_popup() as printed:
        page.get_by_role("button", name="Print With Password").click()
    slips = printed.value
    slips.wait_for_load_state()
    assert slips.locator(".slip").count() == len(in_group)
    with demo_server.runtime() as runtime:
        first_password = runtime.store.reveal_password(in_group[0].id)
    assert first_password in slips.locator(f'.slip[data-username="{in_group[0].username}"]').inner_text()
    checks.look(slips, "print-slips")
    slips.close()

    # The all-pupils CSV, after the warning.
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name="All Pupils").click()
    expect(page.locator("main")).to_contain_text("it is your responsibility")
    checks.look(page, "download-warning")
    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Proceed with download").click()
    rows = list(csv.reader(io.StringIO(Path(downloaded.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["Forename", "Surname", "Username", "Password", "Date created", "Year", "Reg group",
                       "Consent", "Admission number"]
    assert len(rows) - 1 == len(active)
    assert [first_password] == [r[3] for r in rows if r[2] == in_group[0].mail]

    # Creating a governor.
    page.get_by_role("link", name="View Users").click()
    page.locator(".porth-list-switch").get_by_role("link", name="View Governors").click()
    page.get_by_role("link", name="Add new user +").click()
    checks.look(page, "new-user-warning")
    page.get_by_role("link", name="I understand").click()
    page.get_by_label("Forename").fill("Gwenllian")
    page.get_by_label("Surname").fill("Ap Rhys")
    page.get_by_role("button", name="Generate Password").click()
    assert len(page.get_by_label("Password").input_value()) >= 10
    page.get_by_label("End of the academic year (31 August)").check()
    checks.look(page, "new-user")
    page.get_by_role("button", name="Add User").click()
    assert re.search(r"ApRhysG\d*@hwbcymru.net has been created", page.locator(".porth-flash").inner_text())

    # The governor leaves again (deactivation asks first), so the demo's counts stay as loaded.
    page.get_by_role("link", name="Deactivate").click()
    expect(page.get_by_role("heading", name="Are you sure you wish to deactivate this account?")).to_be_visible()
    page.locator("#confirm").click()
    assert "deactivated" in page.locator(".porth-flash").inner_text()

    # A learner's new name, with a new username queued.
    page.goto(demo_server.url + f"/portal/accounts/{in_group[1].id}")
    page.get_by_role("link", name="Edit").click()
    checks.look(page, "edit-user")
    page.get_by_label("Surname").fill(in_group[1].surname + "-Jones")
    page.get_by_label("Generate New Username").check()
    page.get_by_role("button", name="Update User").click()
    expect(page.locator("#username-pending")).to_be_visible()
    expect(page.get_by_role("heading", name=f"{in_group[1].forename} {in_group[1].surname}-Jones")).to_be_visible()

    # Consent for a whole class, after the C-3 screen.
    page.get_by_role("link", name="View Users").click()
    if classes:
        page.get_by_label("Class").select_option(classes[0].code)
    else:
        page.get_by_label("Registration group").select_option(group)
    page.get_by_role("button", name="Search").click()
    page.locator("#select-all").check()
    page.get_by_role("button", name="Confirm Consent").click()
    expect(page.get_by_role("heading", name="Confirm consent for these learners?")).to_be_visible()
    page.locator("#confirm").click()
    assert "Consent has been recorded" in page.locator(".porth-flash").inner_text()

    # The other page types, each looked at once.
    for path, name in ((f"/portal/accounts/{wanted.id}/password/reset", "reset-password"),
                       ("/portal/licences", "licences"), ("/portal/champions", "champions"),
                       ("/portal/audit", "audit"), ("/portal/profile", "profile"),
                       ("/portal/expiring", "expiring"), ("/portal/users/learners/print-group", "print-group"),
                       (f"/portal/accounts/{wanted.id}/consent/withdraw", "withdraw-consent"),
                       ("/portal/users/learners?lang=cy", "view-learners-cy")):
        page.goto(demo_server.url + path)
        checks.look(page, name)
    assert page.locator("html").get_attribute("lang") == "cy"
    expect(page.get_by_role("heading", name="Gweld Dysgwyr")).to_be_visible()
    page.goto(demo_server.url + "/portal/?lang=en")

    # Signing out ends both sessions.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/portal/signed-out")
    checks.look(page, "signed-out")
    page.goto(demo_server.url + "/portal/")
    expect(page.get_by_label("Password")).to_be_visible()
    context.close()

    assert not checks.problems, "\n".join(checks.problems)
    assert len(checks.seen) >= 20
