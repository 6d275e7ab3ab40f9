"""Year groups wherever registration groups and classes are offered (issue 16 point 2; SPEC R-2,
P-1, M-8): the list's filter, Reset Passwords and Print Registration Group / Class / Year; from
the school's YEAR_GROUP groups, or, while provisioning has stored none, the years its learners are
in. After a group action the list comes back with its filters (issue 16 point 5)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from directory.model import AccountState, GroupKind
from operational.audit import AuditFilter, events
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token

OLD = "Tiger4821"


def text(response) -> str:
    return response.get_data(as_text=True)


def store(portal):
    return portal.porth.runtime.store


def add(portal, new, now):
    return store(portal).add_account(new, now)


def as_staff(portal, now):
    add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")


def post(portal, path: str, data: dict):
    return portal.client.post(path, data={"csrf_token": csrf_token(text(portal.open("/portal/"))), **data})


def options(page: str, select_id: str) -> list[tuple[str, str]]:
    select = re.search(rf'<select class="govuk-select" id="{select_id}".*?</select>', page, re.DOTALL).group(0)
    return [(value, label.strip()) for value, label in re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)<', select)]


def school_with_two_years(portal, now):
    """Years 7 and 10 (10 sorts after 7 as a person counts), one year-7 leaver, another school's year 7."""
    year_7 = [add(portal, learner(name, "Dai", year_group="7", registration_group="7A", password=OLD), now)
              for name in ("Avery", "Bevan", "Cole")]
    year_10 = [add(portal, learner(name, "Dai", year_group="10", registration_group="10C", password=OLD), now)
               for name in ("Davies", "Evans")]
    left = add(portal, learner("Fychan", "Dai", year_group="7", password=OLD), now)
    store(portal).set_state(left.id, AccountState.DEACTIVATED, "test", "left", now)
    elsewhere = add(portal, learner("Owen", "Osian", school=OTHER_SCHOOL, year_group="7", password=OLD), now)
    return year_7, year_10, [left, elsewhere]


def test_without_year_groups_stored_the_years_its_learners_are_in_are_offered(portal, now):
    school_with_two_years(portal, now)
    as_staff(portal, now)
    expected = [("year:7", "Year 7"), ("year:10", "Year 10")]  # not every NC year: no Year 11 here
    assert [o for o in options(text(portal.open("/portal/users/learners/group-reset")), "group")
            if o[0].startswith("year:")] == expected
    assert [o for o in options(text(portal.open("/portal/users/learners/print-group")), "group")
            if o[0].startswith("year:")] == expected
    assert options(text(portal.open("/portal/users/learners")), "year") == [("7", "Year 7"), ("10", "Year 10")]


def test_stored_year_groups_are_offered_as_provisioning_named_them(portal, now):
    school_with_two_years(portal, now)
    store(portal).add_group(SCHOOL, GroupKind.YEAR_GROUP, "7")
    store(portal).add_group(SCHOOL, GroupKind.YEAR_GROUP, "11")  # stored: offered though nobody is in it yet
    as_staff(portal, now)
    assert [o for o in options(text(portal.open("/portal/users/learners/group-reset")), "group")
            if o[0].startswith("year:")] == [("year:7", "Year 7"), ("year:11", "Year 11")]


def test_years_read_in_welsh_whatever_english_name_provisioning_stored(portal, now):
    school_with_two_years(portal, now)
    store(portal).add_group(SCHOOL, GroupKind.YEAR_GROUP, "7", "Year 7")  # as provisioning names it (M-8)
    store(portal).add_group(SCHOOL, GroupKind.YEAR_GROUP, "R", "Reception")
    as_staff(portal, now)
    welsh = text(portal.open("/portal/users/learners/group-reset?lang=cy"))
    assert [o for o in options(welsh, "group") if o[0].startswith("year:")] == [("year:R", "Derbyn"),
                                                                                ("year:7", "Blwyddyn 7")]


def test_reset_by_year_resets_exactly_that_years_active_learners(portal, now):
    year_7, year_10, untouched = school_with_two_years(portal, now)
    as_staff(portal, now)
    question = post(portal, "/portal/users/learners/group-reset", {"group": "year:7"})
    assert "Reset the passwords of Year 7?" in text(question)
    assert re.findall(r"<li>[^<]*\((\w+)\)</li>", text(question)) == ["AveryD", "BevanD", "ColeD"]
    done = post(portal, "/portal/users/learners/group-reset", {"group": "year:7", "confirmed": "yes"})
    assert done.status_code == 303
    assert all(store(portal).reveal_password(a.id) not in (None, OLD) for a in year_7)
    assert all(store(portal).reveal_password(a.id) == OLD for a in [*year_10, *untouched])
    assert sorted(e.target_id for _id, e in events(portal.porth.runtime.db, AuditFilter(action="reset-password"))) \
        == sorted(a.id for a in year_7)


def test_print_by_year_prints_that_years_learners(portal, now):
    year_7, _year_10, _untouched = school_with_two_years(portal, now)
    as_staff(portal, now)
    slips = text(post(portal, "/portal/users/learners/print-group", {"group": "year:7", "passwords": "yes"}))
    assert "<title>Year 7" in slips
    assert sorted(re.findall(r'class="slip" data-username="(\w+)"', slips)) == sorted(a.username for a in year_7)
    assert slips.count(OLD) == 3


def test_a_group_reset_comes_back_to_the_list_with_its_filters(portal, now):
    school_with_two_years(portal, now)
    as_staff(portal, now)
    kept = {"q": ["Dai"], "reg": ["7A"], "consent": ["not-obtained"], "page": ["2"]}
    listed = text(portal.open("/portal/users/learners?q=Dai&reg=7A&consent=not-obtained&page=2"))
    links = {label: href.replace("&amp;", "&") for href, label in re.findall(
        r'<a class="govuk-link" href="([^"]+)">(Reset Passwords: Registration Group / Class / Year|'
        r'Print Registration Group / Class / Year)</a>', listed)}
    assert len(links) == 2
    reset_path = links["Reset Passwords: Registration Group / Class / Year"]
    assert parse_qs(urlsplit(reset_path).query) == {"school": [SCHOOL], **kept}
    choose = text(portal.open(reset_path))
    action = re.search(r'<form method="post" action="([^"]+)">', choose).group(1).replace("&amp;", "&")
    question = text(post(portal, action, {"group": "year:10"}))
    confirm_action = re.search(r'<form method="post" action="([^"]+)">', question).group(1).replace("&amp;", "&")
    cancel = re.search(r'<a class="govuk-link" href="([^"]+)">Cancel</a>', question).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(cancel).query) == {"school": [SCHOOL], **kept}
    done = post(portal, confirm_action, {"group": "year:10", "confirmed": "yes"})
    printing = done.headers["Location"]
    assert parse_qs(urlsplit(printing).query) == {"school": [SCHOOL], "group": ["year:10"], "passwords": ["yes"],
                                                  **kept}
    back = re.search(r'<a href="([^"]+)" class="govuk-back-link">', text(portal.open(printing))).group(1)
    assert parse_qs(urlsplit(back.replace("&amp;", "&")).query) == {"school": [SCHOOL], **kept}
