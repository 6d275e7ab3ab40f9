"""Issue 15 point 4: names are cleaned where they enter, in every portal form that takes one (SPEC A-2, A-5).

A name without a letter (`123`, an emoji) answered HTTP 500 in the forms; one with a control character or a
Unicode noncharacter was stored and then broke every sign-in to a service releasing it. Each form now says
what is wrong with the field, in the reader's language, and stores nothing."""

from __future__ import annotations

import pytest

from directory.model import AccountKind, NewAccount, Organisation, OrganisationKind, Role
from tests.integration.conftest import SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token

# (a name, a fragment of the English message that must be shown for it)
BAD_NAMES = [
    ("123", "must contain a letter"),
    ("\U0001f600", "must contain a letter"),
    ("- '", "must contain a letter"),
    ("Jo\x01nes", "control characters"),
    ("Jo\x1bnes", "control characters"),
    ("Jones\x7f", "control characters"),
    ("Jo\x9bnes", "control characters"),
    ("Jones\ufffe", "not characters"),
    ("Jones\uffff", "not characters"),
    ("Jo\ufdd0nes", "not characters"),
    ("Jones\U0010ffff", "not characters"),
]


def text(response) -> str:
    return response.get_data(as_text=True)


def post(portal, path: str, data: dict):
    return portal.client.post(path, data={"csrf_token": csrf_token(text(portal.open(path))), **data})


def as_champion(portal, now):
    portal.porth.runtime.store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD,
                                                 roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")


def refused_for(response, field: str, fragment: str) -> None:
    assert response.status_code == 400, text(response)[:300]
    assert f'href="#{field}"' in text(response) and fragment in text(response)


@pytest.mark.parametrize(("name", "fragment"), BAD_NAMES)
def test_a_new_governor_with_such_a_name_is_a_form_error(portal, now, name, fragment):
    as_champion(portal, now)
    form = f"/portal/users/governors/new?school={SCHOOL}&understood=yes"
    for field in ("surname", "forename"):
        names = {"forename": "Gwen", "surname": "Ifan", field: name}
        refused_for(post(portal, form, {**names, "password": "Daffodil2024", "expiry": "3-months", "add": "yes"}),
                    field, fragment)
    assert portal.porth.runtime.store.find_by_username("IfanG") is None


@pytest.mark.parametrize(("name", "fragment"), BAD_NAMES[:4])
def test_an_la_user_with_such_a_name_is_a_form_error(portal, now, name, fragment):
    store = portal.porth.runtime.store
    store.add_organisation(Organisation("661", "Cardiff", OrganisationKind.LOCAL_AUTHORITY))
    store.add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw", created_by="test",
                                 organisation="661", password=PASSWORD,
                                 roles=frozenset({Role.LA_ADMINISTRATOR})), now)
    portal.sign_in("EvansH@hwbcymru.net")
    refused_for(post(portal, "/portal/organisation-users/new?org=661",
                     {"forename": "Cari", "surname": name, "password": "Harbour2024", "expiry": "6-months",
                      "add": "yes"}), "surname", fragment)


@pytest.mark.parametrize(("name", "fragment"), BAD_NAMES)
def test_editing_names_to_such_a_name_is_a_form_error_and_changes_nothing(portal, now, name, fragment):
    store = portal.porth.runtime.store
    pupil = store.add_account(learner("Avery", "Ann"), now)
    as_champion(portal, now)
    path = f"/portal/accounts/{pupil.id}/edit"
    for field in ("surname", "forename"):
        for new_username in ("", "yes"):
            names = {"forename": "Anna", "surname": "Bevan", field: name}
            refused_for(post(portal, path, {**names, "new_username": new_username}), field, fragment)
    unchanged = store.get_account(pupil.id)
    assert (unchanged.forename, unchanged.surname, unchanged.username) == ("Ann", "Avery", "AveryA")


def test_a_name_with_letters_but_none_for_a_username_is_told_so_when_a_username_is_made(portal, now):
    """A-2 folds names to ASCII letters: `王` is a name (it has a letter) but makes no username."""
    store = portal.porth.runtime.store
    pupil = store.add_account(learner("Avery", "Ann"), now)
    as_champion(portal, now)
    path = f"/portal/accounts/{pupil.id}/edit"
    refused_for(post(portal, path, {"forename": "Anna", "surname": "王", "new_username": "yes"}), "surname",
                "letter from A to Z")
    assert store.get_account(pupil.id).surname == "Avery"
    assert post(portal, path, {"forename": "Anna", "surname": "王"}).status_code == 303  # names only: fine
    assert store.get_account(pupil.id).surname == "王"
    form = f"/portal/users/non-mis/new?school={SCHOOL}&understood=yes"
    refused_for(post(portal, form, {"forename": "Wei", "surname": "王", "password": "Daffodil2024",
                                    "expiry": "3-months", "add": "yes"}), "surname", "letter from A to Z")


def test_the_message_is_in_welsh_for_a_welsh_reader(portal, now):
    as_champion(portal, now)
    form = f"/portal/users/governors/new?school={SCHOOL}&understood=yes&lang=cy"
    refused = post(portal, form, {"forename": "Gwen", "surname": "123", "password": "Daffodil2024",
                                  "expiry": "3-months", "add": "yes"})
    assert refused.status_code == 400 and "gynnwys llythyren" in text(refused)
