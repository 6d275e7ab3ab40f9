"""Digital champions and Hwb administrators promoted and demoted (issue 5 point 8; SPEC R-3, R-4, R-5)."""

from __future__ import annotations

from directory.model import AccountKind, NewAccount, Organisation, OrganisationKind, Role
from operational.audit import AuditFilter, events
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token


def text(response) -> str:
    return response.get_data(as_text=True)


def store(portal):
    return portal.porth.runtime.store


def post(portal, path: str, page: str = "/portal/"):
    return portal.client.post(path, data={"csrf_token": csrf_token(text(portal.open(page)))})


def test_a_champion_promotes_a_colleague_after_confirming_and_cannot_demote_themselves(portal, now):
    me = store(portal).add_account(staff("Price", "Non", code="DC1", password=PASSWORD,
                                         roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    colleague = store(portal).add_account(staff("Hughes", "Bet", code="S2"), now)
    portal.sign_in("PriceN@hwbcymru.net")
    page = text(portal.open("/portal/champions"))
    holders, others = page.split('id="others"')
    assert 'data-username="PriceN"' in holders and 'data-username="HughesB"' in others
    question = text(portal.open(f"/portal/champions/{colleague.id}/promote"))
    assert "Are you sure you want to promote HughesB@hwbcymru.net to Digital Champion?" in question
    assert Role.DIGITAL_CHAMPION not in store(portal).get_account(colleague.id).roles
    post(portal, f"/portal/champions/{colleague.id}/promote")
    assert Role.DIGITAL_CHAMPION in store(portal).get_account(colleague.id).roles
    assert portal.client.get(f"/portal/champions/{me.id}/demote").status_code == 403
    assert post(portal, f"/portal/champions/{me.id}/demote").status_code == 403
    assert Role.DIGITAL_CHAMPION in store(portal).get_account(me.id).roles
    question = text(portal.open(f"/portal/champions/{colleague.id}/demote"))
    assert "Are you sure you want to remove Digital Champion permissions from HughesB@hwbcymru.net?" in question
    post(portal, f"/portal/champions/{colleague.id}/demote")
    assert Role.DIGITAL_CHAMPION not in store(portal).get_account(colleague.id).roles
    logged = [e.action for _i, e in events(portal.porth.runtime.db, AuditFilter())]
    assert "promote" in logged and "demote" in logged


def test_a_demoted_champion_loses_the_pages_at_their_next_request(portal, now):
    me = store(portal).add_account(staff("Price", "Non", code="DC1", password=PASSWORD,
                                         roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")
    assert portal.client.get("/portal/users/staff").status_code == 200
    store(portal).update_account(me.id, {"roles": frozenset()})  # demoted by a colleague elsewhere
    assert portal.client.get("/portal/users/staff").status_code == 403


def test_champions_act_only_in_their_school_and_only_on_staff(portal, now):
    store(portal).add_account(staff("Price", "Non", code="DC1", password=PASSWORD,
                                    roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    elsewhere = store(portal).add_account(staff("Owen", "Osian", code="X1", school=OTHER_SCHOOL), now)
    governor = store(portal).add_account(NewAccount(kind=AccountKind.GOVERNOR, surname="Ifan", forename="Gwen",
                                                    created_by="test", school=SCHOOL), now)
    portal.sign_in("PriceN@hwbcymru.net")
    assert portal.client.get(f"/portal/champions/{elsewhere.id}/promote").status_code == 404
    assert portal.client.get(f"/portal/champions/{governor.id}/promote").status_code == 404
    assert portal.client.get(f"/portal/champions?school={OTHER_SCHOOL}").status_code == 404
    assert portal.client.get("/portal/administrators").status_code == 404  # no organisation in scope


def test_staff_cannot_see_or_change_champions(portal, now):
    colleague = store(portal).add_account(staff("Hughes", "Bet", code="S2"), now)
    store(portal).add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    assert portal.client.get("/portal/champions").status_code == 403
    assert post(portal, f"/portal/champions/{colleague.id}/promote").status_code == 403


def test_an_la_administrator_promotes_and_demotes_administrators_of_the_la(portal, now):
    """R-4: Manage Administrators; R-5: never themselves."""
    store(portal).add_organisation(Organisation("661", "Cardiff", OrganisationKind.LOCAL_AUTHORITY))
    me = store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw",
                                              created_by="test", organisation="661", password=PASSWORD,
                                              roles=frozenset({Role.LA_ADMINISTRATOR})), now)
    colleague = store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Lloyd", forename="Cari",
                                                     created_by="test", organisation="661"), now)
    outsider = store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Morgan", forename="Mai",
                                                    created_by="test", organisation="662"), now)
    portal.sign_in("EvansH@hwbcymru.net")
    page = text(portal.open("/portal/administrators"))
    assert 'data-username="EvansH"' in page.split('id="others"')[0] and 'data-username="LloydC"' in page
    post(portal, f"/portal/administrators/{colleague.id}/promote")
    assert Role.LA_ADMINISTRATOR in store(portal).get_account(colleague.id).roles
    assert post(portal, f"/portal/administrators/{me.id}/demote").status_code == 403
    assert portal.client.get(f"/portal/administrators/{outsider.id}/promote").status_code == 404
    post(portal, f"/portal/administrators/{colleague.id}/demote")
    assert Role.LA_ADMINISTRATOR not in store(portal).get_account(colleague.id).roles
