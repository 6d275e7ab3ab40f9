"""The portal signs people in through Porth's own IdP (issue 5 point 1; SPEC R-6, R-5, M-10, L-2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from directory.model import AccountKind, AccountState, NewAccount, Role
from operational import workflow_runs
from operational.workflow_runs import RecordError, RunCounts
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import OneLoginService, csrf_token, path_of, posted_form


def add(portal, new: NewAccount, now):
    return portal.porth.runtime.store.add_account(new, now)


def champion(**fields) -> NewAccount:
    return staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION}), **fields)


def text(response) -> str:
    return response.get_data(as_text=True)


def test_a_staff_member_signs_in_through_the_idp_and_sees_their_school(portal, now):
    add(portal, staff(password=PASSWORD), now)
    page = portal.sign_in("JonesA@hwbcymru.net")
    assert page.status_code == 200
    body = text(page)
    assert "School Administrator Dashboard" in body
    assert "Ysgol Brawf" in body and SCHOOL in body and "brawf.ysgol.cymru" in body
    assert "Signed in as Ann Jones (JonesA)" in body
    assert 'id="workflows"' not in body  # provisioning status is for champions and administrators


def test_user_management_asks_for_the_password_even_inside_a_live_session(portal, now):
    """R-6: signed in to another service already, the portal still shows the password form."""
    add(portal, staff(password=PASSWORD), now)
    other = OneLoginService(entity_id="https://other.example/sp", idp_metadata=portal.porth.metadata)
    portal.porth.register("other", other.metadata(), 'category = "core"\n')
    url, _ = other.login_url()
    assert posted_form(text(portal.porth.sign_in(url, "JonesA@hwbcymru.net")))  # single sign-on session open
    again, _ = other.login_url()
    assert posted_form(text(portal.porth.follow(portal.client.get(path_of(again)))))  # SSO: no form
    form_page = portal.open("/portal/")
    assert 'name="password"' in text(form_page)
    assert re.search(r'name="username" type="text" value="JonesA[@"]', text(form_page))  # the same person
    assert portal.sign_in("JonesA@hwbcymru.net").status_code == 200


def test_the_portal_goes_back_to_the_page_asked_for_but_never_elsewhere(portal, now):
    add(portal, champion(), now)
    run_id = workflow_runs.start_run(portal.porth.runtime.db, SCHOOL, "staff", now)
    page = portal.sign_in("PriceN@hwbcymru.net", path=f"/portal/runs/{run_id}")
    assert page.request.path == f"/portal/runs/{run_id}"
    portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(portal.open("/portal/")))})
    start = portal.client.get("/portal/sign-in?next=https://evil.example/")
    assert start.status_code == 303
    form_page = portal.porth.follow(start)
    answer = portal.porth.submit(form_page, "PriceN@hwbcymru.net")
    posted = posted_form(text(answer))
    landed = portal.client.post(path_of(posted.action), data=posted.fields)
    assert landed.headers["Location"] == "/portal/"


def test_a_response_the_portal_did_not_ask_for_is_refused(portal, now):
    add(portal, staff(password=PASSWORD), now)
    form_page = portal.open("/portal/")
    posted = posted_form(text(portal.porth.submit(form_page, "JonesA@hwbcymru.net")))
    with portal.client.session_transaction() as session:
        session.pop("portal_sign_in")  # as if another browser had started it
    refused = portal.client.post("/portal/saml/acs", data=posted.fields)
    assert refused.status_code == 400
    assert "Sign-in did not work" in text(refused)
    assert portal.client.get("/portal/").status_code == 303  # still not signed in


def test_a_replayed_response_does_not_sign_in_again(portal, now):
    add(portal, staff(password=PASSWORD), now)
    form_page = portal.open("/portal/")
    posted = posted_form(text(portal.porth.submit(form_page, "JonesA@hwbcymru.net")))
    assert portal.client.post("/portal/saml/acs", data=posted.fields).status_code == 303
    portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(portal.open("/portal/")))})
    assert portal.client.post("/portal/saml/acs", data=posted.fields).status_code == 400


def test_signing_out_ends_the_portal_and_the_single_sign_on_session(portal, now, caplog):
    add(portal, staff(password=PASSWORD), now)
    dashboard = portal.sign_in("JonesA@hwbcymru.net")
    out = portal.porth.follow(portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(dashboard))}))
    assert out.request.path == "/portal/signed-out", out.request.path
    assert "You have signed out" in text(out)
    assert "refused" not in caplog.text  # python3-saml accepted the IdP's LogoutResponse
    assert portal.client.get("/portal/").status_code == 303
    other = OneLoginService(entity_id="https://other.example/sp", idp_metadata=portal.porth.metadata)
    portal.porth.register("other", other.metadata(), 'category = "core"\n')
    url, _ = other.login_url()
    page = portal.porth.follow(portal.client.get(path_of(url)))
    assert 'name="password"' in text(page)  # no single sign-on left


def test_sign_out_needs_the_csrf_token(portal, now):
    add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    assert portal.client.post("/portal/sign-out").status_code == 400
    assert portal.client.get("/portal/").status_code == 200


def test_the_portal_session_lasts_only_as_long_as_configured(portal, now):
    add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    with portal.client.session_transaction() as session:
        session["portal_signed_in_at"] = (datetime.now(UTC) - timedelta(minutes=61)).isoformat()
    assert portal.client.get("/portal/").status_code == 303


def test_a_deactivated_account_is_signed_out_at_its_next_request(portal, now):
    account = add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    portal.porth.runtime.store.set_state(account.id, AccountState.DEACTIVATED, "test", "left", now)
    assert portal.client.get("/portal/").status_code == 303


def test_champions_see_the_five_workflows_and_each_error_log(portal, now):
    """M-10 on the dashboard: last run, outcome and a View of its error log."""
    add(portal, champion(), now)
    db = portal.porth.runtime.db
    run_id = workflow_runs.start_run(db, SCHOOL, "learners", now - timedelta(hours=2))
    workflow_runs.finish_run(db, run_id, "succeeded", now - timedelta(hours=1), RunCounts(created=3),
                             [RecordError("A1234", "Missing UPN", "UPN")])
    page = text(portal.sign_in("PriceN@hwbcymru.net"))
    assert page.count('data-workflow="') == 5
    learners_row = re.search(r'data-workflow="learners">(.*?)</tr>', page, re.DOTALL).group(1)
    assert "Succeeded" in learners_row and ">1<" in learners_row
    assert 'data-workflow="staff">' in page and "Never run" in page
    log = text(portal.open(f"/portal/runs/{run_id}"))
    assert "A1234" in log and "Missing UPN" in log and "Record a unique pupil number" in log


def test_provisioning_logs_are_refused_to_staff_and_hidden_outside_the_scope(portal, now):
    """R-2: staff may not see the logs (403); R-5: another school's log is not found (404)."""
    add(portal, staff(password=PASSWORD), now)
    add(portal, champion(), now)
    db = portal.porth.runtime.db
    ours = workflow_runs.start_run(db, SCHOOL, "staff", now)
    theirs = workflow_runs.start_run(db, OTHER_SCHOOL, "staff", now)
    portal.sign_in("JonesA@hwbcymru.net")
    assert portal.client.get(f"/portal/runs/{ours}").status_code == 403
    portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(portal.open("/portal/")))})
    portal.sign_in("PriceN@hwbcymru.net")
    assert portal.client.get(f"/portal/runs/{ours}").status_code == 200
    assert portal.client.get(f"/portal/runs/{theirs}").status_code == 404
    assert portal.client.get(f"/portal/?school={OTHER_SCHOOL}").status_code == 404
    assert portal.client.get("/portal/runs/999999").status_code == 404


def test_an_la_administrator_picks_any_school_of_the_la(portal, now):
    store = portal.porth.runtime.store
    add(portal, NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw", created_by="test",
                           organisation="661", roles=frozenset({Role.LA_ADMINISTRATOR}), password=PASSWORD), now)
    page = text(portal.sign_in("EvansH@hwbcymru.net"))  # the LA's overview (issue 16 point 4) links its schools
    assert f'href="/portal/?school={SCHOOL}"' in page and f'href="/portal/?school={OTHER_SCHOOL}"' in page
    other = text(portal.open(f"/portal/?school={OTHER_SCHOOL}"))
    assert "Ysgol Arall" in other and 'id="workflows"' in other
    from directory.model import School, SchoolType
    store.add_school(School("6629999", "Ysgol Pell", SchoolType.PRIMARY, "662"))
    assert portal.client.get("/portal/?school=6629999").status_code == 404


def test_the_dashboard_warns_of_non_mis_accounts_expiring_within_eight_weeks(portal, now):
    """L-2: the banner counts the school's governors and non-MIS accounts expiring in the next 8 weeks."""
    add(portal, champion(), now)
    today = datetime.now(UTC)  # the dashboard counts from the real today, not the fixture's fixed date
    for surname, days in (("Ifan", 10), ("Hughes", 50), ("Rees", 120)):
        add(portal, NewAccount(kind=AccountKind.GOVERNOR, surname=surname, forename="Gwen", created_by="test",
                               school=SCHOOL, expiry=today + timedelta(days=days)), now)
    page = text(portal.sign_in("PriceN@hwbcymru.net"))
    assert 'data-expiring="2"' in page
    assert "2 non-MIS accounts expire in the next 8 weeks." in page


def test_malformed_saml_messages_to_the_portal_are_refused_not_a_server_error(portal, now, caplog):
    add(portal, staff(password=PASSWORD), now)
    portal.open("/portal/")  # a sign-in under way, so the Response is checked for real
    for junk in ("abc", "%%%", "PHNhbWxwOlJlc3BvbnNlLz4="):  # not base64, not base64, a bare <samlp:Response/>
        assert portal.client.post("/portal/saml/acs", data={"SAMLResponse": junk}).status_code == 400
        assert portal.client.get(f"/portal/saml/sls?SAMLResponse={junk}").status_code == 400
    assert "refused" in caplog.text


def test_signing_out_at_porth_signs_the_portal_out_too(portal, now, caplog):
    """The IdP's own sign-out page asks the portal (a service with Single Logout) to end its session."""
    add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    page = portal.client.get("/idp/logout")
    assert "User Management Portal" in text(page)  # listed among the services being signed out of
    answer = portal.client.post("/idp/logout", data={"csrf_token": csrf_token(text(page))})
    visited = []
    while answer.status_code in (302, 303):
        visited.append(answer.headers["Location"].split("?")[0])
        answer = portal.client.get(path_of(answer.headers["Location"]))
    assert "http://localhost/portal/saml/sls" in visited  # the portal was asked, and answered
    assert answer.status_code == 200 and "You have signed out" in text(answer)
    assert "refused" not in caplog.text
    assert portal.client.get("/portal/").status_code == 303  # the portal session is gone too


# -- the portal's SLS acts only on a valid, signed message (issue 15 point 2) -------------------------------
def test_a_made_up_sls_link_does_not_sign_the_portal_out(portal, now):
    add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    for query in ("", "anything", "SAMLRequest=abc", "SAMLResponse=PHNhbWxwOkxvZ291dFJlc3BvbnNlLz4%3D"):
        page = portal.client.get(f"/portal/saml/sls?{query}")
        assert page.status_code == 400
        assert "Nothing has changed" in text(page) and "You are still signed in" in text(page)
        assert 'href="/portal/"' in text(page)  # a way back
        assert portal.client.get("/portal/").status_code == 200  # still signed in


def test_the_idps_signed_answer_replayed_later_does_not_sign_the_portal_out(portal, now):
    add(portal, staff(password=PASSWORD), now)
    dashboard = portal.sign_in("JonesA@hwbcymru.net")
    answer = portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(dashboard))})
    visited = []
    while answer.status_code in (302, 303):
        visited.append(answer.headers["Location"])
        answer = portal.client.get(path_of(answer.headers["Location"]))
    idp_answer = next(url for url in visited if "/portal/saml/sls?SAMLResponse=" in url)  # valid, signed
    portal.sign_in("JonesA@hwbcymru.net")
    replayed = portal.client.get(path_of(idp_answer))
    assert replayed.status_code == 400 and "Nothing has changed" in text(replayed)
    assert portal.client.get("/portal/").status_code == 200


def test_the_idps_logout_request_for_an_earlier_session_does_not_sign_the_portal_out(portal, now):
    add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    page = portal.client.get("/idp/logout")
    asked = portal.client.post("/idp/logout", data={"csrf_token": csrf_token(text(page))})
    captured = asked.headers["Location"]  # Porth's signed LogoutRequest to the portal, for this session
    assert "/portal/saml/sls?SAMLRequest=" in captured
    portal.porth.follow(portal.client.get(path_of(captured)))
    portal.sign_in("JonesA@hwbcymru.net")  # a new session: same NameID, another SessionIndex
    replayed = portal.client.get(path_of(captured))
    assert replayed.status_code == 400 and "Nothing has changed" in text(replayed)
    assert portal.client.get("/portal/").status_code == 200


def test_signing_out_of_the_portal_says_when_another_service_may_still_be_signed_in(portal, now):
    """Point 8: the IdP answers the portal PartialLogout when a service's answer fails its checks."""
    from tests.integration.test_idp_slo import RSA_SHA1, logout_response

    add(portal, staff(password=PASSWORD), now)
    other = OneLoginService(entity_id="https://other.example/sp", idp_metadata=portal.porth.metadata,
                            base="https://other.example")
    portal.porth.register("other", other.metadata(), 'category = "core"\nrelease = ["username"]\n')
    url, request_id = other.login_url()
    other.accept(posted_form(text(portal.porth.sign_in(url, "JonesA@hwbcymru.net"))), request_id)
    dashboard = portal.sign_in("JonesA@hwbcymru.net")
    asked = portal.porth.follow(portal.client.post("/portal/sign-out",
                                                   data={"csrf_token": csrf_token(text(dashboard))}), limit=1)
    assert asked.status_code == 303 and asked.headers["Location"].startswith("https://other.example/sls?")
    import base64
    import zlib
    from urllib.parse import parse_qs, urlsplit

    from lxml import etree

    query = parse_qs(urlsplit(asked.headers["Location"]).query)
    request_to_other = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15))
    failing = logout_response(other, request_to_other.get("ID"), sig_alg=RSA_SHA1)  # SHA-1: refused
    done = portal.porth.follow(portal.client.get(failing))
    assert done.request.path == "/portal/signed-out"
    assert "some services may still be signed in" in text(done)
    assert portal.client.get("/portal/").status_code == 303  # the portal session is gone all the same
