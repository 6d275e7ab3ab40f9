"""View Users, View Details and Show password (issue 5 point 4; SPEC A-4, R-2, R-3, R-5, R-7)."""

from __future__ import annotations

import re

from directory.model import AccountKind, AccountState, Consent, GroupKind, NewAccount, PasswordStatus, Role
from operational.audit import AuditFilter, events
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)


def text(response) -> str:
    return response.get_data(as_text=True)


def usernames_listed(page: str) -> list[str]:
    return re.findall(r'<tr class="govuk-table__row" data-username="([^"]+)"', page)


def add(portal, new: NewAccount, now):
    return portal.porth.runtime.store.add_account(new, now)


def signed_in_staff(portal, now, **fields):
    add(portal, staff(password=PASSWORD, **fields), now)
    portal.sign_in("JonesA@hwbcymru.net")


def surname(n: int) -> str:
    return "Surname" + "abcdefghijklmnopqrstuvwxyz"[n]  # usernames keep letters only


def username(n: int) -> str:
    return surname(n) + "D"


def class_of_learners(portal, now, count: int = 25):
    store = portal.porth.runtime.store
    for kind, code in ((GroupKind.YEAR_GROUP, "7"), (GroupKind.YEAR_GROUP, "8"),
                       (GroupKind.REGISTRATION_GROUP, "7A"), (GroupKind.REGISTRATION_GROUP, "8B")):
        store.add_group(SCHOOL, kind, code)
    made = []
    for n in range(count):
        year, reg = ("7", "7A") if n % 2 == 0 else ("8", "8B")
        made.append(add(portal, learner(surname(n), "Dai", year_group=year, registration_group=reg,
                                        password="Tiger4821" if n % 3 == 0 else None,
                                        consent=Consent.EXPLICIT if n % 5 == 0 else None), now))
    return made


def test_staff_list_their_schools_learners_a_page_at_a_time(portal, now):
    class_of_learners(portal, now)
    signed_in_staff(portal, now)
    first = text(portal.open("/portal/users/learners"))
    assert "25 accounts" in first and "Page 1 of 3" in first
    assert usernames_listed(first) == [username(n) for n in range(10)]  # in surname order
    third = text(portal.open("/portal/users/learners?page=3"))
    assert usernames_listed(third) == [username(n) for n in range(20, 25)]


def test_search_and_filters_narrow_the_list(portal, now):
    class_of_learners(portal, now)
    signed_in_staff(portal, now)
    assert usernames_listed(text(portal.open("/portal/users/learners?q=surnameh"))) == [username(7)]
    assert usernames_listed(text(portal.open(f"/portal/users/learners?q={username(7)}@hwbcymru.net"))) == [username(7)]
    in_7a = text(portal.open("/portal/users/learners?reg=7A"))
    assert "13 accounts" in in_7a and usernames_listed(in_7a) == [username(n) for n in range(0, 20, 2)]
    year_8 = text(portal.open("/portal/users/learners?year=8"))
    assert "12 accounts" in year_8
    explicit = usernames_listed(text(portal.open("/portal/users/learners?consent=explicit")))
    assert explicit == [username(n) for n in (0, 5, 10, 15, 20)]
    assert "20 accounts" in text(portal.open("/portal/users/learners?consent=not-obtained"))
    assert "0 accounts" in text(portal.open("/portal/users/learners?q=%2A)(uid%3D%2A"))  # escaped, finds nothing


def test_deactivated_accounts_are_listed_only_when_asked_for(portal, now):
    learners = class_of_learners(portal, now, count=3)
    portal.porth.runtime.store.set_state(learners[0].id, AccountState.DEACTIVATED, "test", "left", now)
    signed_in_staff(portal, now)
    assert usernames_listed(text(portal.open("/portal/users/learners"))) == [username(1), username(2)]
    assert usernames_listed(text(portal.open("/portal/users/learners?status=deactivated"))) == [username(0)]
    assert len(usernames_listed(text(portal.open("/portal/users/learners?status=all")))) == 3


def test_the_password_column_shows_each_a4_status(portal, now):
    store = portal.porth.runtime.store
    shown = add(portal, learner("Avery", "Ann", password="Tiger4821"), now)
    changed = add(portal, learner("Brown", "Ben", password="Tiger4821"), now)
    store.set_password(changed.id, "MyOwn4Password", set_by_user=True)
    add(portal, learner("Cole", "Cai"), now)
    signed_in_staff(portal, now)
    page = text(portal.open("/portal/users/learners"))
    rows = dict(re.findall(r'data-username="([^"]+)">(.*?)</tr>', page, re.DOTALL))
    assert "Show password" in rows["AveryA"]
    assert "User changed password" in rows["BrownB"]
    assert re.search(r">-</span>", rows["ColeC"]) and "Show password" not in rows["ColeC"]
    assert shown.password_status is PasswordStatus.AVAILABLE


def test_show_password_reveals_the_copy_and_audits_it(portal, now):
    account = add(portal, learner("Avery", "Ann", password="Tiger4821"), now)
    signed_in_staff(portal, now)
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(portal.open("/portal/users/learners"))).group(1)
    answer = portal.client.post(f"/portal/accounts/{account.id}/password", headers={
        "Accept": "application/json", "X-CSRFToken": token})
    assert answer.status_code == 200 and answer.get_json() == {"password": "Tiger4821", "status": "available"}
    assert answer.headers["Cache-Control"] == "no-store"
    without_script = portal.client.post(f"/portal/accounts/{account.id}/password", data={"csrf_token": token})
    assert "<code>Tiger4821</code>" in text(without_script)
    logged = events(portal.porth.runtime.db, AuditFilter(action="show-password"))
    assert len(logged) == 2
    _, entry = logged[0]
    assert (entry.actor, entry.target_id, entry.target_label, entry.school) == (
        "JonesA", account.id, "AveryA", SCHOOL)
    assert entry.source_address and "Tiger4821" not in str(entry)


def test_show_password_needs_the_csrf_token_and_an_available_copy(portal, now):
    store = portal.porth.runtime.store
    changed = add(portal, learner("Brown", "Ben", password="Tiger4821"), now)
    store.set_password(changed.id, "MyOwn4Password", set_by_user=True)
    signed_in_staff(portal, now)
    assert portal.client.post(f"/portal/accounts/{changed.id}/password").status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(portal.open("/portal/users/learners"))).group(1)
    refused = portal.client.post(f"/portal/accounts/{changed.id}/password",
                                 headers={"Accept": "application/json", "X-CSRFToken": token})
    assert refused.status_code == 409 and refused.get_json()["password"] is None


def test_staff_reach_learners_only_and_only_in_their_school(portal, now):
    """R-2 and R-5: staff lists and details are refused (403); another school's are not found (404)."""
    colleague = add(portal, staff("Hughes", "Bet", code="S002", password=PASSWORD), now)
    elsewhere = add(portal, learner("Owen", "Osian", school=OTHER_SCHOOL, password="Tiger4821"), now)
    ours = add(portal, learner("Avery", "Ann"), now)
    signed_in_staff(portal, now)
    assert portal.client.get("/portal/users/staff").status_code == 403
    assert portal.client.get("/portal/users/governors").status_code == 403
    assert portal.client.get(f"/portal/accounts/{colleague.id}").status_code == 403
    assert portal.client.get(f"/portal/users/learners?school={OTHER_SCHOOL}").status_code == 404
    assert portal.client.get(f"/portal/accounts/{elsewhere.id}").status_code == 404
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(portal.open("/portal/users/learners"))).group(1)
    assert portal.client.post(f"/portal/accounts/{elsewhere.id}/password", data={"csrf_token": token},
                              headers={"Accept": "application/json"}).status_code == 404
    assert portal.client.get("/portal/accounts/no-such-account").status_code == 404
    details = text(portal.open(f"/portal/accounts/{ours.id}"))
    assert "AveryA@hwbcymru.net" in details and "Consent not obtained" in details
    assert portal.client.get("/portal/users/nonsense").status_code == 404


def test_a_digital_champion_lists_every_kind_of_account_at_their_school(portal, now):
    """R-3: learners, staff, governors and non-MIS accounts."""
    add(portal, staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    add(portal, NewAccount(kind=AccountKind.GOVERNOR, surname="Ifan", forename="Gwen", created_by="test",
                           school=SCHOOL), now)
    add(portal, NewAccount(kind=AccountKind.SCHOOL_NONMIS, surname="Supply", forename="Sam", created_by="test",
                           school=SCHOOL), now)
    portal.sign_in("PriceN@hwbcymru.net")
    assert usernames_listed(text(portal.open("/portal/users/staff"))) == ["PriceN"]
    assert usernames_listed(text(portal.open("/portal/users/governors"))) == ["IfanG"]
    assert usernames_listed(text(portal.open("/portal/users/non-mis"))) == ["SupplyS"]
    menu = text(portal.open("/portal/"))
    assert "View Users" in menu
