"""Every page fits a phone and 200 % zoom (issue 16 points 6 and 11; WCAG 2.2 1.4.10 Reflow).

Each person the demo has signs in — a digital champion, a teacher, the LA administrator, a
secondary and a primary learner, a governor — and opens every page type they may use: the
sign-in page, the dashboard, each list, an account's details, reset password, edit, the
confirmation pages, group reset and print, the printed slips, profile and its second factors,
badges, champions, licences, administrators, the LA's non-MIS users, expiring accounts, the audit
log, a workflow log, the error pages, the sign-out pages and the public home page. On a 375 px phone, and on a 1280 px
screen at 200 % zoom (a 640 CSS px viewport at device scale factor 2), in English and in Welsh:

- the page never scrolls sideways (document scrollWidth <= window.innerWidth);
- every control a person uses (Show password, View Details, the Selected Users buttons,
  Search, every other link and button) can be brought into view without scrolling the page
  sideways: it is on screen, or inside a table's own scrolling region a person can swipe or,
  with the keyboard, Tab into (every table is in one: `porth-table-scroll`, role region,
  labelled, tabindex 0);
- axe-core finds nothing serious or critical at 375 px;
- screenshots at 375 and 1280 px go to var/screenshots/widths-*.png for a person to look at.

On a phone the portal's menu folds behind a Menu button; the language switch stays in view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from directory.model import Account, AccountKind, Role, School, SchoolType
from tests.browser.accessibility import ARTIFACTS, keep_screenshot, serious_problems


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    scale: int = 1


PHONE = Screen("phone", 375, 812)
ZOOMED = Screen("zoom-200", 640, 800, 2)  # 1280 px at 200 %: 640 CSS px, two device pixels each
DESK = Screen("desk", 1280, 900)


@dataclass(frozen=True)
class Person:
    role: str
    username: str
    password: str
    pages: tuple[tuple[str, str], ...]  # (page type, address) they open after signing in


@dataclass
class Demo:
    people: list[Person] = field(default_factory=list)



def _with_password(store, accounts, what: str) -> tuple[Account, str]:
    for account in accounts:
        password = store.reveal_password(account.id)
        if password:
            return account, password
    raise AssertionError(f"the demo has {what} whose password is shown under Show password")


def _school_pages(school: School, learner: Account, staff: Account, *, other_school: bool) -> list[tuple[str, str]]:
    """The pages of one school, as a digital champion (or an LA administrator choosing the school) sees them."""
    at = f"?school={school.dfes}" if other_school else ""
    return [
        ("dashboard", f"/portal/{at}"),
        ("view-learners", f"/portal/users/learners?school={school.dfes}"),
        ("view-staff", f"/portal/users/staff?school={school.dfes}"),
        ("view-governors", f"/portal/users/governors?school={school.dfes}"),
        ("view-non-mis", f"/portal/users/non-mis?school={school.dfes}"),
        ("learner-details", f"/portal/accounts/{learner.id}"),
        ("staff-details", f"/portal/accounts/{staff.id}"),
        ("reset-password", f"/portal/accounts/{learner.id}/password/reset"),
        ("edit-user", f"/portal/accounts/{learner.id}/edit"),
        ("confirm-deactivate", f"/portal/accounts/{learner.id}/deactivate"),
        ("withdraw-consent", f"/portal/accounts/{learner.id}/consent/withdraw"),
        ("group-reset", f"/portal/users/learners/group-reset?school={school.dfes}"),
        ("print-group", f"/portal/users/learners/print-group?school={school.dfes}"),
        ("download-warning", f"/portal/download/pupils?school={school.dfes}"),
        ("new-user-warning", f"/portal/users/governors/new?school={school.dfes}"),
        ("champions", f"/portal/champions{at}"),
        ("licences", f"/portal/licences{at}"),
        ("expiring", f"/portal/expiring{at}"),
        ("audit", f"/portal/audit{at}"),
        ("badges", f"/portal/badges?school={school.dfes}"),
        ("profile", "/portal/profile"),
        ("not-found", "/portal/accounts/no-such-account"),
        ("sign-out-ignored", "/portal/saml/sls"),
        ("idp-problem", "/idp/sso/redirect"),
        ("idp-sign-out", "/idp/logout"),
        ("home", "/"),
    ]


@pytest.fixture(scope="module")
def demo(demo_server) -> Demo:
    """Who signs in and what they open. The demo's secondary school has the longest lists (its View
    Learners was 702 px wide on a 375 px phone); its learner with the longest username is the one opened.
    Nothing here changes the directory: every page is looked at, none of its forms is confirmed."""
    found = Demo()
    with demo_server.runtime() as runtime:
        store = runtime.store
        schools = sorted(store.schools(), key=lambda s: s.dfes)
        secondary = next(s for s in schools if s.type is SchoolType.SECONDARY)
        primary = next(s for s in schools if s.type is SchoolType.PRIMARY)
        staff = list(store.iter_accounts(school=secondary.dfes, kind=AccountKind.STAFF))
        learners = sorted(store.iter_accounts(school=secondary.dfes, kind=AccountKind.LEARNER),
                          key=lambda a: len(a.mail), reverse=True)
        champion, champion_password = _with_password(
            store, [a for a in staff if Role.DIGITAL_CHAMPION in a.roles], "a digital champion")
        teacher, teacher_password = _with_password(store, [a for a in staff if not a.roles], "a teacher")
        learner, learner_password = _with_password(store, learners, "a secondary learner")
        pupil, pupil_password = _with_password(
            store, store.iter_accounts(school=primary.dfes, kind=AccountKind.LEARNER), "a primary learner")
        governor, governor_password = _with_password(
            store, store.iter_accounts(school=secondary.dfes, kind=AccountKind.GOVERNOR), "a governor")
        administrator, administrator_password = _with_password(
            store, [a for a in store.iter_accounts(kind=AccountKind.LA_NONMIS) if Role.LA_ADMINISTRATOR in a.roles],
            "an LA administrator")
    school_pages = _school_pages(secondary, learner, teacher, other_school=False)
    found.people = [
        Person("digital champion", champion.username, champion_password, (
            *school_pages,
            ("second-factors", "/portal/profile/second-factors"),
            ("enrol-app", "/portal/profile/second-factors/app"),
            ("enrol-security-key", "/portal/profile/second-factors/security-key"))),
        Person("LA administrator", administrator.username, administrator_password, (
            *_school_pages(secondary, learner, teacher, other_school=True),
            ("administrators", "/portal/administrators"),
            ("organisation-users", "/portal/organisation-users"),
            ("organisation-user-details", f"/portal/accounts/{administrator.id}"),
            ("new-organisation-user", "/portal/organisation-users/new"))),
        Person("teacher", teacher.username, teacher_password, (
            ("dashboard", "/portal/"), ("view-learners", f"/portal/users/learners?school={secondary.dfes}"),
            ("learner-details", f"/portal/accounts/{learner.id}"), ("profile", "/portal/profile"),
            ("forbidden", "/portal/champions"))),
        Person("secondary learner", learner.username, learner_password,
               (("dashboard", "/portal/"), ("profile", "/portal/profile"))),
        Person("primary learner", pupil.username, pupil_password,
               (("dashboard", "/portal/"), ("profile", "/portal/profile"))),
        Person("governor", governor.username, governor_password,
               (("dashboard", "/portal/"), ("profile", "/portal/profile"))),
    ]
    return found


# The page's width, and every control a person uses that cannot be brought into view without
# scrolling the page sideways. Each is scrolled into view the way focus or a swipe would (its
# scrolling ancestors move, the page may only move up and down), then measured.
_MEASURE = """() => {
  const tolerance = 1;
  const controls = document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]');
  const unreachable = [];
  let measured = 0;
  for (const control of controls) {
    const style = getComputedStyle(control);
    const box = control.getBoundingClientRect();
    // Not shown (folded menu, closed details, hidden reveal) or visually hidden until focused (skip link).
    if (box.width <= 1 || box.height <= 1 || style.visibility === 'hidden' || control.closest('[hidden]')) { continue; }
    window.scrollTo(0, window.scrollY);  // each control measured from the page's left edge
    control.scrollIntoView({block: 'nearest', inline: 'nearest'});
    const seen = control.getBoundingClientRect();
    measured += 1;
    if (window.scrollX !== 0 || seen.left < -tolerance || seen.right > window.innerWidth + tolerance) {
      const name = (control.getAttribute('aria-label') || control.textContent || control.value || control.name || '')
        .trim().replace(/\\s+/g, ' ').slice(0, 50);
      const span = `${Math.round(seen.left)}..${Math.round(seen.right)}`;
      unreachable.push(`${control.tagName.toLowerCase()} "${name}" at ${span}`);
    }
  }
  window.scrollTo(0, 0);
  const loose = [...document.querySelectorAll('table')].filter(table => {
    const region = table.closest('.porth-table-scroll');
    return !region || region.getAttribute('role') !== 'region' || !region.getAttribute('aria-label')
      || region.getAttribute('tabindex') !== '0';
  }).map(table => table.id || (table.caption && table.caption.textContent.trim().slice(0, 40)) || 'a table');
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          measured, unreachable: unreachable.slice(0, 5), loose};
}"""


class Looks:
    """What each page showed: too wide, unreachable controls, accessibility problems, screenshots."""

    def __init__(self, screen: Screen, language: str, tmp_path):
        self.screen, self.language, self.tmp_path = screen, language, tmp_path
        self.problems: list[str] = []
        self.widths: dict[str, int] = {}
        self.checked_by_axe: set[str] = set()
        self.photographed: set[str] = set()

    def look(self, page, name: str, role: str) -> dict:
        page.wait_for_load_state("load")
        where = f"{name} as {role} ({self.language}, {self.screen.name})"
        measured = page.evaluate(_MEASURE)
        self.widths[name] = max(self.widths.get(name, 0), measured["scrollWidth"])
        if measured["scrollWidth"] > measured["innerWidth"]:
            self.problems.append(f"{where}: the page is {measured['scrollWidth']} px wide "
                                 f"on a {measured['innerWidth']} px screen")
        if measured["unreachable"]:
            self.problems.append(f"{where}: out of reach sideways: {measured['unreachable']}")
        if measured["loose"]:
            self.problems.append(f"{where}: a table outside a labelled, focusable porth-table-scroll region: "
                                 f"{measured['loose']}")
        if self.screen is PHONE and name not in self.checked_by_axe:
            self.checked_by_axe.add(name)
            self.problems.extend(serious_problems(page, where))
        if self.screen in (PHONE, DESK) and name not in self.photographed:
            self.photographed.add(name)
            keep_screenshot(page, self.tmp_path, f"widths-{self.screen.width}-{self.language}-{name}")
        return measured


def _sign_in(page, base_url: str, person: Person, looks: Looks) -> None:
    page.goto(base_url + "/portal/")
    looks.look(page, "sign-in", person.role)
    page.locator("#username").fill(person.username)
    page.locator("#password").fill(person.password)
    with page.expect_navigation(url=re.compile(r"/portal/")):
        page.locator("main form button[type=submit]").click()


def _open_menu_if_folded(page) -> None:
    toggle = page.locator(".govuk-service-navigation__toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def _look_at_forms_pages(page, base_url: str, person: Person, looks: Looks) -> None:
    """The pages reached by pressing a button: a workflow's log, a group reset's confirmation, printed slips."""
    pages = dict(person.pages)
    if "dashboard" in pages and "view-learners" in pages and person.role != "teacher":
        page.goto(base_url + pages["dashboard"])
        with page.expect_navigation(url=re.compile(r"/portal/runs/\d+")):
            page.locator("a[href*='/portal/runs/']").first.click()
        looks.look(page, "workflow-log", person.role)
    if "group-reset" in pages:
        page.goto(base_url + pages["group-reset"])
        page.locator("main select").first.select_option(index=1)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").first.click()
        looks.look(page, "confirm-group-reset", person.role)
    if "learner-details" in pages and person.role != "teacher":
        page.goto(base_url + pages["learner-details"])
        with page.expect_popup() as printed:
            page.locator("form[target=_blank] button[value=no]").click()
        slips = printed.value
        slips.set_viewport_size({"width": looks.screen.width, "height": looks.screen.height})
        looks.look(slips, "print-slips", person.role)
        slips.close()


def _main_actions_are_there(page, base_url: str, person: Person) -> None:
    """The controls the issue found off-screen on a phone are on the list (the measuring above then
    found each of them reachable): without this, an empty list would pass."""
    page.goto(base_url + dict(person.pages)["view-learners"])
    show = page.get_by_role("button", name=re.compile(r"^Show password")).or_(
        page.get_by_role("link", name=re.compile(r"^Show password")))
    assert show.count() >= 1
    assert page.get_by_role("link", name=re.compile(r"^View Details")).count() >= 1
    assert page.get_by_role("button", name="Search", exact=True).count() == 1
    assert page.get_by_role("group", name="Selected Users").get_by_role("button").count() >= 3


# The suite checks every page at phone width in both languages and at 200 % zoom in Welsh (the
# longer words); the rest of the matrix (desk width, and 200 % zoom in English), where a page has
# never been too wide, runs with `make test-widths`: together they took a third of the suite's time.
_MATRIX_ONLY = pytest.mark.widths_matrix
SCREENS = [
    pytest.param(PHONE, "en", id="phone-en"),
    pytest.param(PHONE, "cy", id="phone-cy"),
    pytest.param(ZOOMED, "cy", id="zoom-200-cy"),
    pytest.param(ZOOMED, "en", id="zoom-200-en", marks=_MATRIX_ONLY),
    pytest.param(DESK, "en", id="desk-en", marks=_MATRIX_ONLY),
    pytest.param(DESK, "cy", id="desk-cy", marks=_MATRIX_ONLY),
]


@pytest.mark.parametrize(("screen", "language"), SCREENS)
def test_every_page_fits_the_screen(browser, demo_server, demo, screen, language, tmp_path):
    looks = Looks(screen, language, tmp_path)
    for person in demo.people:
        context = browser.new_context(viewport={"width": screen.width, "height": screen.height},
                                      device_scale_factor=screen.scale)
        page = context.new_page()
        page.goto(demo_server.url + f"/?lang={language}")  # the choice is remembered from here on
        _sign_in(page, demo_server.url, person, looks)
        for name, address in person.pages:
            page.goto(demo_server.url + address)
            looks.look(page, name, person.role)
        _look_at_forms_pages(page, demo_server.url, person, looks)
        if language == "en" and person.role in ("digital champion", "LA administrator", "teacher"):
            _main_actions_are_there(page, demo_server.url, person)
        # Signing out from the menu, folded behind its button on a phone.
        page.goto(demo_server.url + "/portal/")
        _open_menu_if_folded(page)
        page.locator(".govuk-service-navigation form button[type=submit]").click()
        page.wait_for_url("**/signed-out")
        looks.look(page, "signed-out", person.role)
        context.close()
    # Each page type's width, widest over the people who opened it, kept to compare runs by.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"widths-{screen.name}-{language}.txt").write_text(
        "".join(f"{name} {width}\n" for name, width in sorted(looks.widths.items())), encoding="utf-8")
    assert not looks.problems, "\n".join(looks.problems)
    assert len(looks.widths) >= 30, sorted(looks.widths)


def test_on_a_phone_the_menu_folds_and_the_language_switch_stays(browser, demo_server, demo):
    """A phone shows the page's heading on the first screen: the menu waits behind its button,
    opens with a tap, and leads where it says; the language switch is never folded away."""
    from playwright.sync_api import expect

    champion = demo.people[0]
    context = browser.new_context(viewport={"width": PHONE.width, "height": PHONE.height})
    page = context.new_page()
    page.goto(demo_server.url + "/?lang=en")
    page.goto(demo_server.url + "/portal/")
    page.locator("#username").fill(champion.username)
    page.locator("#password").fill(champion.password)
    with page.expect_navigation(url=re.compile(r"/portal/")):
        page.get_by_role("button", name="Sign in").click()
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("link", name="View Users")).to_be_hidden()
    heading = page.get_by_role("heading", level=1).bounding_box()
    assert heading["y"] < PHONE.height / 2, "the page's heading is in the top half of the first screen"
    expect(page.get_by_role("link", name="Cymraeg")).to_be_in_viewport()

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("link", name="View Users").click()
    expect(page.get_by_role("heading", name="View Learners")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")

    # Turning the phone (or widening the window) lays the items out in a row, the button gone.
    page.set_viewport_size({"width": DESK.width, "height": DESK.height})
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("link", name="View Users")).to_be_visible()
    context.close()


def test_without_scripts_the_menu_is_listed(browser, demo_server, demo):
    """No script, no button: every item of the menu is there to tap."""
    from playwright.sync_api import expect

    champion = demo.people[0]
    context = browser.new_context(viewport={"width": PHONE.width, "height": PHONE.height}, java_script_enabled=False)
    page = context.new_page()
    page.goto(demo_server.url + "/?lang=en")
    page.goto(demo_server.url + "/portal/")
    page.locator("#username").fill(champion.username)
    page.locator("#password").fill(champion.password)
    page.get_by_role("button", name="Sign in").click()
    # Without scripts the SAML response goes back to the portal with the Continue button the IdP shows.
    with page.expect_navigation(url=re.compile(r"/portal/$")):
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("link", name="View Users")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    context.close()


def test_a_wide_table_scrolls_in_its_own_region_by_swipe_or_keyboard(browser, demo_server):
    """The home page's table on a phone: the page stays put while the table moves. A keyboard user
    reaches the table's region with Tab (GOV.UK's yellow and black focus) and scrolls it with the arrow
    keys until the last column, All, is in view."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": PHONE.width, "height": PHONE.height})
    page.goto(demo_server.url + "/?lang=en")
    region = page.get_by_role("region", name=re.compile(r"^Schools of .* and their active accounts$")).first
    total = region.get_by_role("columnheader", name="All")
    assert total.bounding_box()["x"] > PHONE.width, "the table is wider than the phone"
    for _ in range(20):  # links before the region: the logo, the language switch
        page.keyboard.press("Tab")
        if region.evaluate("region => region === document.activeElement"):
            break
    expect(region).to_be_focused()
    assert "rgb(255, 221, 0)" in region.evaluate("region => getComputedStyle(region).boxShadow")
    # Chromium keeps scroll offsets fractional and may stop a pixel or two short of scrollWidth: within
    # 2 px is the end. Each press must move the table on, or reach that end.
    at_end = "r.scrollLeft + r.clientWidth >= r.scrollWidth - 2"
    for _ in range(100):
        if region.evaluate(f"r => {at_end}"):
            break
        before = region.evaluate("r => r.scrollLeft")
        page.keyboard.press("ArrowRight")
        try:
            page.wait_for_function(f"([r, x]) => r.scrollLeft > x || {at_end}", arg=[region.element_handle(), before],
                                   timeout=5000)
        except PlaywrightTimeout:
            state = region.evaluate("r => [r.scrollLeft, r.clientWidth, r.scrollWidth, document.activeElement === r]")
            raise AssertionError(f"ArrowRight did not scroll the table (left, width, scroll width, focused): "
                                 f"{state}") from None
    box = total.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE.width
    assert page.evaluate("window.scrollX") == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE.width
    page.close()
