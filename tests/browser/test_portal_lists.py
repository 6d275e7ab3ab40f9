"""View Users as a digital champion and an LA administrator use it, in Chromium (issue 16 points
1, 2, 5 and 11; SPEC A-4, C-3, P-1, R-2, R-7): Show password on each list and on View Details
(revealed in place, copied, hidden again when the pointer or the focus leaves, one audit entry per
click; with JavaScript off, the details page with the password at its top), consent for a whole
year of several pages in one round with "Select all N matching accounts", and a year's passwords
reset and printed from Group Actions, the list coming back with its filters each time.
Screenshots at 1280 and 375 px go to var/screenshots/lists-*.png."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from demo.people import DEMO_LA
from directory.model import Account, AccountKind, AccountState, Consent, Role, School, SchoolType
from operational.audit import AuditFilter, events
from tests.browser.accessibility import keep_screenshot, serious_problems

DESK = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
LIST_LINKS = {"learners": "View Learners", "staff": "View Staff", "governors": "View Governors",
              "non-mis": "View Non-MIS"}



@dataclass(frozen=True)
class Person:
    username: str
    password: str


@dataclass(frozen=True)
class Demo:
    secondary: School  # ~1,000 learners: a year is several pages of 50
    special: School  # no other browser test changes it: its passwords are reset here
    secondary_champion: Person
    special_champion: Person
    la_administrator: Person
    accounts: dict[str, Account]  # by username, of both schools and the LA


def champion_of(store, school: School) -> Person:
    person = next(a for a in store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF)
                  if Role.DIGITAL_CHAMPION in a.roles)
    return Person(person.username, store.reveal_password(person.id))


@pytest.fixture(scope="module")
def demo(demo_server) -> Demo:
    with demo_server.runtime() as runtime:
        store = runtime.store
        schools = {s.type: s for s in store.schools()}
        secondary, special = schools[SchoolType.SECONDARY], schools[SchoolType.SPECIAL]
        authority = list(store.iter_accounts(organisation=DEMO_LA, kind=AccountKind.LA_NONMIS))
        # The demo's LA also holds accounts near expiry (L-2) that administer nothing.
        administrator = next(a for a in authority if Role.LA_ADMINISTRATOR in a.roles)
        accounts = {a.username: a for dfes in (secondary.dfes, special.dfes) for a in store.iter_accounts(school=dfes)}
        accounts.update((a.username, a) for a in authority)
        return Demo(secondary, special, champion_of(store, secondary), champion_of(store, special),
                    Person(administrator.username, store.reveal_password(administrator.id)), accounts)


def password_of(demo_server, account: Account) -> str:
    with demo_server.runtime() as runtime:
        return runtime.store.reveal_password(account.id)


def reveals_of(demo_server, account: Account) -> int:
    with demo_server.runtime() as runtime:
        return sum(1 for _id, entry in events(runtime.db, AuditFilter(action="show-password"))
                   if entry.target_id == account.id)


class Looks:
    """Screenshots at desk and phone width, and axe-core's serious and critical problems."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.problems: list[str] = []

    def look(self, page, name: str, phone: bool = True, axe: bool = True) -> None:
        page.wait_for_load_state("load")
        if axe:  # axe-core is a script: not for a page with JavaScript off
            self.problems.extend(serious_problems(page, name))
        for width, viewport in (("1280", DESK), ("375", PHONE)) if phone else (("1280", DESK),):
            page.set_viewport_size(viewport)
            if axe:  # what the person is working on, in the picture at each width
                page.evaluate("document.activeElement && document.activeElement.scrollIntoView({block: 'center'})")
            keep_screenshot(page, self.tmp_path, f"lists-{name}-{width}", full_page=False)
        page.set_viewport_size(DESK)


def sign_in(context, demo_server, person: Person):
    page = context.new_page()
    page.goto(demo_server.url + "/portal/")
    page.get_by_label("Username").fill(person.username)
    page.get_by_label("Password").fill(person.password)
    with page.expect_navigation(url="**/portal/**"):
        page.get_by_role("button", name="Sign in").click()
    return page


def reveal_copy_and_hide(page, demo_server, account: Account, copied: str = "Copied") -> None:
    """Show password in place, Copy it to the clipboard, then the pointer leaves: hidden. Again
    from the keyboard, then the focus leaves: hidden. Two clicks, two audit entries (R-7)."""
    from playwright.sync_api import expect

    expected = password_of(demo_server, account)
    before = reveals_of(demo_server, account)
    holder = page.locator(f'.porth-password[data-account="{account.id}"]')
    value = holder.locator(".porth-password__value code")
    show = holder.locator(".porth-show-password button")
    show.click()
    expect(value).to_have_text(expected)
    assert value.is_visible() and not show.is_visible()
    copy = holder.locator(".porth-copy")
    copy.click()
    expect(copy).to_contain_text(copied)
    assert page.evaluate("navigator.clipboard.readText()") == expected
    page.mouse.move(1, 1)  # the pointer leaves the password
    expect(value).to_be_hidden()
    expect(show).to_be_visible()
    assert value.text_content() == ""  # gone from the page, not only from sight

    show.focus()
    page.keyboard.press("Enter")
    expect(value).to_have_text(expected)
    expect(copy).to_be_focused()  # the keyboard lands on Copy
    page.keyboard.press("Tab")  # the focus leaves the password
    expect(value).to_be_hidden()
    assert reveals_of(demo_server, account) == before + 2


def first_row_with_a_password(page, demo: Demo) -> Account:
    row = page.locator("#users tbody tr").filter(has=page.locator(".porth-show-password")).first
    return demo.accounts[row.get_attribute("data-username")]


def test_show_password_on_every_list_and_on_view_details(browser, demo_server, demo, tmp_path):
    from playwright.sync_api import expect

    looks = Looks(tmp_path)
    context = browser.new_context(viewport=DESK, permissions=["clipboard-read", "clipboard-write"])
    page = sign_in(context, demo_server, demo.secondary_champion)
    page.get_by_role("link", name="View Users").click()
    for list_name, link in LIST_LINKS.items():
        page.locator(".porth-list-switch").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=link)).to_be_visible()
        # The very first row too: its reveal form once posted the Selected Users form (a bare 400).
        # The first reveal form of the page: the one that posted the Selected Users form (a bare 400).
        account = first_row_with_a_password(page, demo)
        reveal_copy_and_hide(page, demo_server, account)
        expect(page.get_by_role("heading", name=link)).to_be_visible()  # still on the list, never a 400 page
        if list_name == "learners":  # revealed from the keyboard, the pointer away: it stays for the pictures
            page.locator(f'.porth-password[data-account="{account.id}"] .porth-show-password button').focus()
            page.keyboard.press("Enter")
            page.locator(".porth-copy:focus").wait_for()
            looks.look(page, "learners-revealed")
            page.keyboard.press("Tab")

    page.get_by_role("link", name=f"View Details of {account.username}").click()
    expect(page.get_by_role("heading", name=account.display_name)).to_be_visible()
    reveal_copy_and_hide(page, demo_server, account)
    page.locator(".porth-show-password button").focus()  # revealed from the keyboard: it stays for the pictures
    page.keyboard.press("Enter")
    page.locator(".porth-copy:focus").wait_for()
    looks.look(page, "details")
    page.keyboard.press("Tab")

    # In Welsh the Copy button says so in Welsh.
    page.get_by_role("link", name="Cymraeg").click()
    expect(page.locator("html")).to_have_attribute("lang", "cy")
    reveal_copy_and_hide(page, demo_server, account, copied="Wedi copïo")
    page.get_by_role("link", name="English").click()
    context.close()
    assert not looks.problems, "\n".join(looks.problems)


def test_a_password_narrower_than_its_button_stays_under_the_pointer_that_clicked(browser, demo_server, demo):
    """A learner's password ("Lunar7841") is narrower than "Show password": clicked near the button's
    right end, the pointer was left over nothing and the password vanished 17 ms after it appeared
    (a teacher saw no password, and the audit log one reveal). It stays until the pointer moves away."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESK)
    page = sign_in(context, demo_server, demo.secondary_champion)
    page.get_by_role("link", name="View Users").click()
    for row in range(3):
        holder = page.locator("#users tbody tr").nth(row).locator(".porth-password")
        button = holder.locator(".porth-show-password button")
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.95, box["y"] + box["height"] / 2)
        value = holder.locator(".porth-password__value code")
        expect(value).to_have_text(re.compile(r"\S+"))
        page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)  # a hand is never still
        expect(value).to_be_visible()
        page.mouse.move(1, 1)
        expect(value).to_be_hidden()
    context.close()


def test_show_password_on_the_local_authoritys_non_mis_list(browser, demo_server, demo):
    context = browser.new_context(viewport=DESK, permissions=["clipboard-read", "clipboard-write"])
    page = sign_in(context, demo_server, demo.la_administrator)
    page.get_by_role("link", name="Non-MIS Users").click()
    reveal_copy_and_hide(page, demo_server, first_row_with_a_password(page, demo))
    context.close()


def test_show_password_without_javascript_opens_the_details_with_the_password_at_the_top(
        browser, demo_server, demo, tmp_path):
    from playwright.sync_api import expect

    looks = Looks(tmp_path)
    signing_in = browser.new_context(viewport=DESK)  # the SAML POST back to the portal is sent by a script
    sign_in(signing_in, demo_server, demo.secondary_champion)
    context = browser.new_context(viewport=DESK, java_script_enabled=False, storage_state=signing_in.storage_state())
    signing_in.close()
    page = context.new_page()
    page.goto(demo_server.url + "/portal/")
    page.get_by_role("link", name="View Users").click()
    account = first_row_with_a_password(page, demo)
    before = reveals_of(demo_server, account)
    page.locator(f'.porth-password[data-account="{account.id}"] .porth-show-password button').click()
    expect(page.get_by_role("heading", name=account.display_name)).to_be_visible()  # the form posted: a new page
    banner = page.locator("#revealed-password")
    assert password_of(demo_server, account) in banner.inner_text()
    box = banner.bounding_box()
    assert box and box["y"] + box["height"] < DESK["height"], "the password is seen without scrolling"
    assert reveals_of(demo_server, account) == before + 1
    looks.look(page, "no-script-reveal", axe=False)
    page.set_viewport_size(PHONE)
    box = banner.locator("code").bounding_box()
    assert box and box["y"] + box["height"] < PHONE["height"], "on a phone too"
    context.close()
    assert not looks.problems, "\n".join(looks.problems)


def test_consent_for_a_whole_year_in_one_round_keeps_the_lists_filters(browser, demo_server, demo, tmp_path):
    """C-3 for a year of several pages: tick the page, Select all N matching accounts, confirm once."""
    from playwright.sync_api import expect

    looks = Looks(tmp_path)
    learners = [a for a in demo.accounts.values() if a.kind is AccountKind.LEARNER
                and a.school == demo.secondary.dfes and a.state is AccountState.ACTIVE and a.year_group]
    by_year: dict[str, list[Account]] = {}
    for learner in learners:
        by_year.setdefault(learner.year_group or "", []).append(learner)
    year, in_year = max(by_year.items(), key=lambda item: len(item[1]))
    assert len(in_year) > 100, "a year of more than two pages"

    context = browser.new_context(viewport=DESK)
    page = sign_in(context, demo_server, demo.secondary_champion)
    page.get_by_role("link", name="View Users").click()
    page.get_by_label("Year group").select_option(year)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Next").click()  # page 2: where the person is when they act
    expect(page.get_by_text("Page 2 of")).to_be_visible()

    banner = page.locator("#select-matching")
    assert banner.is_hidden()
    page.locator("#select-all").check()
    assert page.locator('input[name="account"]:checked').count() == 50
    matching = page.get_by_role("link", name=f"Select all {len(in_year)} matching accounts")
    expect(matching).to_be_visible()
    looks.look(page, "select-matching", phone=False)
    matching.click()
    expect(page.get_by_text(f"All {len(in_year)} matching accounts are selected, on every page.")).to_be_visible()
    looks.look(page, "all-matching-selected")
    page.get_by_role("button", name="Confirm Consent").click()

    expect(page.get_by_role("heading", name="Confirm consent for these learners?")).to_be_visible()
    assert f"all {len(in_year)} active accounts matching" in page.locator("#affected-count").inner_text()
    assert page.locator("#affected li").count() == len(in_year)
    looks.look(page, "confirm-all-matching")
    page.locator("#confirm").click()

    newly = sum(1 for a in in_year if a.consent is not Consent.EXPLICIT)  # the others had it already
    assert f"Consent has been recorded for {newly} learners." in page.locator(".porth-flash").inner_text()
    # Back on the same view of the list: the year chosen, page 2.
    assert page.get_by_label("Year group").input_value() == year
    expect(page.get_by_text("Page 2 of")).to_be_visible()
    with demo_server.runtime() as runtime:
        consents = [runtime.store.get_account(a.id).consent for a in in_year]
    assert consents == [Consent.EXPLICIT] * len(in_year)
    context.close()
    assert not looks.problems, "\n".join(looks.problems)


def test_a_years_passwords_are_reset_and_printed_from_group_actions(browser, demo_server, demo, tmp_path):
    """R-2 and P-1 by year, on the special school; then Back returns to the list as it was filtered."""
    from playwright.sync_api import expect

    looks = Looks(tmp_path)
    in_school = [a for a in demo.accounts.values() if a.kind is AccountKind.LEARNER
                 and a.school == demo.special.dfes and a.state is AccountState.ACTIVE and a.year_group]
    year = min(a.year_group or "" for a in in_school)
    in_year = sorted((a for a in in_school if a.year_group == year), key=lambda a: a.username)
    before = {a.id: password_of(demo_server, a) for a in in_school}

    context = browser.new_context(viewport=DESK)
    page = sign_in(context, demo_server, demo.special_champion)
    page.get_by_role("link", name="View Users").click()
    page.get_by_label("Status").select_option("all")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("Group Actions").click()
    page.get_by_role("link", name="Reset Passwords: Registration Group / Class / Year").click()
    page.get_by_label("Registration group, class or year").select_option(label=f"Year {year}")
    looks.look(page, "group-reset-year")
    page.get_by_role("button", name="Reset Passwords").click()
    expect(page.get_by_role("heading", name=f"Reset the passwords of Year {year}?")).to_be_visible()
    assert page.locator("#affected li").count() == len(in_year)
    page.locator("#confirm").click()
    expect(page.locator(".porth-flash")).to_contain_text(f"{len(in_year)} password")

    with page.expect_popup() as printed:
        page.get_by_role("button", name="Print With Password").click()
    slips = printed.value
    slips.wait_for_load_state()
    assert slips.title().startswith(f"Year {year}")
    assert sorted(slips.locator(".slip").evaluate_all("s => s.map(e => e.dataset.username)")) == \
        [a.username for a in in_year]
    after = {a.id: password_of(demo_server, a) for a in in_school}
    assert {a.id for a in in_school if after[a.id] != before[a.id]} == {a.id for a in in_year}
    for account in in_year:
        assert after[account.id] in slips.locator(f'.slip[data-username="{account.username}"]').inner_text()
    slips.close()

    page.get_by_role("link", name="Back").click()
    expect(page.get_by_role("heading", name="View Learners")).to_be_visible()
    assert page.get_by_label("Status").input_value() == "all"  # the list as it was filtered
    context.close()
    assert not looks.problems, "\n".join(looks.problems)


def test_selected_learners_passwords_are_reset_then_printed_from_the_list(browser, demo_server, demo, tmp_path):
    """R-2 and P-1 for learners ticked on the list: after the reset the list offers their new
    passwords' slips, once; the slips hold the passwords the reset gave them."""
    from playwright.sync_api import expect

    looks = Looks(tmp_path)
    context = browser.new_context(viewport=DESK)
    page = sign_in(context, demo_server, demo.special_champion)
    page.get_by_role("link", name="View Users").click()
    rows = page.locator("#users tbody tr").filter(has=page.locator('input[name="account"]'))
    chosen = [demo.accounts[rows.nth(n).get_attribute("data-username")] for n in (1, 2)]
    before = {a.id: password_of(demo_server, a) for a in chosen}
    for account in chosen:
        page.locator(f"#select-{account.id}").check()
    page.get_by_role("button", name="Reset Passwords").click()
    expect(page.get_by_role("heading", name="Reset the passwords of these users?")).to_be_visible()
    page.locator("#confirm").click()

    expect(page.locator(".porth-flash")).to_contain_text("2 passwords have been reset.")
    offer = page.get_by_role("button", name="Print the 2 new passwords")
    expect(offer).to_be_visible()
    offer.focus()  # in the pictures: the banner and the button under it
    looks.look(page, "selected-reset-print-offer")
    with page.expect_popup() as printed:
        offer.click()
    slips = printed.value
    slips.wait_for_load_state()
    assert sorted(slips.locator(".slip").evaluate_all("s => s.map(e => e.dataset.username)")) == \
        sorted(a.username for a in chosen)
    for account in chosen:
        after = password_of(demo_server, account)
        assert after != before[account.id]
        assert after in slips.locator(f'.slip[data-username="{account.username}"]').inner_text()
    slips.close()

    page.reload()  # offered once: the list again is the list alone
    expect(page.get_by_role("heading", name="View Learners")).to_be_visible()
    expect(page.locator("#print-just-reset")).to_have_count(0)
    context.close()
    assert not looks.problems, "\n".join(looks.problems)


def test_a_selected_users_button_pressed_with_nobody_ticked_says_so_in_this_tab(browser, demo_server, demo):
    """Print Selected opens its sheet in a new tab: with nobody ticked it opens none, and this tab
    says what to do (GOV.UK's error summary, and the message at the buttons), in both languages; the
    same for a button that stays in the tab. Ticking someone takes the message away, and Print
    then opens the sheet."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESK)
    page = sign_in(context, demo_server, demo.secondary_champion)
    page.get_by_role("link", name="View Users").click()
    summary = page.locator("#selected-users-choice-error")
    english, welsh = "Select at least one user first.", "Dewiswch o leiaf un defnyddiwr yn gyntaf."
    for button, language, message in (("Print Selected", "en", english), ("Reset Passwords", "en", english),
                                      ("Argraffu'r Rhai a Ddewiswyd", "cy", welsh)):
        if language == "cy":
            with page.expect_navigation():
                page.locator('a[hreflang="cy"]').click()
        page.get_by_role("button", name=button, exact=True).click()
        expect(summary).to_be_visible()
        expect(summary).to_be_focused()
        expect(summary).to_contain_text(message)
        expect(page.locator("#selected-users-choice-message")).to_contain_text(message)
        assert len(context.pages) == 1, "no tab opened for nobody"
        assert "/portal/users/learners" in page.url and "selected" not in page.url
    with page.expect_navigation():
        page.locator('a[hreflang="en"]').click()
    page.get_by_role("button", name="Print Selected", exact=True).click()
    first = page.locator("#users tbody tr").filter(has=page.locator('input[name="account"]')).first
    first.locator('input[name="account"]').check()
    expect(summary).to_be_hidden()
    with page.expect_popup() as printed:
        page.get_by_role("button", name="Print Selected", exact=True).click()
    sheet = printed.value
    sheet.wait_for_load_state()
    assert sheet.locator(".slip").evaluate_all("s => s.map(e => e.dataset.username)") == \
        [first.get_attribute("data-username")]
    context.close()
