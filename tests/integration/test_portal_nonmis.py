"""Creating non-MIS accounts and extending their expiry (issue 5 point 6; SPEC A-1, L-1, L-2, R-3, R-4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from directory.model import AccountKind, NewAccount, Organisation, OrganisationKind, Role
from directory.rules.lifecycle import add_months, end_of_academic_year
from operational.audit import AuditFilter, events
from tests.integration.conftest import SCHOOL, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token


def text(response) -> str:
    return response.get_data(as_text=True)


def store(portal):
    return portal.porth.runtime.store


def post(portal, path: str, data: dict, page: str):
    return portal.client.post(path, data={"csrf_token": csrf_token(text(portal.open(page))), **data})


def as_champion(portal, now):
    store(portal).add_account(staff("Price", "Non", code="DC1", password=PASSWORD,
                                    roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")


def test_a_governor_is_created_after_the_mis_warning_and_can_sign_in_at_once(portal, now):
    as_champion(portal, now)
    warning = text(portal.open(f"/portal/users/governors/new?school={SCHOOL}"))
    assert "Staff and learner accounts will be automatically created based on the information in your" in warning
    assert "I understand" in warning and "Take me back" in warning
    form = f"/portal/users/governors/new?school={SCHOOL}&understood=yes"
    made = post(portal, form, {"forename": "Gwen", "surname": "Ifan", "password": "Daffodil2024",
                               "expiry": "3-months", "add": "yes"}, page=form)
    assert made.status_code == 303
    governor = store(portal).find_by_username("IfanG")
    assert governor.kind is AccountKind.GOVERNOR and governor.school == SCHOOL
    today = datetime.now(UTC).date()
    assert governor.expiry.date() == add_months(today, 3)
    assert governor.created_at is not None
    sign_in = portal.porth.app.extensions["porth.idp"].directory
    assert sign_in.authenticate("IfanG@hwbcymru.net", "Daffodil2024").id == governor.id  # no hourly wait
    assert "IfanG@hwbcymru.net has been created" in text(portal.open(made.headers["Location"]))
    [entry] = [e for _i, e in events(portal.porth.runtime.db, AuditFilter(action="create-account"))]
    assert entry.target_id == governor.id and entry.actor == "PriceN"


def test_the_form_says_what_is_wrong_and_creates_nothing(portal, now):
    as_champion(portal, now)
    form = f"/portal/users/non-mis/new?school={SCHOOL}&understood=yes"
    refused = post(portal, form, {"forename": "", "surname": "Supply", "password": "weak", "add": "yes"}, page=form)
    assert refused.status_code == 400
    body = text(refused)
    for anchor in ("#forename", "#password", "#expiry"):
        assert f'href="{anchor}"' in body
    assert store(portal).find_by_username("SupplyS") is None


def test_generate_password_fills_the_field_without_creating(portal, now):
    as_champion(portal, now)
    form = f"/portal/users/non-mis/new?school={SCHOOL}&understood=yes"
    page = text(post(portal, form, {"forename": "Sam", "surname": "Supply", "generate": "password"}, page=form))
    generated = re.search(r'id="password" name="password" type="text" value="([^"]+)"', page).group(1)
    assert len(generated) >= 10 and store(portal).find_by_username("SupplyS") is None
    post(portal, form, {"forename": "Sam", "surname": "Supply", "password": generated,
                        "expiry": "end-of-academic-year", "add": "yes"}, page=form)
    account = store(portal).find_by_username("SupplyS")
    assert account.kind is AccountKind.SCHOOL_NONMIS
    assert account.expiry.date() == end_of_academic_year(datetime.now(UTC).date())
    assert store(portal).reveal_password(account.id) == generated


def test_staff_cannot_create_governors(portal, now):
    store(portal).add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    assert portal.client.get(f"/portal/users/governors/new?school={SCHOOL}").status_code == 403


def test_an_la_administrator_creates_la_users_with_their_contact_details(portal, now):
    """R-4: Manage Local Authority Non-MIS Users > Add New User, with the optional fields."""
    store(portal).add_organisation(Organisation("661", "Cardiff", OrganisationKind.LOCAL_AUTHORITY))
    store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw",
                                         created_by="test", organisation="661", password=PASSWORD,
                                         roles=frozenset({Role.LA_ADMINISTRATOR})), now)
    portal.sign_in("EvansH@hwbcymru.net")
    listing = text(portal.open("/portal/organisation-users"))
    assert "Manage Local Authority Non-MIS Users" in listing and "EvansH" in listing
    form = "/portal/organisation-users/new?org=661"
    bad = post(portal, form, {"forename": "Cari", "surname": "Lloyd", "password": "Harbour2024", "expiry": "6-months",
                              "work_email": "not-an-address", "add": "yes"}, page=form)
    assert bad.status_code == 400 and 'href="#work_email"' in text(bad)
    # Issue 15 point 4: the contact details are stored, shown and printed like names, so the characters XML
    # cannot carry are refused here too, naming the field (found by an attacker-style run: they were stored).
    for organisation, job_title, refused, message in (
            ("Cardiff\x01Council", "Digital lead", "organisation_name",
             "The organisation must not contain control characters"),
            ("Cardiff Council", "Digital\ufffelead", "job_title",
             "The job title contains code points that are not characters, such as U+FFFE: type it again")):
        bad = post(portal, form, {"forename": "Cari", "surname": "Lloyd", "password": "Harbour2024",
                                  "expiry": "6-months", "organisation_name": organisation, "job_title": job_title,
                                  "add": "yes"}, page=form)
        assert bad.status_code == 400 and f'href="#{refused}"' in text(bad) and message in text(bad)
    assert store(portal).find_by_username("LloydC") is None
    post(portal, form, {"forename": "Cari", "surname": "Lloyd", "password": "Harbour2024", "expiry": "6-months",
                        "organisation_name": "Cardiff Council Education", "job_title": "Digital lead",
                        "work_email": "cari.lloyd@cardiff.gov.uk", "phone": "029 2087 2000", "add": "yes"}, page=form)
    made = store(portal).find_by_username("LloydC")
    assert made.kind is AccountKind.LA_NONMIS and made.organisation == "661"
    assert (made.contact.organisation_name, made.contact.job_title, made.contact.work_email, made.contact.phone) == (
        "Cardiff Council Education", "Digital lead", "cari.lloyd@cardiff.gov.uk", "029 2087 2000")
    assert "LloydC" in text(portal.open("/portal/organisation-users?org=661"))
    assert portal.client.get("/portal/organisation-users?org=662").status_code == 404
    # The fields help identify the user once the account exists (the seed guide): View Details shows them,
    # with the way back to the organisation's list.
    details = text(portal.open(f"/portal/accounts/{made.id}"))
    shown = re.findall(r'porth-contact"><dt class="govuk-summary-list__key">([^<]+)</dt>'
                       r'<dd class="govuk-summary-list__value">([^<]+)<', details)
    assert shown == [("Organisation", "Cardiff Council Education"), ("Job title", "Digital lead"),
                     ("Work email", "cari.lloyd@cardiff.gov.uk"), ("Contact number", "029 2087 2000")]
    assert 'href="/portal/organisation-users?org=661" class="govuk-back-link"' in details


def test_expiring_accounts_are_listed_and_extended(portal, now):
    """L-2: the next 8 weeks; extended from their current expiry."""
    today = datetime.now(UTC).date()
    soon = store(portal).add_account(NewAccount(
        kind=AccountKind.GOVERNOR, surname="Ifan", forename="Gwen", created_by="test", school=SCHOOL,
        expiry=datetime.combine(today + timedelta(days=20), datetime.min.time(), tzinfo=UTC)), now)
    store(portal).add_account(NewAccount(
        kind=AccountKind.GOVERNOR, surname="Rees", forename="Rhys", created_by="test", school=SCHOOL,
        expiry=datetime.combine(today + timedelta(days=200), datetime.min.time(), tzinfo=UTC)), now)
    as_champion(portal, now)
    assert "Manage Expiring Accounts" in text(portal.open("/portal/"))
    page = f"/portal/expiring?school={SCHOOL}"
    listed = text(portal.open(page))
    assert 'data-username="IfanG"' in listed and 'data-username="ReesR"' not in listed
    nothing = post(portal, page, {"extend_by": "1-month"}, page=page)
    assert nothing.status_code == 400
    post(portal, page, {"account": soon.id, "extend_by": "3-months"}, page=page)
    assert store(portal).get_account(soon.id).expiry.date() == add_months(today + timedelta(days=20), 3)
    assert 'data-username="IfanG"' not in text(portal.open(page))
