"""Error pages (issue 16 point 3; SPEC S-4, R-5): what a teacher reads when Porth says no.

Each page keeps its status code, sits in the layout of where it happened (the portal's menu
under /portal, the sign-in pages' layout elsewhere), says what happened and what to do next in
the reader's language, offers the language switch and a way back, and shows no framework text.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from directory.errors import ClaimsUnavailable, DirectoryFailure, DirectoryUnavailable
from directory.model import Role
from tests.integration.conftest import OTHER_SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token

FRAMEWORK_WORDS = ("Not Found", "Bad Request", "Forbidden", "Method Not Allowed", "Internal Server Error",
                   "Traceback", "werkzeug", "The requested URL", "CSRF")


def text(response) -> str:
    return response.get_data(as_text=True)


def heading(page: str) -> str:
    return unescape(re.search(r"<h1[^>]*>(.*?)</h1>", page, re.DOTALL).group(1)).strip()


def way_back(page: str) -> tuple[str, str]:
    found = re.search(r'<a class="govuk-link" href="([^"]+)" id="way-back">(.*?)</a>', page)
    assert found, "an error page offers a way back"
    return unescape(found.group(1)), unescape(found.group(2))


def language_links(page: str) -> dict[str, str]:
    return {code: unescape(href) for href, code in
            re.findall(r'<a class="govuk-language-navigation__link" href="([^"]+)" lang="(\w+)"', page)}


def assert_no_framework_text(page: str) -> None:
    for words in FRAMEWORK_WORDS:
        assert words not in page, words


def as_champion(portal, now):
    portal.porth.runtime.store.add_account(
        staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")


def test_an_account_outside_the_scope_answers_the_same_404_page_as_one_that_does_not_exist(portal, now):
    """R-5: the page never tells an account in another school from no account at all."""
    elsewhere = portal.porth.runtime.store.add_account(learner("Owen", "Osian", school=OTHER_SCHOOL), now)
    as_champion(portal, now)
    out_of_scope = portal.client.get(f"/portal/accounts/{elsewhere.id}")
    missing = portal.client.get("/portal/accounts/00000000-0000-4000-8000-000000000000")
    assert out_of_scope.status_code == missing.status_code == 404
    page = text(out_of_scope)
    assert heading(page) == "Page not found" and "OwenO" not in page and "Owen" not in page
    # The same words and links, but for the address itself (the language switch shows this page again).
    assert page.replace(elsewhere.id, "ID") == text(missing).replace("00000000-0000-4000-8000-000000000000", "ID")
    assert way_back(page) == ("/portal/", "Go to your dashboard")
    assert 'aria-label="Menu"' in page and "Sign out" in page  # the portal's own layout, its menu
    assert_no_framework_text(page)


def test_the_404_page_is_welsh_for_a_welsh_reader_and_its_language_switch_shows_it_again(portal, now):
    as_champion(portal, now)
    portal.client.get("/portal/?lang=cy")  # the switch remembers the choice
    page = text(portal.client.get("/portal/no-such-page?school=6612345"))
    assert heading(page) == "Heb ddod o hyd i'r dudalen"
    assert way_back(page) == ("/portal/", "Mynd i'ch dangosfwrdd")
    assert "Page not found" not in page and "Allgofnodi" in page
    english = language_links(page)["en"]
    assert english == "/portal/no-such-page?school=6612345&lang=en"
    again = portal.client.get(english)
    assert again.status_code == 404 and heading(text(again)) == "Page not found"


def test_a_page_outside_the_portal_is_in_the_sign_in_layout_and_leads_home(portal):
    answer = portal.client.get("/no-such-page", headers={"Accept-Language": "cy"})
    page = text(answer)
    assert answer.status_code == 404 and heading(page) == "Heb ddod o hyd i'r dudalen"
    assert way_back(page) == ("/", "Mynd i hafan Porth")
    assert 'aria-label="Menu"' not in page
    assert_no_framework_text(page)


def test_a_signed_out_visitor_to_a_missing_portal_page_is_offered_the_sign_in(portal):
    page = text(portal.client.get("/portal/no-such-page"))
    assert way_back(page) == ("/portal/sign-in", "Sign in to the portal")


def test_staff_refused_the_audit_log_read_why_in_both_languages(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    refused = portal.client.get("/portal/audit")
    assert refused.status_code == 403
    assert heading(text(refused)) == "You cannot do this with your account"
    assert "digital champion" in text(refused)
    welsh = portal.client.get("/portal/audit?lang=cy")
    assert welsh.status_code == 403 and heading(text(welsh)) == "Ni allwch wneud hyn gyda'ch cyfrif"
    assert_no_framework_text(text(welsh))


def test_a_form_sent_without_its_token_says_the_form_expired_and_links_back_to_it(portal, now):
    target = portal.porth.runtime.store.add_account(learner("Avery", "Ann", password="Tiger4821"), now)
    as_champion(portal, now)
    form = f"http://localhost/portal/accounts/{target.id}/deactivate"
    sent = portal.client.post(f"/portal/accounts/{target.id}/deactivate", data={"csrf_token": "stale"},
                              headers={"Referer": form})
    page = text(sent)
    assert sent.status_code == 400 and heading(page) == "This form has expired"
    assert "Nothing was changed" in page and way_back(page) == (form, "Open the form again")
    assert portal.porth.runtime.store.get_account(target.id).is_active
    # Not another site's address, though: back to the dashboard.
    elsewhere = portal.client.post(f"/portal/accounts/{target.id}/deactivate", data={},
                                   headers={"Referer": "https://evil.example/"})
    assert way_back(text(elsewhere)) == ("/portal/", "Go to your dashboard")
    welsh = portal.client.post(f"/portal/accounts/{target.id}/deactivate?lang=cy", data={})
    assert heading(text(welsh)) == "Mae'r ffurflen hon wedi dod i ben"
    # The switch of a refused form's page never sends the form again: it leads to the way back.
    assert language_links(text(welsh))["en"] == "/portal/?lang=en"


def test_the_sign_in_form_sent_without_its_token_offers_the_form_again(portal):
    form_page = portal.open("/portal/")
    pending = re.search(r'name="pending" value="([^"]+)"', text(form_page)).group(1)
    sent = portal.client.post("/idp/sign-in", data={"pending": unescape(pending), "username": "JonesA",
                                                     "password": PASSWORD})
    page = text(sent)
    assert sent.status_code == 400 and heading(page) == "This form has expired"
    back, label = way_back(page)
    assert label == "Open the form again" and back.startswith("/idp/sign-in?pending=")
    assert 'name="password"' in text(portal.client.get(back))  # the same sign-in, ready to try again


def test_a_get_of_a_form_only_address_is_405_with_a_page(portal, now):
    as_champion(portal, now)
    answer = portal.client.get("/portal/sign-out")
    assert answer.status_code == 405 and "POST" in answer.headers["Allow"]
    assert heading(text(answer)) == "That page cannot be used that way"


def test_a_failure_inside_porth_is_a_500_page_without_the_trace(portal, now):
    as_champion(portal, now)

    def broken(**_arguments):
        raise RuntimeError("a bug with a secret in its message")

    portal.porth.app.view_functions["portal.manage.profile"] = broken
    answer = portal.client.get("/portal/profile?lang=cy")
    page = text(answer)
    assert answer.status_code == 500 and heading(page) == "Mae'n ddrwg gennym, mae problem gyda Porth"
    assert "secret" not in page and "RuntimeError" not in page
    assert way_back(page)[0] == "/portal/"
    assert_no_framework_text(page)


def test_the_directory_down_page_is_in_the_portal_layout_with_a_way_back(portal, now, monkeypatch):
    as_champion(portal, now)

    def not_answering(*_arguments, **_keywords):
        raise DirectoryUnavailable("ldap://test: connection refused")

    monkeypatch.setattr(portal.porth.runtime.store, "find_accounts", not_answering)
    answer = portal.client.get("/portal/users/learners")
    page = text(answer)
    assert answer.status_code == 503 and heading(page) == "Sorry, the directory is not answering"
    assert "connection refused" not in page and way_back(page)[1] == "Go to your dashboard"


@pytest.mark.parametrize("failure", [
    ClaimsUnavailable("cannot claim a username: the operational database is down"),
    DirectoryFailure("txn_commit failed"),
])
def test_the_directory_failing_the_work_is_a_503_to_try_again_not_a_500(portal, now, monkeypatch, failure):
    """A failure of what the directory stands on (its claims' database down, a full disk) is not
    Porth's bug: the request is answered 503, as for a directory that does not answer."""
    as_champion(portal, now)

    def failing(*_arguments, **_keywords):
        raise failure

    monkeypatch.setattr(portal.porth.runtime.store, "find_accounts", failing)
    answer = portal.client.get("/portal/users/learners")
    assert answer.status_code == 503 and heading(text(answer)) == "Sorry, the directory is not answering"
    assert str(failure) not in text(answer)


def test_an_idp_problem_page_is_in_the_readers_language(portal):
    answer = portal.client.get("/idp/sso/init?service=https://nowhere.example/sp&lang=cy")
    page = text(answer)
    assert answer.status_code == 404
    assert "Nid yw'r gwasanaeth y daethoch ohono wedi'i gofrestru gyda Porth" in unescape(page)
    assert "not registered" not in page and "nowhere.example" not in page
    assert way_back(page) == ("/", "Mynd i hafan Porth")
    english = language_links(page)["en"]
    assert english == "/idp/problem?reason=unregistered&lang=en"
    again = text(portal.client.get(english))  # the switch says the same again, in English
    assert "The service you came from is not registered with Porth" in again


def test_a_script_asking_for_json_gets_the_same_words_as_json(portal, now):
    """Show password's script posts for JSON: a refusal answers it in words it can show."""
    elsewhere = portal.porth.runtime.store.add_account(learner("Owen", "Osian", school=OTHER_SCHOOL), now)
    as_champion(portal, now)
    answer = portal.client.post(f"/portal/accounts/{elsewhere.id}/password?lang=cy", data={},
                                headers={"Accept": "application/json"})
    assert answer.status_code == 400 and answer.json["title"] == "Mae'r ffurflen hon wedi dod i ben"
    token = csrf_token(text(portal.client.get("/portal/")))
    answer = portal.client.post(f"/portal/accounts/{elsewhere.id}/password?lang=en", data={"csrf_token": token},
                                headers={"Accept": "application/json"})
    assert answer.status_code == 404 and answer.json == {
        "status": 404, "title": "Page not found", "message": answer.json["message"]}
    assert "Owen" not in answer.json["message"]


def test_with_the_directory_down_before_the_person_is_known_the_page_still_says_so(portal, now, monkeypatch):
    """The portal's layout needs the signed-in person, read from the directory: without it the
    page is drawn in the sign-in pages' layout, leading home."""
    as_champion(portal, now)

    def not_answering(*_arguments, **_keywords):
        raise DirectoryUnavailable("ldap://test: connection refused")

    monkeypatch.setattr(portal.porth.runtime.store, "get_account", not_answering)
    answer = portal.client.get("/portal/users/learners?lang=cy")
    page = text(answer)
    assert answer.status_code == 503 and heading(page) == "Mae'n ddrwg gennym, nid yw'r cyfeiriadur yn ateb"
    assert way_back(page) == ("/", "Mynd i hafan Porth") and 'aria-label="Menu"' not in page
