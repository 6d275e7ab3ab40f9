"""A learner dual registered at two schools, in the portal (issue 13 point 1; SPEC R-2, R-3, R-5,
P-1, P-2): one account whose main school is Ysgol Brawf, on the roll of a pupil referral unit
too. The unit's digital champion finds the learner in its lists and groups and may get them
signed in (view, show and reset the password, print); what is the main school's (consent,
names, state) is refused with 403; a third school's champion is answered 404, as for any
account outside their scope. Each step through the Flask test client on a real slapd."""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass

import pytest

from directory.model import (
    Account,
    AccountState,
    Consent,
    GroupKind,
    PasswordStatus,
    Role,
    School,
    SchoolType,
    subsidiary_group,
)
from operational.audit import AuditFilter, events
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token
from webui.portal.access import SchoolRegister, portal_user
from webui.portal.permissions import AT_SUBSIDIARY_SCHOOL, Action, Decision, account_target, decide

MAIN = SCHOOL  # Ysgol Brawf: the learner's main school
UNIT = "6614000"  # the pupil referral unit where the learner is dual registered
UNIT_NAME = "Canolfan Addysg y Bont"
THIRD = OTHER_SCHOOL  # Ysgol Arall: nothing to do with the learner
LEARNER_PASSWORD = "Tiger4821"


@dataclass(frozen=True)
class DualRegistration:
    dual: Account  # main school MAIN (reg 7A, class 7M1), dual registered at UNIT (PRU1, Maths)
    unit_own: Account  # the unit's own learner, in its PRU1
    same_code_at_main: Account  # a main-school learner whose registration group is also called PRU1


def text(response) -> str:
    return response.get_data(as_text=True)


def usernames_listed(page: str) -> list[str]:
    return re.findall(r'<tr class="govuk-table__row" data-username="([^"]+)"', page)


def row_of(page: str, username: str) -> str:
    return page.split(f'data-username="{username}"', 1)[1].split("</tr>", 1)[0]


def directory(portal):
    return portal.porth.runtime.store


@pytest.fixture
def school_of_two(portal, now) -> DualRegistration:
    """The unit, its groups, three champions (main school, unit, third school) and the learners."""
    store = directory(portal)
    store.add_school(School(UNIT, UNIT_NAME, SchoolType.SPECIAL, "661"))
    store.add_group(MAIN, GroupKind.REGISTRATION_GROUP, "7A")
    store.add_group(UNIT, GroupKind.REGISTRATION_GROUP, "PRU1")
    store.add_group(UNIT, GroupKind.CLASS, "Maths")
    champion = frozenset({Role.DIGITAL_CHAMPION})
    store.add_account(staff("Morgan", "Mair", code="M1", school=MAIN, password=PASSWORD, roles=champion), now)
    store.add_account(staff("Bowen", "Bryn", code="B1", school=UNIT, password=PASSWORD, roles=champion), now)
    store.add_account(staff("Clwyd", "Cai", code="C1", school=THIRD, password=PASSWORD, roles=champion), now)
    # Created in the store directly: provisioning of dual registration is built alongside (issue 13).
    made = store.add_account(learner("Dafis", "Dewi", school=MAIN, year_group="7", registration_group="7A",
                                     classes=("7M1",), admission_number="A100", password=LEARNER_PASSWORD), now)
    store.update_account(made.id, {
        "subsidiary_schools": (UNIT,),
        "subsidiary_groups": (subsidiary_group(UNIT, GroupKind.REGISTRATION_GROUP, "PRU1"),
                              subsidiary_group(UNIT, GroupKind.CLASS, "Maths"))})
    unit_own = store.add_account(learner("Evans", "Elin", school=UNIT, year_group="8", registration_group="PRU1"), now)
    same_code = store.add_account(learner("Ffion", "Fflur", school=MAIN, registration_group="PRU1"), now)
    return DualRegistration(store.get_account(made.id), unit_own, same_code)


def sign_in_as(portal, username: str) -> None:
    """Sign out whoever is signed in, then in as `username`."""
    home = portal.client.get("/portal/")
    if home.status_code == 200:
        portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(home))})
    portal.sign_in(f"{username}@hwbcymru.net")


def post(portal, path: str, data: dict | None = None, **headers):
    token = csrf_token(text(portal.open("/portal/")))
    return portal.client.post(path, data={"csrf_token": token, **(data or {})}, headers=headers)


def audited(portal, action: str):
    return [entry for _id, entry in events(portal.porth.runtime.db, AuditFilter(action=action))]


# -- listing ----------------------------------------------------------------------------------------
def test_the_unit_lists_the_learner_and_filters_by_its_own_groups(portal, school_of_two):
    dual = school_of_two.dual
    sign_in_as(portal, "BowenB")
    everyone = text(portal.open("/portal/users/learners"))
    assert usernames_listed(everyone) == [dual.username, school_of_two.unit_own.username]
    assert "2 accounts" in everyone
    row = row_of(everyone, dual.username)
    assert "Dual registered — main school: Ysgol Brawf (6612345)" in row
    assert ">PRU1<" in row and ">7A<" not in row  # the group at the unit, not the main school's
    # The unit's PRU1 is its own: a main-school group with the same code is not in it.
    in_pru1 = usernames_listed(text(portal.open("/portal/users/learners?reg=PRU1")))
    assert in_pru1 == [dual.username, school_of_two.unit_own.username]
    assert usernames_listed(text(portal.open("/portal/users/learners?class=Maths"))) == [dual.username]
    assert usernames_listed(text(portal.open("/portal/users/learners?reg=7A"))) == []
    assert usernames_listed(text(portal.open("/portal/users/learners?class=7M1"))) == []
    assert usernames_listed(text(portal.open("/portal/users/learners?q=dafis"))) == [dual.username]
    # A typed filter value stays a value (escaped), even with the colons a subsidiary group holds.
    assert usernames_listed(text(portal.open("/portal/users/learners?reg=%2A"))) == []
    assert usernames_listed(text(portal.open(f"/portal/users/learners?reg={UNIT}:registration-group:PRU1"))) == []


def test_the_main_school_lists_the_learner_in_its_own_groups_and_says_where_else(portal, school_of_two):
    dual = school_of_two.dual
    sign_in_as(portal, "MorganM")
    everyone = text(portal.open("/portal/users/learners"))
    assert set(usernames_listed(everyone)) == {dual.username, school_of_two.same_code_at_main.username}
    row = row_of(everyone, dual.username)
    assert f"Also registered at {UNIT_NAME} ({UNIT})" in row and ">7A<" in row
    assert usernames_listed(text(portal.open("/portal/users/learners?reg=PRU1"))) == [
        school_of_two.same_code_at_main.username]  # the unit's PRU1 membership is not the main school's
    assert usernames_listed(text(portal.open("/portal/users/learners?reg=7A"))) == [dual.username]
    details = text(portal.open(f"/portal/accounts/{dual.id}"))
    assert f"Also registered at {UNIT_NAME} ({UNIT})" in details
    assert '<dd class="govuk-summary-list__value" id="registration-group">7A</dd>' in details
    assert "Deactivate" in details and "Confirm Consent" in details  # the main school manages the account
    assert portal.client.get(f"/portal/accounts/{dual.id}/deactivate").status_code == 200


def test_the_third_school_lists_nobody_and_is_answered_not_found(portal, school_of_two):
    dual = school_of_two.dual
    sign_in_as(portal, "ClwydC")
    assert usernames_listed(text(portal.open("/portal/users/learners"))) == []
    for path in (f"/portal/accounts/{dual.id}", f"/portal/accounts/{dual.id}/password/reset",
                 f"/portal/accounts/{dual.id}/deactivate", f"/portal/accounts/{dual.id}/consent/confirm",
                 f"/portal/users/learners?school={UNIT}"):
        assert portal.client.get(path).status_code == 404, path
    assert post(portal, f"/portal/accounts/{dual.id}/password", Accept="application/json").status_code == 404
    assert post(portal, f"/portal/accounts/{dual.id}/print", {"passwords": "yes"}).status_code == 404
    assert audited(portal, "show-password") == []


# -- what the unit may do ---------------------------------------------------------------------------
def test_the_unit_reveals_and_resets_the_password_and_prints_its_own_slip(portal, school_of_two):
    dual = school_of_two.dual
    sign_in_as(portal, "BowenB")
    details = text(portal.open(f"/portal/accounts/{dual.id}?school={UNIT}"))
    assert "Dual registered — main school: Ysgol Brawf (6612345)" in details
    assert f"Learner · {UNIT_NAME}</span>" in details  # the learner as the unit sees them
    assert '<dd class="govuk-summary-list__value" id="registration-group">PRU1</dd>' in details
    assert '<dd class="govuk-summary-list__value" id="classes">Maths</dd>' in details
    assert "The main school manages this account" in details
    assert "Reset Password" in details and "Print With Password" in details
    for not_offered in ("Deactivate", "Confirm Consent", ">Edit<"):
        assert not_offered not in details, not_offered

    shown = post(portal, f"/portal/accounts/{dual.id}/password", Accept="application/json")
    assert shown.status_code == 200 and shown.get_json()["password"] == LEARNER_PASSWORD
    assert [e.actor for e in audited(portal, "show-password")] == ["BowenB"]

    reset = post(portal, f"/portal/accounts/{dual.id}/password/reset", {"password": "Dragon2024x"})
    assert reset.status_code == 303
    assert directory(portal).reveal_password(dual.id) == "Dragon2024x"
    # Audited at the unit, where it was done (its champion's audit log shows it), naming the main school.
    assert [(e.actor, e.target_id, e.school, e.detail) for e in audited(portal, "reset-password")] == [
        ("BowenB", dual.id, UNIT, {"main_school": MAIN})]

    slip = text(post(portal, f"/portal/accounts/{dual.id}/print", {"passwords": "yes", "school": UNIT}))
    assert f"{UNIT_NAME} · PRU1" in slip and "Dragon2024x" in slip


def test_the_unit_cannot_change_what_the_main_school_owns(portal, school_of_two):
    dual = school_of_two.dual
    sign_in_as(portal, "BowenB")
    for change in ("deactivate", "edit", "consent/confirm", "consent/withdraw"):
        path = f"/portal/accounts/{dual.id}/{change}"
        assert portal.client.get(path).status_code == 403, path
        assert post(portal, path, {"forename": "X", "surname": "Y"}).status_code == 403, path
    after = directory(portal).get_account(dual.id)
    assert after.state is AccountState.ACTIVE and after.consent is None and after.forename == "Dewi"
    assert audited(portal, "deactivate") == [] and audited(portal, "confirm-consent") == []


def test_confirming_the_units_consent_leaves_the_dual_registered_learner_to_the_main_school(portal, school_of_two):
    dual, own = school_of_two.dual, school_of_two.unit_own
    sign_in_as(portal, "BowenB")
    chosen = {"action": "confirm-consent", "school": UNIT, "account": [dual.id, own.id]}
    confirm = text(post(portal, "/portal/users/learners/selected", chosen))
    assert "1 learner is dual registered here: their main school records their consent" in confirm
    assert own.username in confirm and dual.username not in confirm
    assert post(portal, "/portal/users/learners/selected", {**chosen, "confirmed": "yes"}).status_code == 303
    assert directory(portal).get_account(own.id).consent is Consent.EXPLICIT
    assert directory(portal).get_account(dual.id).consent is None
    # Resetting a selection is the unit's to do, the dual-registered learner included.
    done = post(portal, "/portal/users/learners/selected",
                {"action": "reset-passwords", "school": UNIT, "account": [dual.id, own.id], "confirmed": "yes"})
    assert done.status_code == 303
    assert directory(portal).get_account(dual.id).password_status is PasswordStatus.AVAILABLE
    assert directory(portal).reveal_password(dual.id) != LEARNER_PASSWORD


def test_the_units_group_print_and_pupils_csv_carry_the_learner_as_the_unit_knows_them(portal, school_of_two):
    dual = school_of_two.dual
    sign_in_as(portal, "BowenB")
    slips = text(post(portal, "/portal/users/learners/print-group", {"group": "reg:PRU1", "passwords": "yes"}))
    assert re.findall(r'<section class="slip" data-username="([^"]+)"', slips) == [
        dual.username, school_of_two.unit_own.username]
    assert LEARNER_PASSWORD in slips and f"{UNIT_NAME} · PRU1" in slips and "Ysgol Brawf" not in slips
    rows = list(csv.reader(io.StringIO(text(post(portal, "/portal/download/pupils")).lstrip("\ufeff"))))
    dafis = next(r for r in rows[1:] if r[1] == "Dafis")
    assert dafis[3] == LEARNER_PASSWORD and dafis[5:] == ["7", "PRU1", "Consent not obtained", ""]
    assert len(rows) == 3  # the unit's two learners


def test_the_details_say_so_in_welsh(portal, school_of_two):
    dual = school_of_two.dual
    sign_in_as(portal, "BowenB")
    welsh = html.unescape(text(portal.open(f"/portal/accounts/{dual.id}?lang=cy")))
    assert "Cofrestriad deuol — prif ysgol: Ysgol Brawf (6612345)" in welsh
    assert "Y brif ysgol sy'n rheoli'r cyfrif hwn" in welsh
    listed = text(portal.open("/portal/users/learners"))  # the language is remembered
    assert "Cofrestriad deuol — prif ysgol: Ysgol Brawf (6612345)" in row_of(listed, dual.username)
    sign_in_as(portal, "MorganM")
    assert f"Hefyd ar gofrestr {UNIT_NAME} ({UNIT})" in text(portal.open(f"/portal/accounts/{dual.id}?lang=cy"))


def test_the_schools_page_counts_the_learner_at_both_schools_and_once_in_the_authority(portal, school_of_two):
    page = text(portal.open("/"))

    def learners_at(dfes: str) -> str:
        row = page.split(f'data-dfes="{dfes}"', 1)[1].split("</tr>", 1)[0]
        return re.search(r'data-kind="learners">(\d+)<', row).group(1)

    assert (learners_at(MAIN), learners_at(UNIT), learners_at(THIRD)) == ("2", "2", "0")
    totals = page.split("All schools of", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"<strong>(\d+)</strong>", totals)[0] == "3"  # three learners, one of them at two schools


def test_the_permission_table_for_a_learner_on_two_rolls(portal, school_of_two):
    """R-5 with dual registration, for every action: the unit may do AT_SUBSIDIARY_SCHOOL (403
    for the rest), the main school all a champion may, the third school nothing (404)."""
    store = directory(portal)
    register = SchoolRegister(store)
    actor = {username: portal_user(store.find_by_username(username), register).actor
             for username in ("MorganM", "BowenB", "ClwydC")}
    target = account_target(school_of_two.dual)
    own_learner = account_target(school_of_two.unit_own)
    for action in Action:
        at_unit = decide(actor["BowenB"], action, target)
        for_own = decide(actor["BowenB"], action, own_learner)
        if action in AT_SUBSIDIARY_SCHOOL:
            assert at_unit is for_own is Decision.ALLOWED, action
        else:
            assert at_unit is Decision.FORBIDDEN, action
        assert decide(actor["ClwydC"], action, target) is Decision.NOT_FOUND, action
        assert decide(actor["MorganM"], action, target) is for_own, action  # the main school: as its own
