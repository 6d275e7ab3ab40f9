"""Manage M365 Licences (issue 5 point 9; SPEC G-2): used / quota, allocate and revoke, queued for Graph."""

from __future__ import annotations

import re

from directory.model import Role, School, SchoolType
from operational import licence_requests
from tests.integration.conftest import staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token

QUOTA_SCHOOL = "6615555"


def text(response) -> str:
    return response.get_data(as_text=True)


def setup_school(portal, now, quota: int | None = 2):
    store = portal.porth.runtime.store
    store.add_school(School(QUOTA_SCHOOL, "Ysgol Drwyddedau", SchoolType.SECONDARY, "661", staff_licence_quota=quota))
    made = [store.add_account(staff(name, "Ann", code=f"L{n}", school=QUOTA_SCHOOL), now)
            for n, name in enumerate(("Avery", "Bevan", "Cole"))]
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, school=QUOTA_SCHOOL,
                            roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")
    return made


def change(portal, change: str, accounts):
    page = text(portal.open("/portal/licences"))
    return portal.client.post("/portal/licences", data={"csrf_token": csrf_token(page), "change": change,
                                                        "account": [a.id for a in accounts]})


def used_and_quota(page: str) -> tuple[str, str]:
    return re.search(r'data-used="(\d+)"', page).group(1), re.search(r'data-quota="(\d*)"', page).group(1)


def test_allocations_are_queued_and_shown_pending_against_the_quota(portal, now):
    avery, bevan, _cole = setup_school(portal, now)
    assert used_and_quota(text(portal.open("/portal/licences"))) == ("0", "2")
    assert change(portal, "allocate", [avery, bevan]).status_code == 303
    page = text(portal.open("/portal/licences"))
    assert used_and_quota(page) == ("2", "2")
    row = re.search(r'data-username="AveryA">(.*?)</tr>', page, re.DOTALL).group(1)
    assert 'data-licence="allocated"' in row and 'data-state="pending"' in row
    states = licence_requests.latest(portal.porth.runtime.db, QUOTA_SCHOOL)
    assert {a for a, s in states.items() if s.wanted} == {avery.id, bevan.id}


def test_allocation_beyond_the_quota_is_refused_whole(portal, now):
    avery, bevan, cole = setup_school(portal, now)
    refused = change(portal, "allocate", [avery, bevan, cole])
    assert refused.status_code == 400 and "beyond its quota of 2 licences" in text(refused)
    assert licence_requests.latest(portal.porth.runtime.db, QUOTA_SCHOOL) == {}


def test_a_revoked_licence_returns_to_the_pool(portal, now):
    avery, bevan, cole = setup_school(portal, now)
    change(portal, "allocate", [avery, bevan])
    change(portal, "revoke", [avery])
    assert change(portal, "allocate", [cole]).status_code == 303
    assert used_and_quota(text(portal.open("/portal/licences"))) == ("2", "2")


def test_no_quota_recorded_means_nothing_can_be_allocated(portal, now):
    avery, *_ = setup_school(portal, now, quota=None)
    assert change(portal, "allocate", [avery]).status_code == 400
    assert "No staff licence quota is recorded" in text(portal.open("/portal/licences"))


def test_staff_cannot_manage_licences(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    assert portal.client.get("/portal/licences").status_code == 403
