"""M365 Licences and Digital Champions as an LA administrator uses them (issue 16 point 5; SPEC
G-2, R-4, R-5, R-7): a search, per-row Allocate / Revoke (each its own form, audited), "all N
matching" across pages for the bulk change, the search and page kept after each action."""

from __future__ import annotations

import re

from directory.model import AccountKind, NewAccount, Organisation, OrganisationKind, Role, School, SchoolType
from operational import licence_requests
from operational.audit import AuditFilter, events
from tests.integration.conftest import staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token

LICENCE_SCHOOL = "6615555"
FAR_SCHOOL = "6629999"


def text(response) -> str:
    return response.get_data(as_text=True)


def store(portal):
    return portal.porth.runtime.store


def usernames(page: str, table: str) -> list[str]:
    body = page.split(f'id="{table}"')[1].split("</table>", maxsplit=1)[0]
    return re.findall(r'<tr class="govuk-table__row" data-username="([^"]+)"', body)


def school_with_staff(portal, now, quota: int = 20):
    """Cardiff's administrator; a school of 12 teachers (AthroA ... AthroL) and a colleague Bevan;
    another LA's school."""
    store(portal).add_organisation(Organisation("661", "Cardiff", OrganisationKind.LOCAL_AUTHORITY))
    store(portal).add_school(School(LICENCE_SCHOOL, "Ysgol Drwyddedau", SchoolType.SECONDARY, "661",
                                    staff_licence_quota=quota))
    store(portal).add_school(School(FAR_SCHOOL, "Ysgol Pell", SchoolType.PRIMARY, "662"))
    made = [store(portal).add_account(staff(f"Athro{chr(65 + n)}", "Ann", code=f"T{n}", school=LICENCE_SCHOOL), now)
            for n in range(12)]
    bevan = store(portal).add_account(staff("Bevan", "Cai", code="B1", school=LICENCE_SCHOOL), now)
    store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw",
                                         created_by="test", organisation="661", password=PASSWORD,
                                         roles=frozenset({Role.LA_ADMINISTRATOR})), now)
    portal.sign_in("EvansH@hwbcymru.net")
    return made, bevan


def wanted(portal) -> set[str]:
    return {a for a, s in licence_requests.latest(portal.porth.runtime.db, LICENCE_SCHOOL).items() if s.wanted}


def row_form(page: str, username: str) -> tuple[str, str]:
    """The change (allocate / revoke) a row's own button offers, and the account id its form sends."""
    row = re.search(rf'data-username="{username}">(.*?)</tr>', page, re.DOTALL).group(1)
    form_id, change = re.search(r'<button type="submit" form="([^"]+)" name="change" value="(\w+)"', row).groups()
    account = re.search(rf'<form method="post" id="{form_id}"[^>]*>.*?name="account" value="([^"]+)"', page).group(1)
    return change, account


def test_the_licence_list_is_searched_and_each_row_allocates_then_revokes_keeping_the_search(portal, now):
    _made, bevan = school_with_staff(portal, now)
    address = f"/portal/licences?school={LICENCE_SCHOOL}&q=bevan"
    page = text(portal.open(address))
    assert usernames(page, "staff") == ["BevanC"] and "1 member of staff" in page
    change, account = row_form(page, "BevanC")
    assert (change, account) == ("allocate", bevan.id)
    done = portal.client.post(address, data={"csrf_token": csrf_token(page), "change": change, "account": account})
    assert done.status_code == 303 and done.headers["Location"] == address  # the search is kept
    assert wanted(portal) == {bevan.id}
    after = text(portal.open(done.headers["Location"]))
    assert "1 change has been queued" in after and row_form(after, "BevanC")[0] == "revoke"
    portal.client.post(address, data={"csrf_token": csrf_token(after), "change": "revoke", "account": bevan.id})
    assert wanted(portal) == set()
    audited = [(e.action, e.target_id) for _i, e in events(portal.porth.runtime.db, AuditFilter())
               if e.action in ("allocate-licence", "revoke-licence")]
    assert sorted(audited) == [("allocate-licence", bevan.id), ("revoke-licence", bevan.id)]


def test_all_matching_staff_on_every_page_are_allocated_by_the_servers_own_search(portal, now):
    made, bevan = school_with_staff(portal, now)
    address = f"/portal/licences?school={LICENCE_SCHOOL}&q=athro"
    page = text(portal.open(address))
    assert len(usernames(page, "staff")) == 10 and "All 12 matching members of staff, on every page" in page
    done = portal.client.post(address, data={"csrf_token": csrf_token(page), "change": "allocate",
                                             "all_matching": "yes"})
    assert done.status_code == 303
    assert wanted(portal) == {a.id for a in made}  # page 2's two as well, and not Bevan (not matching)
    assert bevan.id not in wanted(portal)


def test_all_matching_beyond_the_quota_is_refused_whole(portal, now):
    school_with_staff(portal, now, quota=11)
    address = f"/portal/licences?school={LICENCE_SCHOOL}&q=athro"
    page = text(portal.open(address))
    refused = portal.client.post(address, data={"csrf_token": csrf_token(page), "change": "allocate",
                                                "all_matching": "yes"})
    assert refused.status_code == 400 and "beyond its quota of 11 licences" in text(refused)
    assert wanted(portal) == set()


def test_the_licence_list_pages_keep_the_search_and_another_las_school_is_not_found(portal, now):
    school_with_staff(portal, now)
    first = text(portal.open(f"/portal/licences?school={LICENCE_SCHOOL}&q=athro"))
    following = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "q=athro" in following
    assert usernames(text(portal.open(following)), "staff") == ["AthroKA", "AthroLA"]
    assert portal.client.get(f"/portal/licences?school={FAR_SCHOOL}").status_code == 404
    assert portal.client.post(f"/portal/licences?school={FAR_SCHOOL}", data={
        "csrf_token": csrf_token(first), "change": "allocate", "all_matching": "yes"}).status_code == 404


def test_digital_champions_are_searched_and_promoting_keeps_the_search(portal, now):
    made, _bevan = school_with_staff(portal, now)
    address = f"/portal/champions?school={LICENCE_SCHOOL}&q=athrol"
    page = text(portal.open(address))
    assert usernames(page, "others") == ["AthroLA"] and usernames(page, "holders") == []
    promote = re.search(r'href="([^"]+)">Promote', page).group(1).replace("&amp;", "&")
    done = portal.client.post(promote, data={"csrf_token": csrf_token(text(portal.open(promote)))})
    assert done.status_code == 303 and "q=athrol" in done.headers["Location"]
    assert Role.DIGITAL_CHAMPION in store(portal).get_account(made[11].id).roles
    assert usernames(text(portal.open(done.headers["Location"])), "holders") == ["AthroLA"]
