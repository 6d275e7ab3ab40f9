"""Sessions kept on the server (issue 15 points 1, 3 and 7; SPEC S-1, S-2, R-6, A-6).

Each test plays a browser (a Flask test client with its own cookie jar) against a real slapd and
operational store, the way an attacker on the school network would try it: a cookie copied or
planted, a token carried to another browser, a Response replayed.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from directory.model import Role
from idp import second_factor_rules
from jobs.framework import JobContext
from jobs.username_changes import process_username_changes
from operational import username_changes
from operational.db import Database, KeptConnections
from operational.web_sessions import Lifetimes, SignedIn, WebSessionStore
from tests.integration.conftest import staff
from tests.integration.idp_fixtures import PASSWORD, Porth, make_porth, porth  # noqa: F401 (fixture)
from tests.integration.portal_fixtures import PortalBrowser, portal  # noqa: F401 (fixture)
from tests.integration.test_idp_sso import answer_form, onelogin, request_xml
from tests.integration.test_operational_store import _postgres_database
from tests.saml_services import csrf_token, path_of, posted_form
from webui.portal.saml_sp import PortalSignInRefused

COOKIE = "porth_session"
ACS = "/portal/saml/acs"


def text(response) -> str:
    return response.get_data(as_text=True)


def cookie_of(client) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "the browser holds no session cookie"
    return cookie.value


def follow(client, response, limit: int = 6):
    for _ in range(limit):
        if response.status_code not in (301, 302, 303):
            return response
        response = client.get(path_of(response.headers["Location"]))
    return response


def browser_with(porth: Porth, cookie: str | None = None) -> Porth:
    """Another browser on the same Porth, holding `cookie` (a copy, or one planted in it)."""
    other = dataclasses.replace(porth, client=porth.app.test_client())
    if cookie is not None:
        other.client.set_cookie(COOKIE, cookie)
    return other


def single_sign_on_answers(browser: Porth, service) -> bool:
    """Does this browser get a Response from Porth without typing a password?"""
    url, _ = service.login_url()
    page = text(follow(browser.client, browser.client.get(path_of(url))))
    return posted_form(page) is not None


def champion():
    return staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION}))


def portal_post(browser: PortalBrowser, path: str, data: dict, page: str = "/portal/"):
    token = csrf_token(text(browser.open(page)))
    return browser.client.post(path, data={"csrf_token": token, **data})


# -- the store, on SQLite and PostgreSQL ----------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    urls = iter([f"sqlite:///{tmp_path / 'sessions.sqlite3'}"]) if request.param == "sqlite" \
        else _postgres_database()
    for url in urls:
        db = Database(url)
        db.migrate()
        connections = KeptConnections(db)
        yield WebSessionStore(connections, Lifetimes(lifetime=timedelta(hours=8), idle=timedelta(minutes=60)))
        connections.close()
        db.dispose()


def test_a_stored_session_is_read_back_renewed_and_never_brought_back(sessions, now):
    sessions.create("first-id", {"sso": {"account": "a1"}, "lang": "cy ŵ"}, SignedIn(sso="a1"), now)
    read = sessions.read("first-id", now + timedelta(seconds=5))
    assert read.data == {"sso": {"account": "a1"}, "lang": "cy ŵ"} and read.signed_in == SignedIn(sso="a1")
    assert read.created_at == read.last_seen_at == now and not read.needs_touch(now + timedelta(seconds=59))
    later = now + timedelta(minutes=5)
    assert sessions.write("first-id", {"_user_id": "a1"}, SignedIn(sso="a1", portal="a1"), read.created_at, later,
                          new_id="second-id")
    assert sessions.read("first-id", later) is None  # the old id opens nothing
    renewed = sessions.read("second-id", later)
    assert renewed.data == {"_user_id": "a1"} and renewed.created_at == later  # its lifetime starts again
    assert not sessions.write("first-id", {"sso": {"account": "a1"}}, SignedIn(sso="a1"), now, later)
    assert not sessions.touch("first-id", now, later)
    assert sessions.read("first-id", later) is None  # a write to an ended session does not bring it back
    sessions.end("second-id")
    assert sessions.read("second-id", later) is None


def test_ending_an_accounts_sessions_ends_them_all_but_the_one_kept(sessions, now):
    for session_id, signed_in in (("sso", SignedIn(sso="a1")), ("portal", SignedIn(portal="a1")),
                                  ("both", SignedIn(sso="a1", portal="a1")), ("kept", SignedIn(sso="a1")),
                                  ("someone-else", SignedIn(sso="b2", portal="b2"))):
        sessions.create(session_id, {}, signed_in, now)
    assert sessions.end_sessions_of("a1", keep="kept") == 3
    assert [s for s in ("sso", "portal", "both", "kept", "someone-else") if sessions.read(s, now)] == [
        "kept", "someone-else"]
    assert sessions.end_sessions_of("a1") == 1
    assert sessions.read("someone-else", now) is not None


def test_a_session_ends_when_idle_or_at_the_end_of_its_lifetime_and_ended_rows_are_swept(sessions, now):
    sessions.create("idle", {}, SignedIn(), now)
    sessions.create("busy", {}, SignedIn(), now)
    for minutes in range(50, 8 * 60, 50):  # a request every 50 minutes keeps it, up to its lifetime
        assert sessions.touch("busy", now, now + timedelta(minutes=minutes))
    assert sessions.read("idle", now + timedelta(minutes=59)) is not None
    assert sessions.read("idle", now + timedelta(minutes=60)) is None
    assert sessions.read("busy", now + timedelta(hours=7, minutes=59)) is not None
    assert sessions.read("busy", now + timedelta(hours=8)) is None
    assert sessions.forget_ended(now + timedelta(hours=8)) == 2


# -- a cookie copied before sign-out --------------------------------------------------------------
def test_a_cookie_copied_before_portal_sign_out_opens_nothing_after_it(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    service = onelogin(portal.porth, "other")
    dashboard = portal.sign_in("JonesA@hwbcymru.net")
    thief = browser_with(portal.porth, cookie_of(portal.client))
    assert thief.client.get("/portal/").status_code == 200  # the copy works while the session lives
    signed_out = portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(dashboard))})
    out = follow(portal.client, signed_out)
    assert "You have signed out" in text(out)
    assert thief.client.get("/portal/").status_code == 303
    assert not single_sign_on_answers(thief, service)


def test_a_cookie_copied_before_idp_sign_out_gets_no_response_after_it(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    url, request_id = service.login_url()
    assert service.accept(answer_form(porth.sign_in(url, "JonesA")), request_id).is_authenticated()
    thief = browser_with(porth, cookie_of(porth.client))
    assert single_sign_on_answers(thief, service)  # the copy works while the session lives
    page = porth.client.get("/idp/logout")
    porth.client.post("/idp/logout", data={"csrf_token": csrf_token(text(page))})
    assert not single_sign_on_answers(thief, service)


def test_a_cookie_copied_before_single_logout_gets_no_response_after_it(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    url, request_id = service.login_url()
    auth = service.accept(answer_form(porth.sign_in(url, "JonesA")), request_id)
    thief = browser_with(porth, cookie_of(porth.client))
    answer = porth.client.get(path_of(service.logout_url(auth.get_nameid(), auth.get_session_index())))
    assert answer.status_code == 303 and answer.headers["Location"].startswith("https://onelogin-sp.example/sls")
    assert not single_sign_on_answers(thief, service)


# -- a cookie planted before sign-in (session fixation) -------------------------------------------
def test_a_cookie_planted_before_portal_sign_in_is_worth_nothing_after_it(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    attacker = browser_with(portal.porth)
    form_page = follow(attacker.client, attacker.client.get("/portal/"))  # a session with a CSRF token
    planted, attackers_token = cookie_of(attacker.client), csrf_token(text(form_page))
    portal.client.set_cookie(COOKIE, planted)
    assert portal.sign_in("JonesA@hwbcymru.net").status_code == 200  # the victim signs in
    assert cookie_of(portal.client) != planted
    assert attacker.client.get("/portal/").status_code == 303
    # The token the attacker knows is not the victim's any more: a forged sign-out is refused.
    assert portal.client.post("/portal/sign-out", data={"csrf_token": attackers_token}).status_code == 400
    assert portal.client.get("/portal/").status_code == 200


def test_a_cookie_planted_before_idp_sign_in_is_worth_nothing_after_it(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    attacker = browser_with(porth)
    url, _ = service.login_url()
    attackers_form = follow(attacker.client, attacker.client.get(path_of(url)))
    planted, attackers_token = cookie_of(attacker.client), csrf_token(text(attackers_form))
    porth.client.set_cookie(COOKIE, planted)
    url, request_id = service.login_url()
    assert service.accept(answer_form(porth.sign_in(url, "JonesA")), request_id).is_authenticated()
    assert cookie_of(porth.client) != planted
    assert not single_sign_on_answers(attacker, service)
    porth.client.post("/idp/logout", data={"csrf_token": attackers_token})  # forged: refused
    assert single_sign_on_answers(porth, service)


def test_step_up_gives_a_new_session_id_and_csrf_token(porth, store, now):
    """R-6: ForceAuthn's password again is a sign-in too."""
    store.add_account(staff(password=PASSWORD), now)
    plain, strict = onelogin(porth, "plain"), onelogin(porth, "stepup", force_authn=True)
    url, request_id = plain.login_url()
    plain.accept(answer_form(porth.sign_in(url, "JonesA")), request_id)
    url, request_id = strict.login_url()
    form_page = follow(porth.client, porth.client.get(path_of(url)))
    before, old_token = cookie_of(porth.client), csrf_token(text(form_page))
    assert strict.accept(answer_form(porth.submit(form_page, "JonesA")), request_id).is_authenticated()
    assert cookie_of(porth.client) != before
    assert not single_sign_on_answers(browser_with(porth, before), plain)
    assert porth.client.post("/idp/logout", data={"csrf_token": old_token}).status_code == 400


# -- password changes and deactivation end sessions on other browsers --------------------------------
def _a_teacher_signed_in_elsewhere_and_the_champion_here(portal, now):
    """A teacher signed in to the portal in their own browser; the digital champion in `portal`."""
    store = portal.porth.runtime.store
    teacher = store.add_account(staff(password=PASSWORD), now)
    store.add_account(champion(), now)
    service = onelogin(portal.porth, "other")
    teachers = PortalBrowser(browser_with(portal.porth))
    teachers.sign_in("JonesA@hwbcymru.net")
    portal.sign_in("PriceN@hwbcymru.net")
    return store, teacher, service, teachers


def test_a_password_reset_signs_the_account_out_of_every_browser(portal, now):
    _, teacher, service, teachers = _a_teacher_signed_in_elsewhere_and_the_champion_here(portal, now)
    path = f"/portal/accounts/{teacher.id}/password/reset"
    assert portal_post(portal, path, {"password": "Newpass1234", "update": "yes"}, page=path).status_code == 303
    assert teachers.client.get("/portal/").status_code == 303
    assert not single_sign_on_answers(teachers.porth, service)
    assert portal.client.get("/portal/").status_code == 200  # the champion's own session goes on


def test_changing_your_own_password_signs_out_your_other_browsers_but_not_this_one(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    elsewhere = PortalBrowser(browser_with(portal.porth))
    elsewhere.sign_in("JonesA@hwbcymru.net")
    portal.sign_in("JonesA@hwbcymru.net")
    changed = portal_post(portal, "/portal/profile", {"password": "Newpass1234", "confirm": "Newpass1234"},
                          page="/portal/profile")
    assert changed.status_code == 303
    assert portal.client.get("/portal/profile").status_code == 200
    assert elsewhere.client.get("/portal/").status_code == 303


def test_removing_a_second_factor_signs_out_your_other_browsers_but_not_this_one(portal, now):
    """A phone lost with its authenticator app: removing the app ends the sessions it may have
    opened elsewhere, as changing a password does (issue 18 point 6)."""
    teacher = portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    checks = portal.porth.app.extensions["porth.idp"].second_factors
    secret = second_factor_rules.new_totp_secret()
    assert checks.enrol_totp(teacher, "Lost phone", secret,
                             second_factor_rules.totp_code(secret, second_factor_rules.time_step(now)), now)
    elsewhere = PortalBrowser(browser_with(portal.porth))
    elsewhere.sign_in("JonesA@hwbcymru.net")
    portal.sign_in("JonesA@hwbcymru.net")
    page = text(portal.open("/portal/profile/second-factors"))
    remove = re.search(r'href="(/portal/profile/second-factors/\d+/remove)"', page).group(1)
    asked = text(portal.client.get(remove))  # Remove asks first; its question's form does it
    assert "Remove Lost phone?" in asked and checks.store.has_factor(teacher.id)
    assert portal.client.post(remove, data={"csrf_token": csrf_token(asked)}).status_code == 303
    assert not checks.store.has_factor(teacher.id)
    assert portal.client.get("/portal/profile").status_code == 200
    assert elsewhere.client.get("/portal/").status_code == 303


def test_a_deactivated_account_stays_signed_out_after_it_is_reactivated(portal, now):
    """A-6: deactivation ends the sessions themselves, not only their use while deactivated."""
    store, teacher, service, teachers = _a_teacher_signed_in_elsewhere_and_the_champion_here(portal, now)
    assert portal_post(portal, f"/portal/accounts/{teacher.id}/deactivate", {}).status_code == 303
    assert portal_post(portal, f"/portal/accounts/{teacher.id}/reactivate", {}).status_code == 303
    assert store.get_account(teacher.id).is_active
    assert teachers.client.get("/portal/").status_code == 303
    assert not single_sign_on_answers(teachers.porth, service)


def test_a_new_username_and_its_new_password_sign_the_account_out_everywhere(portal, now):
    """A-5: the scheduled job that gives the new username sets a new password: the old one's sessions end."""
    runtime = portal.porth.runtime
    teacher = runtime.store.add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    assert username_changes.request_change(runtime.db, teacher.id, "PriceN", now)
    assert process_username_changes(JobContext(store=runtime.store, db=runtime.db, now=now)).counts == {"changed": 1}
    assert portal.client.get("/portal/").status_code == 303


# -- one answer per request (point 3) --------------------------------------------------------------
def test_a_continuation_token_serves_only_the_browser_that_brought_it_first(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    store.add_account(staff("Evans", "Bryn", code="S002", password=PASSWORD), now)
    service = onelogin(porth)
    url, request_id = service.login_url()
    # Sent by POST, so addressed to the POST endpoint (a Destination names where it is sent).
    posted = base64.b64encode(request_xml(url).replace(b"/idp/sso/redirect", b"/idp/sso/post")).decode("ascii")
    moved = porth.client.post("/idp/sso/post", data={"SAMLRequest": posted, "RelayState": "state-1"})
    assert moved.status_code == 303
    continuation = path_of(moved.headers["Location"])
    form_page = porth.client.get(continuation)
    assert 'name="password"' in text(form_page)
    assert 'name="password"' in text(porth.client.get(continuation + "&lang=cy"))  # the same browser again
    other = browser_with(porth)  # another browser, signed in itself (another account's session)
    other_url, other_id = service.login_url()
    assert service.accept(answer_form(other.sign_in(other_url, "EvansB")), other_id).is_authenticated()
    stolen = other.client.get(continuation)
    assert stolen.status_code == 400 and posted_form(text(stolen)) is None and 'name="password"' not in text(stolen)
    form = answer_form(porth.submit(form_page, "JonesA"))
    assert form.fields["RelayState"] == "state-1"
    assert service.accept(form, request_id).get_attribute("urn:oid:0.9.2342.19200300.100.1.1") == ["JonesA"]
    # Answered: the same browser bringing the link again (reload, back button) gets no second Response.
    again = porth.client.get(continuation)
    assert again.status_code == 400 and posted_form(text(again)) is None


def test_a_sign_in_form_token_serves_only_its_browser_and_answers_once(porth, store, now):
    store.add_account(staff(password=PASSWORD), now)
    store.add_account(staff("Evans", "Bryn", code="S002", password=PASSWORD), now)
    service = onelogin(porth)
    url, request_id = service.login_url()
    form_page = follow(porth.client, porth.client.get(path_of(url)))
    pending = text(form_page).split('name="pending" value="', 1)[1].split('"', 1)[0]
    welsh = porth.client.get(f"/idp/sign-in?pending={pending}&lang=cy")
    assert welsh.status_code == 200 and "Mewngofnodi" in text(welsh)  # the language switch still works
    other = browser_with(porth)
    other_url, _ = service.login_url()
    other_form = follow(other.client, other.client.get(path_of(other_url)))  # its own CSRF token
    stolen = other.client.post("/idp/sign-in", data={"csrf_token": csrf_token(text(other_form)), "pending": pending,
                                                     "username": "EvansB", "password": PASSWORD})
    assert stolen.status_code == 400 and posted_form(text(stolen)) is None
    assert service.accept(answer_form(porth.submit(form_page, "JonesA")), request_id).is_authenticated()
    again = porth.client.get(f"/idp/sign-in?pending={pending}")  # answered: not a second Response
    assert again.status_code == 400 and posted_form(text(again)) is None


# -- the portal's replay ledger (point 7) -----------------------------------------------------------
def test_a_response_replayed_with_the_cookie_from_before_it_is_refused(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    form_page = portal.open("/portal/")
    posted = posted_form(text(portal.porth.submit(form_page, "JonesA@hwbcymru.net")))
    replayer = browser_with(portal.porth, cookie_of(portal.client))  # the cookie the Response came to
    assert portal.client.post(ACS, data=posted.fields).status_code == 303
    refused = replayer.client.post(ACS, data=posted.fields)
    assert refused.status_code == 400 and "Sign-in did not work" in text(refused)
    assert replayer.client.get("/portal/").status_code == 303


def test_the_portal_accepts_each_response_once_whatever_the_session(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    form_page = portal.open("/portal/")
    with portal.client.session_transaction() as session:
        request_id = session["portal_sign_in"]["id"]
    posted = posted_form(text(portal.porth.submit(form_page, "JonesA@hwbcymru.net")))
    service_provider = portal.porth.app.extensions["porth.portal_sp"]
    assert service_provider.accept(posted.fields, request_id).username == "JonesA"
    with pytest.raises(PortalSignInRefused, match="accepted before"):
        service_provider.accept(posted.fields, request_id)


# -- idle timeout, web nodes, cookies ----------------------------------------------------------------
def test_a_session_ends_after_an_hour_without_a_request_and_requests_keep_it(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    interface = portal.porth.app.session_interface
    start = datetime.now(UTC)
    for minutes, status in ((40, 200), (80, 200), (139, 200), (200, 303)):  # idle 40, 40, 59, then 61 minutes
        interface.clock = lambda minutes=minutes: start + timedelta(minutes=minutes)
        assert portal.client.get("/portal/").status_code == status, minutes


def test_reading_pages_writes_the_session_at_most_once_a_minute(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    interface = portal.porth.app.session_interface
    start = datetime.now(UTC)

    def last_seen():
        return interface.store.read(cookie_of(portal.client), start).last_seen_at

    signed_in_at = last_seen()
    for seconds in (10, 25, 40):
        interface.clock = lambda seconds=seconds: start + timedelta(seconds=seconds)
        assert portal.client.get("/portal/").status_code == 200
        assert last_seen() == signed_in_at  # no write for a page read within the minute
    interface.clock = lambda: start + timedelta(minutes=2)
    assert portal.client.get("/portal/").status_code == 200
    assert last_seen() == start + timedelta(minutes=2)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_two_web_nodes_share_sessions_and_sign_outs(slapd, store, tmp_path, now, engine):
    urls = iter([f"sqlite:///{tmp_path / 'shared.sqlite3'}"]) if engine == "sqlite" else _postgres_database()
    for url in urls:
        nodes = [make_porth(slapd, tmp_path, database_url=url) for _ in range(2)]
        try:
            first, second = nodes
            store.add_account(staff(password=PASSWORD), now)
            PortalBrowser(first).sign_in("JonesA@hwbcymru.net")
            second.client.set_cookie(COOKIE, cookie_of(first.client))  # the load balancer picks the other node
            dashboard = second.client.get("/portal/")
            assert dashboard.status_code == 200
            second.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(dashboard))})
            assert first.client.get("/portal/").status_code == 303  # signed out at one node: at every node
        finally:
            for node in nodes:
                node.app.extensions["porth.idp"].close()
                node.runtime.close()


def test_over_https_cookies_are_host_cookies_and_browsers_are_told_to_keep_to_https(slapd, store, now, tmp_path):
    store.add_account(staff(password=PASSWORD), now)
    for base_url, secure in (("http://localhost", False), ("https://localhost", True)):
        node = make_porth(slapd, tmp_path / base_url.split(":")[0], base_url=base_url)
        try:
            url, _ = onelogin(node).login_url()
            page = follow(node.client, node.client.get(path_of(url), base_url=base_url))
            cookie = page.headers.get("Set-Cookie") or ""
            assert cookie.startswith("__Host-porth_session=" if secure else "porth_session=")
            assert "Path=/" in cookie and "Domain" not in cookie and ("Secure" in cookie) is secure
            assert (page.headers.get("Strict-Transport-Security") == "max-age=31536000") is secure
            language = node.client.get("/idp/problem?lang=cy", base_url=base_url).headers.get("Set-Cookie") or ""
            assert language.startswith("__Host-porth_lang=cy" if secure else "porth_lang=cy")
        finally:
            node.app.extensions["porth.idp"].close()
            node.runtime.close()
