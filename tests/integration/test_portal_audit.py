"""The audit log page (issue 5 point 10; SPEC R-7, R-5): what administrators see, within their scope."""

from __future__ import annotations

import re

from directory.model import Role
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token


def text(response) -> str:
    return response.get_data(as_text=True)


def actions_listed(page: str) -> list[str]:
    return re.findall(r'<tr class="govuk-table__row" data-action="([^"]+)">', page)


def test_a_champion_sees_their_schools_actions_filtered_but_not_another_schools(portal, now):
    store = portal.porth.runtime.store
    ours = store.add_account(learner("Avery", "Ann", password="Tiger4821"), now)
    theirs = store.add_account(learner("Owen", "Osian", school=OTHER_SCHOOL, password="Tiger4821"), now)
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      now)
    store.add_account(staff("Prys", "Pat", code="DC2", password=PASSWORD, school=OTHER_SCHOOL,
                            roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    # The other school's champion reveals their learner's password first.
    portal.sign_in("PrysP@hwbcymru.net")
    token = csrf_token(text(portal.open("/portal/")))
    portal.client.post(f"/portal/accounts/{theirs.id}/password", data={"csrf_token": token},
                       headers={"Accept": "application/json"})
    portal.client.post("/portal/sign-out", data={"csrf_token": token})
    portal.sign_in("PriceN@hwbcymru.net")
    token = csrf_token(text(portal.open("/portal/")))
    portal.client.post(f"/portal/accounts/{ours.id}/password", data={"csrf_token": token},
                       headers={"Accept": "application/json"})
    portal.client.post(f"/portal/accounts/{ours.id}/deactivate", data={"csrf_token": token})
    page = text(portal.open("/portal/audit"))
    assert actions_listed(page) == ["deactivate", "show-password"]  # newest first, ours only
    assert "AveryA" in page and "OwenO" not in page and "PriceN" in page
    assert actions_listed(text(portal.open("/portal/audit?action=show-password"))) == ["show-password"]
    assert actions_listed(text(portal.open("/portal/audit?actor=PrysP"))) == []
    assert portal.client.get(f"/portal/audit?school={OTHER_SCHOOL}").status_code == 404
    assert actions_listed(text(portal.open(f"/portal/audit?school={SCHOOL}&from=2000-01-01&to=2000-01-02"))) == []


def test_staff_do_not_see_the_audit_log(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    assert portal.client.get("/portal/audit").status_code == 403
    assert portal.client.get(f"/portal/audit?school={SCHOOL}").status_code == 403
