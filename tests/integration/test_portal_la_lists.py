"""The lists an LA administrator uses, filtered by the seed's Active Y/N (003) and a page at a
time, the page links keeping the filters (issue 16 points 4 and 5; SPEC R-4, R-5)."""

from __future__ import annotations

import re

from directory.model import AccountKind, AccountState, NewAccount, Organisation, OrganisationKind, Role
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token


def text(response) -> str:
    return response.get_data(as_text=True)


def store(portal):
    return portal.porth.runtime.store


def usernames(page: str, table: str = "users") -> list[str]:
    body = page.split(f'id="{table}"')[1].split("</table>", maxsplit=1)[0]
    return re.findall(r'<tr class="govuk-table__row" data-username="([^"]+)"', body)


def next_link(page: str) -> str:
    return re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")


def la_with_people(portal, now, active: int, deactivated: int):
    """Cardiff's administrator, `active` more active accounts (AelodA, AelodB...) and
    `deactivated` ones (GadaelA...)."""
    store(portal).add_organisation(Organisation("661", "Cardiff", OrganisationKind.LOCAL_AUTHORITY))
    me = store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw",
                                              created_by="test", organisation="661", password=PASSWORD,
                                              roles=frozenset({Role.LA_ADMINISTRATOR})), now)
    for n in range(active):
        store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname=f"Aelod{chr(65 + n)}", forename="Ann",
                                             created_by="test", organisation="661"), now)
    for n in range(deactivated):
        gone = store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname=f"Gadael{chr(65 + n)}",
                                                    forename="Bet", created_by="test", organisation="661"), now)
        store(portal).set_state(gone.id, AccountState.DEACTIVATED, by="test", reason="expired", now=now)
    portal.sign_in("EvansH@hwbcymru.net")
    return me


def test_the_la_non_mis_list_filters_active_n_and_pages_keeping_the_filter(portal, now):
    """Seed 003: "Change the filter Active to a N, this will list all expired LA Non-MIS accounts";
    the 11th account is on page 2 (the fixture's pages hold 10), not only found by search."""
    la_with_people(portal, now, active=10, deactivated=12)
    active = text(portal.open("/portal/organisation-users"))
    assert "11 accounts" in active and len(usernames(active)) == 10
    assert not any(name.startswith("Gadael") for name in usernames(active))
    assert usernames(text(portal.open(next_link(active)))) == ["EvansH"]  # the 11th, in register order
    expired = text(portal.open("/portal/organisation-users?org=661&active=N"))
    assert "12 accounts" in expired and '<option value="N" selected>' in expired
    assert all(name.startswith("Gadael") for name in usernames(expired)) and len(usernames(expired)) == 10
    second = next_link(expired)
    assert "active=N" in second and "org=661" in second
    assert usernames(text(portal.open(second))) == ["GadaelKB", "GadaelLB"]
    everyone = text(portal.open("/portal/organisation-users?org=661&active=all&q=GadaelK"))
    assert usernames(everyone) == ["GadaelKB"]
    assert "No account matches" in text(portal.open("/portal/organisation-users?org=661&active=N&q=Aelod"))


def test_the_administrators_list_searches_filters_and_pages_and_promoting_keeps_the_filters(portal, now):
    la_with_people(portal, now, active=12, deactivated=1)
    first = text(portal.open("/portal/administrators"))
    assert usernames(first, "holders") == ["EvansH"] and len(usernames(first, "others")) == 10
    second = text(portal.open(next_link(first)))
    assert usernames(second, "others") == ["AelodKA", "AelodLA"]
    found = text(portal.open("/portal/administrators?org=661&q=AelodL"))
    assert usernames(found, "others") == ["AelodLA"] and usernames(found, "holders") == []
    deactivated = text(portal.open("/portal/administrators?org=661&active=N"))
    assert usernames(deactivated, "others") == ["GadaelAB"]
    # Promote from the search: confirmed, then back to the same search.
    promote = re.search(r'href="([^"]+)">Promote<span class="govuk-visually-hidden"> AelodLA', found).group(1)
    promote = promote.replace("&amp;", "&")
    assert "q=AelodL" in promote
    confirm = text(portal.open(promote))
    done = portal.client.post(promote, data={"csrf_token": csrf_token(confirm)})
    assert done.status_code == 303 and "q=AelodL" in done.headers["Location"]
    assert usernames(text(portal.open(done.headers["Location"])), "holders") == ["AelodLA"]
