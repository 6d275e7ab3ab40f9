"""Signing in with a badge (issue 18 points 2, 3 and its bad input; SPEC A-6, C-2, S-3, R-7),
through Porth's pages, against a real slapd and a strict python3-saml service."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from lxml import etree
from sqlalchemy import select

from directory import errors
from directory.model import AccountState, Consent, Role
from directory.rules.badges import BadgeMode, SchoolBadges, new_badge
from idp import badges
from idp.saml_xml import AUTHN_BADGE
from operational import badges as stored
from operational.tables import AuditEvent
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD, make_porth, porth  # noqa: F401 (fixture)
from tests.integration.portal_fixtures import PortalBrowser
from tests.integration.test_operational_store import _postgres_database
from tests.saml_services import OneLoginService, csrf_token, path_of, posted_form

BADGE_SERVICE = 'category = "core"\nrelease = ["username", "given_name"]\nallow_badge = true\n'
NOT_RIGHT = "That badge cannot sign you in"
PIN_NOT_RIGHT = "That badge and PIN do not match"
USERNAME = "urn:oid:0.9.2342.19200300.100.1.1"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def service(porth, policy: str = BADGE_SERVICE, name: str = "infants", **options) -> OneLoginService:
    made = OneLoginService(entity_id=f"https://{name}.example/sp", idp_metadata=porth.metadata,
                           requested_authn_context=False, **options)
    porth.register(name, made.metadata(), policy)
    return made


def _now():
    return datetime.now(UTC)


def badges_on(porth, mode: BadgeMode = BadgeMode.BADGE, school: str = SCHOOL) -> None:
    badges.save_school_badges(porth.runtime.db, school, SchoolBadges(enabled=True, mode=mode), "test", _now())


def print_badge(porth, account, school: str = SCHOOL, with_pin: bool = False):
    key = porth.app.extensions["porth.idp"].badges.key
    return badges.issue_badges(porth.runtime.db, key, school, [account.id], with_pin, "test", _now())[account.id]


def sign_in_page(porth, url: str):
    return porth.follow(porth.client.get(path_of(url)))


def badge_page(porth, url: str):
    page = sign_in_page(porth, url).get_data(as_text=True)
    assert 'id="badge-start"' in page, page[:3000]
    link = page.split('id="badge-start"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    return porth.client.get(link)


def post_badge(porth, page, badge: str, pin: str | None = None, environ: dict | None = None):
    text = page.get_data(as_text=True)
    pending = text.split('name="pending" value="', 1)[1].split('"', 1)[0]
    data = {"csrf_token": csrf_token(text), "pending": pending, "badge": badge}
    if pin is not None:
        data["pin"] = pin
    return porth.client.post("/idp/badge", data=data, environ_base=environ or {})


def with_badge(porth, infants: OneLoginService, token: str, pin: str | None = None):
    """What a child's device does: the sign-in page's "Sign in with my badge" shows the camera in the
    page (no request), and what it reads is posted."""
    url, request_id = infants.login_url()
    answer = post_badge(porth, sign_in_page(porth, url), token)
    if pin is not None:
        assert answer.status_code == 200 and 'id="pin"' in answer.get_data(as_text=True)
        answer = post_badge(porth, answer, token, pin)
    return answer, request_id


def audit_reasons(porth) -> list[str]:
    with porth.runtime.db.session() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "badge-sign-in")
                                 .order_by(AuditEvent.id)).all()
        return [e.detail["reason"] for e in events if e.outcome == "refused"]


def test_a_year_one_learner_signs_in_with_a_badge_and_the_service_is_told_it_was_a_badge(porth, store, now):
    child = store.add_account(learner(year_group="1", consent=Consent.NOT_OBTAINED), now)
    badges_on(porth)
    badge = print_badge(porth, child)
    infants = service(porth)
    answer, request_id = with_badge(porth, infants, badge.token)
    auth = infants.accept(posted_form(answer.get_data(as_text=True)), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_attribute(USERNAME) == [child.username]
    root = etree.fromstring(base64.b64decode(posted_form(answer.get_data(as_text=True)).fields["SAMLResponse"]))
    assert [e.text for e in root.iter(f"{{{SAML}}}AuthnContextClassRef")] == [AUTHN_BADGE]
    # The session is a badge session: a second visit is single sign-on, still a badge sign-in.
    url, request_id = infants.login_url()
    again = sign_in_page(porth, url)
    assert posted_form(again.get_data(as_text=True)) is not None


def test_a_badge_sign_in_is_recorded_as_a_sign_in_once_an_hour_as_lastbind_records_passwords(porth, store, now):
    """S-2: each sign-in records the time, a badge's too, though it binds no one. To the hour, as
    slapd keeps a password sign-in's: a child signing in all morning costs one write."""
    child = store.add_account(learner(year_group="1"), now)
    badges_on(porth)
    badge = print_badge(porth, child)
    infants = service(porth)
    assert store.get_account(child.id).last_sign_in is None
    answer, _ = with_badge(porth, infants, badge.token)
    assert posted_form(answer.get_data(as_text=True)) is not None
    recorded = store.get_account(child.id).last_sign_in
    assert recorded is not None and abs((recorded - _now()).total_seconds()) < 60

    half_an_hour_ago = (_now() - timedelta(minutes=30)).replace(microsecond=0)
    store.record_sign_in(child.id, half_an_hour_ago)
    porth.client.delete_cookie("porth_session")  # another tablet: a new sign-in, not single sign-on
    answer, _ = with_badge(porth, infants, badge.token)
    assert posted_form(answer.get_data(as_text=True)) is not None
    assert store.get_account(child.id).last_sign_in == half_an_hour_ago  # within the hour: not written

    yesterday = half_an_hour_ago - timedelta(days=1)
    store.record_sign_in(child.id, yesterday)
    porth.client.delete_cookie("porth_session")
    with_badge(porth, infants, badge.token)
    assert store.get_account(child.id).last_sign_in > yesterday + timedelta(hours=23)


def test_badge_sign_ins_go_on_when_their_time_cannot_be_written_and_stop_trying_for_a_while(porth, store, now,
                                                                                          monkeypatch):
    """Behind a consumer whose providers are all down the time cannot be written: the children are
    signed in all the same, and after one failure no sign-in waits on another try for a while."""
    children = [store.add_account(learner(name, "Ann", year_group="1"), now) for name in ("Avery", "Bevan")]
    badges_on(porth)
    printed = [print_badge(porth, child) for child in children]
    infants = service(porth)
    tries = []

    def providers_down(*_arguments):
        tries.append(1)
        raise errors.DirectoryUnavailable("ldap://provider: cannot reach the directory (chained write)")

    monkeypatch.setattr(porth.app.extensions["porth.idp"].directory._lookup, "replace", providers_down)
    for badge in printed:
        porth.client.delete_cookie("porth_session")
        answer, _ = with_badge(porth, infants, badge.token)
        assert posted_form(answer.get_data(as_text=True)) is not None  # signed in
    assert len(tries) == 1


def test_the_badge_secret_travels_in_a_post_body_and_the_camera_page_keeps_it_out_of_urls(porth, store, now):
    child = store.add_account(learner(year_group="R"), now)
    badges_on(porth)
    badge = print_badge(porth, child)
    infants = service(porth)
    url, _request_id = infants.login_url()
    page = badge_page(porth, url)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'method="post"' in text and 'name="badge" value=""' in text
    assert page.headers["Cache-Control"] == "no-store"
    assert badge.secret not in text
    assert "jsqr/jsQR.js" in text and "badge-scanner.js" in text


def test_the_sign_in_page_holds_the_camera_so_a_badge_sign_in_is_two_requests(porth, store, now):
    """Issue 18 point 5: no page of its own for the camera (the badge page stays, for no script)."""
    child = store.add_account(learner(year_group="1"), now)
    badges_on(porth)
    badge = print_badge(porth, child)
    infants = service(porth)
    url, request_id = infants.login_url()
    page = porth.client.get(path_of(url))  # the AuthnRequest, answered with the sign-in page
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "data-badge-panel hidden" in text and 'name="badge" value=""' in text
    # jsQR (250 kB) is fetched only once the camera starts: not by everyone who types a password.
    assert "jsqr/jsQR.js" in text and '<script src="/static/vendor' not in text
    answer = post_badge(porth, page, badge.token)
    assert infants.accept(posted_form(answer.get_data(as_text=True)), request_id).is_authenticated()


def test_made_up_badges_from_one_address_are_slowed_down_like_wrong_passwords(porth, store, now):
    """S-3: a badge is checked against the counters as they stand and counted when wrong."""
    child = store.add_account(learner(year_group="1"), now)
    badges_on(porth)
    badge = print_badge(porth, child)
    infants = service(porth)
    statuses = []
    for _ in range(4):
        made_up = f"B1.{badge.badge_id}." + "A" * 32  # the real card's id, a wrong secret
        answer, _id = with_badge(porth, infants, made_up)
        statuses.append(answer.status_code)
    assert statuses == [400, 400, 400, 429]
    # While that card must wait, even the right one waits, as a right password does.
    answer, _id = with_badge(porth, infants, badge.token)
    assert answer.status_code == 429 and "Too many attempts" in answer.get_data(as_text=True)
    assert audit_reasons(porth) == ["unknown badge"] * 3


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_class_signing_in_from_one_address_is_never_slowed_by_its_badges_but_made_up_ones_are(
        slapd, store, now, tmp_path, monkeypatch, engine):
    """S-3 on both operational stores: right badges leave the counters alone (read, never written),
    so a class of thirty at one school address signs in at once; made-up badges from that address,
    each a different card, slow down on the address's counter as wrong passwords do."""
    instant = datetime.now(UTC)
    monkeypatch.setattr("idp.views.utc_now", lambda: instant)  # one burst, however slow the machine
    for url in _postgres_database() if engine == "postgresql" else iter([None]):
        made = make_porth(slapd, tmp_path / engine, database_url=url, address_failures_before_lock=10,
                          failures_before_delay=50, failures_before_lock=100)
        try:
            children = [store.add_account(learner(f"Class{n}", "Ann", year_group="1"), now) for n in range(12)]
            badges_on(made)
            infants = service(made)
            school = {"REMOTE_ADDR": "192.0.2.10"}
            answers, signed_in = [], 0
            for child in children:  # more than the address's lock, all of them right
                made.client = made.app.test_client()
                url_, request_id = infants.login_url()
                page = made.client.get(path_of(url_), environ_base=school)
                answer = post_badge(made, page, print_badge(made, child).token, environ=school)
                answers.append(answer.status_code)
                posted = posted_form(answer.get_data(as_text=True))
                signed_in += bool(posted and infants.accept(posted, request_id).is_authenticated())
            assert answers == [200] * len(children) and signed_in == len(children)
            statuses = []
            for _ in range(8):  # five failures reach the address's delay (half its lock); the rest wait
                made.client = made.app.test_client()
                page = made.client.get(path_of(infants.login_url()[0]), environ_base=school)
                statuses.append(post_badge(made, page, new_badge(False).token, environ=school).status_code)
            assert statuses == [400] * 5 + [429] * 3
        finally:
            made.app.extensions["porth.idp"].close()
            made.runtime.close()


def test_a_revoked_badge_and_a_reprinted_ones_old_card_are_refused_like_a_wrong_password(porth, store, now):
    child = store.add_account(learner(year_group="2"), now)
    other = store.add_account(learner("Evans", "Cai", year_group="2"), now)
    badges_on(porth)
    infants = service(porth)
    first = print_badge(porth, child)
    second = print_badge(porth, child)  # a reprint: the first card is useless at once
    refused, _id = with_badge(porth, infants, first.token)
    assert refused.status_code == 400 and NOT_RIGHT in refused.get_data(as_text=True)
    answer, request_id = with_badge(porth, infants, second.token)
    assert infants.accept(posted_form(answer.get_data(as_text=True)), request_id).is_authenticated()

    porth.client = porth.app.test_client()  # another child at the same tablet, with a fresh browser
    other_badge = print_badge(porth, other)
    assert stored.revoke_badges(porth.runtime.db, [other.id], _now()) == [other.id]
    refused, _id = with_badge(porth, infants, other_badge.token)  # a photo replayed after revocation
    assert refused.status_code == 400 and NOT_RIGHT in refused.get_data(as_text=True)
    made_up, _id = with_badge(porth, infants, other_badge.token[:-4] + "AAAA")
    assert made_up.status_code == 400 and NOT_RIGHT in made_up.get_data(as_text=True)
    assert audit_reasons(porth) == ["reprinted", "revoked", "unknown badge"]
    # R-7, R-5: the printing school's audit log shows its cards' refusals; a made-up badge belongs to no school.
    assert audit_schools(porth) == [SCHOOL, SCHOOL, None]

    # The school's champion reads them: whose card it was (the check itself stopped before reading the
    # account) and why, worded, in both languages.
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      _now())
    champion = PortalBrowser(porth)
    porth.client = porth.app.test_client()
    champion.sign_in("PriceN@hwbcymru.net")
    for language, holder, reasons in (
            ("en", "Someone holding a badge", ["The badge was revoked", "A newer badge was printed"]),
            ("cy", "Rhywun yn dal bathodyn", ["Cafodd y bathodyn ei ddirymu", "Cafodd bathodyn newydd ei argraffu"])):
        page = champion.open(f"/portal/audit?action=badge-sign-in&lang={language}").get_data(as_text=True)
        rows = re.findall(r'<tr class="govuk-table__row" data-action="badge-sign-in">(.*?)</tr>', page, re.DOTALL)
        assert len(rows) == 2, page[:2000]  # the made-up badge's is a national administrator's to see
        cells = [re.findall(r'<td class="govuk-table__cell">(.*?)</td>', row, re.DOTALL) for row in rows]
        assert [unescape(c[1]).strip() for c in cells] == [holder, holder]
        assert [c[3].split("<")[0].strip() for c in cells] == [other.username, child.username]
        assert [unescape(re.search(r"data-detail>([^<]+)<", c[2]).group(1)) for c in cells] == reasons


def audit_schools(porth) -> list[str | None]:
    with porth.runtime.db.session() as session:
        return list(session.scalars(select(AuditEvent.school).where(
            AuditEvent.action == "badge-sign-in", AuditEvent.outcome == "refused").order_by(AuditEvent.id)))


def test_pin_mode_asks_for_the_pin_and_a_pin_guessed_again_and_again_is_throttled(porth, store, now):
    child = store.add_account(learner(year_group="N2"), now)
    badges_on(porth, BadgeMode.BADGE_AND_PIN)
    badge = print_badge(porth, child, with_pin=True)
    assert badge.pin is not None and len(badge.pin) == 4
    infants = service(porth)
    url, _request_id = infants.login_url()
    pin_page = post_badge(porth, badge_page(porth, url), badge.token)
    assert 'id="pin"' in pin_page.get_data(as_text=True)
    wrong = str((int(badge.pin) + 1) % 10000).zfill(4)
    statuses = []
    page = pin_page
    for _ in range(6):
        page = post_badge(porth, page, badge.token, wrong)
        statuses.append(page.status_code)
        said = page.get_data(as_text=True)
        # A child who mistyped is told the badge and PIN do not match, never that the card is bad.
        assert (PIN_NOT_RIGHT in said or "Too many attempts" in said) and NOT_RIGHT not in said
    assert statuses[:3] == [400, 400, 400] and 429 in statuses  # S-3: slowed down like passwords
    assert audit_reasons(porth).count("wrong PIN") >= 3


def test_the_right_pin_signs_the_learner_in(porth, store, now):
    child = store.add_account(learner(year_group="N1"), now)
    badges_on(porth, BadgeMode.BADGE_AND_PIN)
    badge = print_badge(porth, child, with_pin=True)
    infants = service(porth)
    answer, request_id = with_badge(porth, infants, badge.token, pin=badge.pin)
    assert infants.accept(posted_form(answer.get_data(as_text=True)), request_id).is_authenticated()


def test_a_badge_printed_before_pin_mode_is_refused_at_once_never_asked_for_a_pin_it_does_not_have(
        porth, store, now):
    """A card printed in badge-only mode has no PIN: once the school turns PIN mode on, the child is
    never asked for one (they could not give it), the badge is refused with the one message every
    refusal gets, and the audit log says why, until the card is printed again."""
    child = store.add_account(learner(year_group="1"), now)
    badges_on(porth)
    old = print_badge(porth, child)
    badges_on(porth, BadgeMode.BADGE_AND_PIN)
    infants = service(porth)
    refused, _id = with_badge(porth, infants, old.token)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and NOT_RIGHT in page and 'id="pin"' not in page
    assert audit_reasons(porth) == [badges.NO_PIN_PRINTED]
    again = print_badge(porth, child, with_pin=True)
    answer, request_id = with_badge(porth, infants, again.token, pin=again.pin)
    assert infants.accept(posted_form(answer.get_data(as_text=True)), request_id).is_authenticated()


def test_a_learner_outside_the_chosen_years_staff_and_another_schools_badge_are_refused(porth, store, now):
    year_three = store.add_account(learner(year_group="3"), now)
    teacher = store.add_account(staff(), now)
    elsewhere = store.add_account(learner("Hughes", "Ela", year_group="1"), now)
    badges_on(porth)
    badges_on(porth, school=OTHER_SCHOOL)
    infants = service(porth)
    for token in (print_badge(porth, year_three).token, print_badge(porth, teacher).token,
                  print_badge(porth, elsewhere, school=OTHER_SCHOOL).token):
        refused, _id = with_badge(porth, infants, token)
        assert refused.status_code == 400 and NOT_RIGHT in refused.get_data(as_text=True)
    assert audit_reasons(porth) == ["outside-years", "not-a-learner", "other-school"]


def test_a_school_that_turns_badges_off_stops_every_badge(porth, store, now):
    child = store.add_account(learner(year_group="1"), now)
    badges_on(porth)
    badge = print_badge(porth, child)
    badges.save_school_badges(porth.runtime.db, SCHOOL, SchoolBadges(enabled=False), "test", _now())
    refused, _id = with_badge(porth, service(porth), badge.token)
    assert refused.status_code == 400 and audit_reasons(porth) == ["not-enabled"]


def test_a_card_of_a_school_in_pin_mode_that_turns_badges_off_is_refused_at_once_never_asked_for_its_pin(
        porth, store, now):
    """Badges off: a card with a PIN is refused when it is scanned, with the one message every refused
    badge gets, as a card with no PIN is in PIN mode; the child is never asked for a PIN that could
    open nothing. The audit log says why. Turned on again, the same card asks for its PIN again."""
    child = store.add_account(learner(year_group="1"), now)
    badges_on(porth, BadgeMode.BADGE_AND_PIN)
    badge = print_badge(porth, child, with_pin=True)
    badges.save_school_badges(porth.runtime.db, SCHOOL, SchoolBadges(enabled=False, mode=BadgeMode.BADGE_AND_PIN),
                              "test", _now())
    infants = service(porth)
    refused, _id = with_badge(porth, infants, badge.token)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and NOT_RIGHT in page and 'id="pin"' not in page
    assert audit_reasons(porth) == ["not-enabled"] and audit_schools(porth) == [SCHOOL]
    # A PIN page left open from before badges were turned off: its right PIN opens nothing either, with
    # the PIN page's one message, and the log says badges were off (not a wrong PIN).
    url, _request_id = infants.login_url()
    guessed = post_badge(porth, sign_in_page(porth, url), badge.token, badge.pin)
    assert guessed.status_code == 400 and PIN_NOT_RIGHT in guessed.get_data(as_text=True)
    assert audit_reasons(porth) == ["not-enabled", "not-enabled"]
    badges_on(porth, BadgeMode.BADGE_AND_PIN)
    answer, request_id = with_badge(porth, infants, badge.token, pin=badge.pin)
    assert infants.accept(posted_form(answer.get_data(as_text=True)), request_id).is_authenticated()


def test_a_deactivated_learner_and_one_without_consent_are_refused_as_with_a_password(porth, store, now):
    gone = store.add_account(learner(year_group="1"), now)
    child = store.add_account(learner("Evans", "Cai", year_group="1", consent=Consent.NOT_OBTAINED), now)
    badges_on(porth)
    gone_badge, child_badge = print_badge(porth, gone), print_badge(porth, child)
    store.set_state(gone.id, AccountState.DEACTIVATED, "test", "left", now + timedelta(seconds=1))
    infants = service(porth, BADGE_SERVICE.replace('"core"', '"additional"'))
    refused, _id = with_badge(porth, infants, gone_badge.token)
    assert refused.status_code == 403 and "Your account is not active" in refused.get_data(as_text=True)
    no_consent, _id = with_badge(porth, infants, child_badge.token)
    assert no_consent.status_code == 403 and posted_form(no_consent.get_data(as_text=True)) is None


def test_badges_serve_only_services_that_allow_them_and_requests_asking_for_no_password(porth, store, now):
    child = store.add_account(learner(year_group="1", password=PASSWORD), now)
    badges_on(porth)
    badge = print_badge(porth, child)
    plain = service(porth, 'category = "core"\nrelease = ["username"]\n', name="plain")
    url, _id = plain.login_url()
    assert 'id="badge-start"' not in sign_in_page(porth, url).get_data(as_text=True)
    strict = service(porth, BADGE_SERVICE, name="strict")
    strict.requested_authn_context = True  # python3-saml's default: PasswordProtectedTransport
    url, _id = strict.login_url()
    assert 'id="badge-start"' not in sign_in_page(porth, url).get_data(as_text=True)

    # A badge session does not carry the learner into a service that wants a password.
    infants = service(porth)
    answer, request_id = with_badge(porth, infants, badge.token)
    assert infants.accept(posted_form(answer.get_data(as_text=True)), request_id).is_authenticated()
    url, _id = plain.login_url()
    page = sign_in_page(porth, url)
    assert posted_form(page.get_data(as_text=True)) is None and 'name="password"' in page.get_data(as_text=True)
    # ...and the badge page itself refuses such a service.
    pending = page.get_data(as_text=True).split('name="pending" value="', 1)[1].split('"', 1)[0]
    refused = porth.client.get(f"/idp/badge?pending={pending}")
    assert refused.status_code == 403
