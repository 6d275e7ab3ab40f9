"""Bulk work on View Users (issue 16 point 5; SPEC C-3, P-1, R-2, R-5, R-7): the list comes back
with its filters and page after every Selected Users action and every group action, and "Select
all N matching accounts" acts on every account the list's filters match, on every page, found
again by the server within the person's scope (never from ids the browser sends)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from directory.model import AccountKind, AccountState, Consent, NewAccount, Role
from operational.audit import AuditFilter, events
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token

# What a list asked for, and what must come back after the action (the fixture's pages hold 10).
FILTERED = {"q": "Surname", "year": "7", "status": "active", "page": "2"}
KEPT = {"q": ["Surname"], "year": ["7"], "page": ["2"]}  # status=active is the default, left out


def text(response) -> str:
    return response.get_data(as_text=True)


def store(portal):
    return portal.porth.runtime.store


def add(portal, new: NewAccount, now):
    return store(portal).add_account(new, now)


def surname(n: int) -> str:
    return "Surname" + "abcdefghijklmnopqrstuvwxyz"[n]  # usernames keep letters only


def two_years(portal, now, count: int = 25):
    """Learners 0, 2, 4 ... in year 7 (13 of 25: two pages of 10), the others in year 8."""
    return [add(portal, learner(surname(n), "Dai", year_group="7" if n % 2 == 0 else "8",
                                registration_group="7A" if n % 2 == 0 else "8B", password="Tiger4821"), now)
            for n in range(count)]


def as_champion(portal, now):
    add(portal, staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")


def as_staff(portal, now):
    add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")


def post(portal, path: str, data: dict):
    token = csrf_token(text(portal.open("/portal/")))
    return portal.client.post(path, data={"csrf_token": token, **data})


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


def consent_of(portal, accounts) -> list[Consent | None]:
    return [store(portal).get_account(a.id).consent for a in accounts]


def test_consent_for_a_whole_year_of_two_pages_in_one_round(portal, now):
    """C-3 for many: 13 year-7 learners over two pages, one confirmation, every one of them."""
    made = two_years(portal, now)
    year_7, year_8 = made[0::2], made[1::2]
    left = add(portal, learner("Surnamezz", "Gone", year_group="7"), now)
    store(portal).set_state(left.id, AccountState.DEACTIVATED, "test", "left", now)
    elsewhere = add(portal, learner("Surnameother", "Osian", school=OTHER_SCHOOL, year_group="7"), now)
    as_champion(portal, now)

    page = text(portal.open("/portal/users/learners?year=7"))
    assert "13 accounts" in page and "Page 1 of 2" in page
    assert "Select all 13 matching accounts" in page  # offered: more matches than rows on screen

    chosen = {"action": "confirm-consent", "school": SCHOOL, "selection": "matching", **FILTERED,
              "account": [elsewhere.id, year_8[0].id]}  # ids sent with a matching selection count for nothing
    question = post(portal, "/portal/users/learners/selected", chosen)
    body = text(question)
    assert question.status_code == 200 and "Confirm consent for these learners?" in body
    assert "This applies to all 13 active accounts matching the list's filters, on every page:" in body
    assert len(re.findall(r"<li>", body)) == 13 and "SurnameotherO" not in body and "SurnamezzG" not in body
    assert all(c in (None, Consent.NOT_OBTAINED) for c in consent_of(portal, year_7))  # nothing before the Yes

    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body))
    assert (hidden["selection"], hidden["expected"], hidden["year"], hidden["page"]) == ("matching", "13", "7", "2")
    assert 'name="account"' not in body  # the confirmation sends the filters again, not 13 ids
    done = post(portal, "/portal/users/learners/selected", {k: v for k, v in hidden.items() if k != "csrf_token"})
    assert done.status_code == 303 and query_of(done.headers["Location"]) == {"school": [SCHOOL], **KEPT}
    assert consent_of(portal, year_7) == [Consent.EXPLICIT] * 13
    assert all(c in (None, Consent.NOT_OBTAINED) for c in consent_of(portal, [*year_8, left, elsewhere]))
    assert len(events(portal.porth.runtime.db, AuditFilter(action="confirm-consent"))) == 13
    assert "Consent has been recorded for 13 learners." in text(portal.open(done.headers["Location"]))


def test_all_matching_is_asked_again_when_the_matches_changed_before_the_yes(portal, now):
    two_years(portal, now)
    as_champion(portal, now)
    confirmed = {"action": "confirm-consent", "school": SCHOOL, "selection": "matching", "year": "7",
                 "confirmed": "yes", "expected": "12"}  # one more joined year 7 since the question
    again = post(portal, "/portal/users/learners/selected", confirmed)
    assert again.status_code == 200 and "have changed since you chose them" in text(again)
    assert 'name="expected" value="13"' in text(again)
    assert not events(portal.porth.runtime.db, AuditFilter(action="confirm-consent"))


def test_reset_and_print_apply_to_every_matching_account(portal, now):
    made = two_years(portal, now)
    year_7, year_8 = made[0::2], made[1::2]
    as_staff(portal, now)
    slips = text(post(portal, "/portal/users/learners/selected", {
        "action": "print-with-passwords", "school": SCHOOL, "selection": "matching", "year": "7"}))
    assert slips.count('class="slip"') == 13 and slips.count("Tiger4821") == 13
    assert len(events(portal.porth.runtime.db, AuditFilter(action="print-with-password"))) == 13
    post(portal, "/portal/users/learners/selected", {"action": "reset-passwords", "school": SCHOOL,
                                                     "selection": "matching", "year": "7", "confirmed": "yes",
                                                     "expected": "13"})
    assert all(store(portal).reveal_password(a.id) != "Tiger4821" for a in year_7)
    assert all(store(portal).reveal_password(a.id) == "Tiger4821" for a in year_8)


def print_offer(page: str) -> dict[str, list[str]] | None:
    """What the list's "Print the N new passwords" form sends, or None when it is not offered."""
    start = page.find('<form method="post" action="/portal/users/learners/selected" id="print-just-reset"')
    if start < 0:
        return None
    form = page[start:page.index("</form>", start)]
    sent: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form):
        sent.setdefault(name, []).append(value)
    sent["action"] = re.findall(r'<button type="submit" name="action" value="([^"]+)"', form)
    sent["label"] = re.findall(r'class="govuk-button">([^<]+)</button>', form)
    return sent


def test_after_a_selected_reset_the_list_offers_once_to_print_the_new_passwords(portal, now):
    made = two_years(portal, now)
    chosen = [made[0], made[2]]
    as_staff(portal, now)
    done = post(portal, "/portal/users/learners/selected", {
        "action": "reset-passwords", "school": SCHOOL, "account": [a.id for a in chosen], "confirmed": "yes",
        **FILTERED})
    offer = print_offer(text(portal.open(done.headers["Location"])))
    assert offer is not None and offer["label"] == ["Print the 2 new passwords"]
    assert offer["action"] == ["print-with-passwords"] and offer["q"] == ["Surname"] and offer["page"] == ["2"]
    assert sorted(offer["account"]) == sorted(a.id for a in chosen)
    # Following it prints just those two, with the passwords the reset gave them (audited, R-7).
    slips = text(post(portal, "/portal/users/learners/selected", {
        name: values for name, values in offer.items() if name not in ("csrf_token", "label")}))
    assert slips.count('class="slip"') == 2
    assert all(store(portal).reveal_password(a.id) in slips for a in chosen)
    assert len(events(portal.porth.runtime.db, AuditFilter(action="print-with-password"))) == 2
    # Offered once: the list shown again (a reload, the next page) has no such button.
    assert print_offer(text(portal.open(done.headers["Location"]))) is None


def test_no_print_offer_after_other_actions_or_on_another_list(portal, now):
    made = two_years(portal, now, count=4)
    as_champion(portal, now)
    consent = post(portal, "/portal/users/learners/selected", {
        "action": "confirm-consent", "school": SCHOOL, "account": [made[0].id], "confirmed": "yes"})
    assert print_offer(text(portal.open(consent.headers["Location"]))) is None
    reset = post(portal, "/portal/users/learners/selected", {
        "action": "reset-passwords", "school": SCHOOL, "account": [made[0].id], "confirmed": "yes"})
    assert 'id="print-just-reset"' not in text(portal.open(f"/portal/users/staff?school={SCHOOL}"))
    assert print_offer(text(portal.open(reset.headers["Location"]))) is None  # the staff list took it


def test_all_matching_stays_within_the_persons_scope(portal, now):
    """R-5: another school's list is not found; staff may not change consent (R-2), however chosen."""
    two_years(portal, now, count=4)
    as_staff(portal, now)
    assert post(portal, "/portal/users/learners/selected", {
        "action": "print", "school": OTHER_SCHOOL, "selection": "matching"}).status_code == 404
    assert post(portal, "/portal/users/learners/selected", {
        "action": "confirm-consent", "school": SCHOOL, "selection": "matching"}).status_code == 403
    assert post(portal, "/portal/users/staff/selected", {
        "action": "reset-passwords", "school": SCHOOL, "selection": "matching", "confirmed": "yes"}).status_code == 403


def test_more_than_the_limit_is_refused_with_the_limit_named(portal, now, monkeypatch):
    made = two_years(portal, now, count=6)
    monkeypatch.setattr("webui.portal.manage.MAX_SELECTED", 5)
    monkeypatch.setattr("webui.portal.users.MAX_SELECTED", 5)
    as_champion(portal, now)
    refused = post(portal, "/portal/users/learners/selected", {
        "action": "confirm-consent", "school": SCHOOL, "selection": "matching", "confirmed": "yes", "expected": "6",
        "q": "Surname"})
    assert refused.status_code == 303 and query_of(refused.headers["Location"])["q"] == ["Surname"]
    assert "At most 5 accounts can be changed at once" in text(portal.open(refused.headers["Location"]))
    assert all(c in (None, Consent.NOT_OBTAINED) for c in consent_of(portal, made))
    ticked = post(portal, "/portal/users/learners/selected", {
        "action": "confirm-consent", "school": SCHOOL, "account": [a.id for a in made], "confirmed": "yes"})
    assert ticked.status_code == 303 and all(c in (None, Consent.NOT_OBTAINED) for c in consent_of(portal, made))


@pytest.mark.parametrize("action", ["reset-passwords", "confirm-consent", "withdraw-consent"])
def test_the_list_comes_back_with_its_filters_after_a_selected_users_action(portal, now, action):
    made = two_years(portal, now)
    as_champion(portal, now)
    chosen = {"action": action, "school": SCHOOL, "account": [made[0].id, made[2].id], **FILTERED}
    question = text(post(portal, "/portal/users/learners/selected", chosen))
    cancel = re.search(r'<a class="govuk-link" href="([^"]+)">Cancel</a>', question).group(1)
    assert query_of(cancel.replace("&amp;", "&")) == {"school": [SCHOOL], **KEPT}
    done = post(portal, "/portal/users/learners/selected", {**chosen, "confirmed": "yes"})
    assert done.status_code == 303 and query_of(done.headers["Location"]) == {"school": [SCHOOL], **KEPT}
    said = {"reset-passwords": "2 passwords have been reset.", "confirm-consent": "Consent has been recorded for 2",
            "withdraw-consent": "Consent has been withdrawn for 2 learners."}[action]  # C-3: never "recorded"
    assert said in text(portal.open(done.headers["Location"]))
    nothing = post(portal, "/portal/users/learners/selected", {"action": action, "school": SCHOOL, **FILTERED})
    assert query_of(nothing.headers["Location"]) == {"school": [SCHOOL], **KEPT}  # "Select at least one user first."


def test_the_selected_users_form_carries_the_lists_filters_and_page(portal, now):
    two_years(portal, now)
    as_staff(portal, now)
    page = text(portal.open("/portal/users/learners?q=Surname&year=7&page=2&consent=not-obtained"))
    form = page[page.index('<form method="post" action="/portal/users/learners/selected"'):]
    form = form[:form.index("</form>")]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    assert {k: hidden[k] for k in ("school", "q", "year", "page", "consent")} == {
        "school": SCHOOL, "q": "Surname", "year": "7", "page": "2", "consent": "not-obtained"}
    assert 'id="selection-matching" disabled' in form  # ticked rows only, until Select all N matching


def test_select_all_matching_is_offered_only_beyond_the_page_and_works_without_scripts(portal, now):
    two_years(portal, now)
    as_staff(portal, now)
    assert "matching account" not in text(portal.open("/portal/users/learners?reg=7A&q=Surnamea"))  # 1 row, 1 match
    chosen = text(portal.open("/portal/users/learners?year=7&selection=matching"))
    assert "All 13 matching accounts are selected, on every page." in chosen
    assert 'id="selection-matching">' in chosen  # sent with the form: not disabled
    assert chosen.count('form="selected-users" checked') == 10


class FormNesting(HTMLParser):
    """Forms inside forms (which a browser silently drops: the first row's Show password then
    posted Selected Users, a bare 400) and where each checkbox belongs."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.nested = 0
        self.reveal_forms = 0
        self.boxes_outside = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.nested += self.depth > 0
            self.depth += 1
            self.reveal_forms += "porth-show-password" in (attributes.get("class") or "")
        if tag == "input" and attributes.get("name") == "account" and self.depth == 0:
            self.boxes_outside += attributes.get("form") == "selected-users"

    def handle_endtag(self, tag):
        if tag == "form":
            self.depth -= 1


@pytest.mark.parametrize("list_name", ["learners", "staff", "governors", "non-mis"])
def test_every_list_has_show_password_forms_of_their_own(portal, now, list_name):
    kinds = {"learners": AccountKind.LEARNER, "staff": AccountKind.STAFF, "governors": AccountKind.GOVERNOR,
             "non-mis": AccountKind.SCHOOL_NONMIS}
    for name in ("Avery", "Bevan"):
        if list_name == "learners":
            add(portal, learner(name, "Ann", password="Tiger4821"), now)
        else:
            add(portal, NewAccount(kind=kinds[list_name], surname=name, forename="Ann", created_by="test",
                                   school=SCHOOL, password="Tiger4821",
                                   staff_code=name if list_name == "staff" else None), now)
    as_champion(portal, now)
    found = FormNesting()
    found.feed(text(portal.open(f"/portal/users/{list_name}")))
    assert found.nested == 0 and found.reveal_forms >= 2 and found.boxes_outside >= 2


def test_a_confirmation_lists_the_accounts_in_register_order_whatever_order_they_came_in(portal, now):
    """151 names are read down the page, as the list showed them, not in the order the boxes were ticked."""
    made = two_years(portal, now, count=6)
    as_champion(portal, now)
    question = text(post(portal, "/portal/users/learners/selected", {
        "action": "confirm-consent", "school": SCHOOL, "account": [a.id for a in reversed(made)]}))
    listed = re.findall(r"<li>[^<(]*\(([^)]+)\)</li>", question)
    assert listed == [a.username for a in made]  # Surnamea, Surnameb ... as the register has them
