"""The portal's management area needs a second factor of the roles that must give one (issue 18
point 7; SPEC R-6, R-7): a digital champion without one is asked to enrol at their next sign-in,
enrols an authenticator app in My Profile (its QR code's secret read from the page, its codes
computed here), is then asked for it by the IdP, and gets in; their LA's Hwb administrator
resets a lost factor (audited), after which they must enrol again; staff are not asked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from directory.model import AccountKind, NewAccount, Role
from idp import second_factor_rules
from operational.audit import AuditFilter, events
from tests.integration.conftest import staff
from tests.integration.idp_fixtures import PASSWORD, make_porth
from tests.integration.portal_fixtures import PortalBrowser
from tests.saml_services import csrf_token, path_of, posted_form

ADMINISTRATORS = ["digital-champion", "la-administrator", "rec-administrator", "national-administrator"]


@pytest.fixture
def portal(slapd, store, tmp_path):
    made = make_porth(slapd, tmp_path, mfa={"required_roles": ADMINISTRATORS})
    yield PortalBrowser(made)
    made.app.extensions["porth.idp"].close()
    made.runtime.close()


def text(response) -> str:
    return response.get_data(as_text=True)


def champion(portal, now):
    return portal.porth.runtime.store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD,
                                                        roles=frozenset({Role.DIGITAL_CHAMPION})), now)


def code_for(secret: str, steps_ahead: int = 0) -> str:
    # An app shows the current code; the IdP also takes the next one (a phone's clock a little
    # ahead), which the step after enrolment needs: the enrolment code's step counts as used.
    return second_factor_rules.totp_code(secret, second_factor_rules.time_step(datetime.now(UTC)) + steps_ahead)


def enrol_app(portal) -> str:
    page = text(portal.open("/portal/profile/second-factors/app"))
    secret = re.search(r'id="totp-secret">([^<]+)<', page).group(1).replace(" ", "")
    assert "<svg" in page and "porth-qr" in page  # the QR code, drawn in the page
    codes_page = portal.client.post("/portal/profile/second-factors/app", data={
        "csrf_token": csrf_token(page), "label": "My phone", "code": code_for(secret)})
    assert codes_page.status_code == 200, text(codes_page)[:500]
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", text(codes_page))
    assert len(codes) == 10
    assert "Have your security key" not in text(codes_page)  # what comes next is said of an app
    return secret


def give_second_factor(portal, page, code: str):
    """The IdP's second-factor page, answered with a code, and the Response posted to the portal."""
    body = text(page)
    assert "Code from your authenticator app" in body, body[:1500]
    pending = re.search(r'name="pending" value="([^"]+)"', body).group(1)
    answer = portal.client.post("/idp/second-factor", data={"csrf_token": csrf_token(body), "pending": pending,
                                                            "method": "code", "code": code})
    posted = posted_form(text(answer))
    assert posted is not None, text(answer)[:1500]
    return portal.porth.follow(portal.client.post(path_of(posted.action), data=posted.fields))


def menu_of(page: str) -> list[str]:
    """The menu's areas (the links of the portal's navigation; Sign out is a button)."""
    nav = page[page.index('<ul class="govuk-service-navigation__list"'):page.index("</nav>")]
    return [unescape(label) for label in re.findall(r'<a class="govuk-service-navigation__link"[^>]*>([^<]+)</a>', nav)]


def test_a_champion_without_a_factor_enrols_one_then_is_asked_for_it_and_gets_in(portal, now):
    me = champion(portal, now)
    landed = portal.sign_in("PriceN@hwbcymru.net")
    assert 'id="must-enrol"' in text(landed), "asked to set up a second factor first"
    assert "Porth asks for it when you manage accounts, and when a service asks for it." in text(landed)
    # The menu offers only that: every other area would lead straight back here.
    assert menu_of(text(landed)) == ["Second factors"]
    for closed in ("/portal/", "/portal/users/staff", "/portal/profile"):
        assert path_of(portal.client.get(closed).headers["Location"]).startswith("/portal/profile/second-factors")

    secret = enrol_app(portal)
    # Now that there is a factor, the management area asks the IdP for it (no password again).
    step_up = portal.open("/portal/users/staff")
    dashboard = give_second_factor(portal, step_up, code_for(secret, 1))
    assert dashboard.status_code == 200 and "Staff" in text(dashboard)
    assert {"Dashboard", "View Users", "My Profile"} <= set(menu_of(text(dashboard)))  # every area again
    assert portal.client.get("/portal/users/staff").status_code == 200

    actions = [e.action for _, e in events(portal.porth.runtime.db, AuditFilter(target_id=me.id))]
    assert {"enrol-second-factor", "new-recovery-codes", "second-factor-used"} <= set(actions)


def test_members_of_staff_are_not_asked(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    landed = portal.sign_in("JonesA@hwbcymru.net")
    assert landed.status_code == 200 and 'id="must-enrol"' not in text(landed)
    assert portal.client.get("/portal/profile").status_code == 200
    # Their page promises only what happens: a service that asks for one, not the management area.
    page = text(portal.open("/portal/profile/second-factors"))
    assert "Porth asks for it when a service you sign in to asks for one." in page
    assert "when you manage accounts" not in page


def test_an_la_administrator_resets_a_champions_lost_factor_and_the_champion_enrols_again(portal, now):
    me = champion(portal, now)
    checks = portal.porth.app.extensions["porth.idp"].second_factors
    secret = second_factor_rules.new_totp_secret()
    checks.enrol_totp(me, "Old phone", secret, code_for(secret), datetime.now(UTC))
    store = portal.porth.runtime.store
    store.add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw", created_by="test",
                                 organisation="661", password=PASSWORD, roles=frozenset({Role.LA_ADMINISTRATOR})),
                      now)
    admin_secret = second_factor_rules.new_totp_secret()
    admin = store.find_by_username("EvansH")
    checks.enrol_totp(admin, "Phone", admin_secret, code_for(admin_secret), datetime.now(UTC))

    asked = portal.open("/portal/")  # the password, then the second factor
    assert 'name="password"' in text(asked)
    password_only = posted_form(text(portal.porth.submit(asked, "EvansH", PASSWORD)))
    step_up = portal.porth.follow(portal.client.post(path_of(password_only.action), data=password_only.fields))
    give_second_factor(portal, step_up, code_for(admin_secret, 1))
    details = text(portal.open(f"/portal/accounts/{me.id}"))
    assert 'id="reset-second-factor"' in details and "1 second factor" in details
    # One click asks first (as deactivating does), naming the person and what follows; nothing is reset yet.
    reset_url = f"/portal/accounts/{me.id}/second-factors/reset"
    assert f'href="{reset_url}"' in details and f'action="{reset_url}"' not in details
    question = portal.client.get(reset_url)
    assert question.status_code == 200
    asked = text(question)
    assert "Reset the second factor of Non Price?" in asked and "Non Price (PriceN)" in asked
    assert "must set up a second factor again the next time they sign in to the management area" in asked
    assert f'href="/portal/accounts/{me.id}"' in asked, "Cancel goes back to their page"
    assert checks.store.has_factor(me.id)
    done = portal.client.post(reset_url, data={"csrf_token": csrf_token(asked)})
    assert done.status_code == 303 and path_of(done.headers["Location"]) == f"/portal/accounts/{me.id}"
    assert not checks.store.has_factor(me.id)
    reset = [e for _, e in events(portal.porth.runtime.db, AuditFilter(target_id=me.id))
             if e.action == "reset-second-factor"]
    assert len(reset) == 1 and reset[0].actor == "EvansH"

    # Signed out everywhere by the reset; at the next sign-in the champion is asked to enrol again.
    portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(details)})
    portal.porth.client = portal.porth.app.test_client()
    landed = portal.sign_in("PriceN@hwbcymru.net")
    assert 'id="must-enrol"' in text(landed), "a reset factor is enrolled again"


def secret_on(page) -> str:
    return re.search(r'id="totp-secret">([^<]+)<', text(page)).group(1).replace(" ", "")


def test_the_key_being_enrolled_stays_the_same_across_reloads_and_language_switches_for_ten_minutes(
        portal, now, monkeypatch):
    champion(portal, now)
    portal.sign_in("PriceN@hwbcymru.net")
    first = portal.open("/portal/profile/second-factors/app")
    secret = secret_on(first)
    assert secret_on(portal.open("/portal/profile/second-factors/app")) == secret, "a reload shows the same key"
    welsh = portal.open("/portal/profile/second-factors/app?lang=cy")
    assert 'lang="cy"' in text(welsh) and secret_on(welsh) == secret, "so does the language switch"
    assert secret_on(portal.open("/portal/profile/second-factors/app?lang=en")) == secret
    # A wrong code keeps it too; the right code from the key scanned first is then accepted.
    wrong = portal.client.post("/portal/profile/second-factors/app", data={
        "csrf_token": csrf_token(text(first)), "label": "", "code": "000000" if code_for(secret) != "000000"
        else "111111"})
    assert wrong.status_code == 400 and secret_on(wrong) == secret
    done = portal.client.post("/portal/profile/second-factors/app", data={
        "csrf_token": csrf_token(text(first)), "label": "My phone", "code": code_for(secret)})
    assert done.status_code == 200 and "Your recovery codes" in text(done), text(done)[:800]


def test_a_key_handed_out_more_than_ten_minutes_ago_is_replaced_and_never_enrolled(portal, now, monkeypatch):
    from webui.portal import factors

    me = champion(portal, now)
    portal.sign_in("PriceN@hwbcymru.net")
    page = portal.open("/portal/profile/second-factors/app")
    secret = secret_on(page)
    later = datetime.now(UTC) + timedelta(seconds=factors.TOTP_ENROLMENT_SECONDS + 1)
    monkeypatch.setattr(factors, "utc_now", lambda: later)
    late = portal.client.post("/portal/profile/second-factors/app", data={
        "csrf_token": csrf_token(text(page)), "label": "My phone", "code": code_for(secret)})
    assert late.status_code == 400 and "The key to scan has expired" in text(late)
    assert secret_on(late) != secret, "a new key to scan"
    checks = portal.porth.app.extensions["porth.idp"].second_factors
    assert not checks.store.has_factor(me.id)
    # A key the form names is never taken: only the one handed out is.
    forged = portal.client.post("/portal/profile/second-factors/app", data={
        "csrf_token": csrf_token(text(late)), "secret": secret, "code": code_for(secret)})
    assert forged.status_code == 400 and not checks.store.has_factor(me.id)


def test_an_unnamed_factor_is_named_by_its_kind_in_the_readers_language_and_a_wrong_code_keeps_the_name(
        portal, now):
    me = champion(portal, now)
    portal.sign_in("PriceN@hwbcymru.net")
    page = portal.open("/portal/profile/second-factors/app?lang=cy")  # enrolled from a Welsh page
    secret = secret_on(page)
    wrong = portal.client.post("/portal/profile/second-factors/app", data={
        "csrf_token": csrf_token(text(page)), "label": "  Fy   ffôn ", "code": "12345"})
    assert wrong.status_code == 400
    assert re.search(r'id="label" name="label"[^>]*value="Fy ffôn"', text(wrong)), "the name typed is kept"
    done = portal.client.post("/portal/profile/second-factors/app", data={
        "csrf_token": csrf_token(text(page)), "label": "", "code": code_for(secret)})
    assert done.status_code == 200
    checks = portal.porth.app.extensions["porth.idp"].second_factors
    assert [f.label for f in checks.store.factors_of(me.id)] == [""], "no name stored, in no language"

    assert 'lang="en"' in text(portal.open("/schools?lang=en"))  # an English reader from now on
    step_up = portal.open("/portal/profile/second-factors")
    listed = text(give_second_factor(portal, step_up, code_for(secret, 1)))
    assert '<h3 class="govuk-summary-card__title">Authenticator app</h3>' in listed, listed[:3000]
    assert "Ap dilysu" not in listed
    welsh = text(portal.open("/portal/profile/second-factors?lang=cy"))
    assert '<h3 class="govuk-summary-card__title">Ap dilysu</h3>' in welsh


def test_the_default_names_stored_before_become_no_name(tmp_path):
    """Migration 0012: a factor enrolled unnamed before stored "Ap dilysu" or "Authenticator app"."""
    from alembic import command
    from sqlalchemy import insert, select

    from operational.db import Database
    from operational.tables import SecondFactor

    db = Database(f"sqlite:///{tmp_path / 'ops.db'}")
    config = db._alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0011")
    rows = [("totp", "Ap dilysu"), ("totp", "Authenticator app"), ("webauthn", "Allwedd ddiogelwch"),
            ("webauthn", "Security key"), ("totp", "My phone"), ("webauthn", "Ap dilysu")]
    with db.session() as session, session.begin():
        session.execute(insert(SecondFactor), [{"account_id": "a", "kind": kind, "label": label, "sign_count": 0,
                                                "created_at": datetime.now(UTC)} for kind, label in rows])
    db.migrate()
    with db.session() as session:
        labels = list(session.scalars(select(SecondFactor.label).order_by(SecondFactor.id)))
    assert labels == ["", "", "", "", "My phone", "Ap dilysu"]


def test_the_recovery_codes_page_has_a_print_button_run_by_the_portals_own_script(portal, now):
    champion(portal, now)
    portal.sign_in("PriceN@hwbcymru.net")
    page = portal.open("/portal/profile/second-factors/app")
    codes = portal.client.post("/portal/profile/second-factors/app", data={
        "csrf_token": csrf_token(text(page)), "label": "", "code": code_for(secret_on(page))})
    shown = text(codes)
    assert re.search(r'<button type="button"[^>]*data-print id="print-codes">Print these codes</button>', shown)
    assert re.search(r'<script src="/static/portal\.js[^"]*" defer></script>', shown)
    # The CSP allows scripts from the portal's own files only: nothing inline does the printing.
    policy = codes.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", shown)
    assert not re.search(r"\son[a-z]+=", shown), "no inline event handlers"


# -- Remove and Make new recovery codes ask first -------------------------------------------------
def factor_actions(portal, account_id: str) -> list[tuple[str, dict]]:
    return [(e.action, e.detail) for _, e in events(portal.porth.runtime.db, AuditFilter(target_id=account_id))
            if e.action in ("remove-second-factor", "new-recovery-codes")]


def warning_of(page: str) -> str:
    """The page's warning, without its hidden "Warning" prefix."""
    found = re.search(r'<strong class="govuk-warning-text__text"><span class="govuk-visually-hidden">[^<]*</span>'
                      r'(.*?)</strong>', page, re.DOTALL)
    return unescape(found.group(1)) if found else ""


def test_removing_a_factor_and_making_new_codes_ask_first_and_the_last_factor_says_what_follows(portal, now):
    me = champion(portal, now)
    checks = portal.porth.app.extensions["porth.idp"].second_factors
    portal.sign_in("PriceN@hwbcymru.net")
    secret = enrol_app(portal)  # "My phone", with the first factor's ten codes
    give_second_factor(portal, portal.open("/portal/profile/second-factors"), code_for(secret, 1))
    spare = second_factor_rules.new_totp_secret()
    checks.enrol_totp(me, "Old phone", spare, code_for(spare), datetime.now(UTC))
    old_phone = next(f for f in checks.store.factors_of(me.id) if f.label == "Old phone")
    my_phone = next(f for f in checks.store.factors_of(me.id) if f.label == "My phone")
    before = factor_actions(portal, me.id)

    listed = text(portal.open("/portal/profile/second-factors"))
    # Remove and Make new recovery codes are links to a question (no script needed): no form on the
    # list does either.
    remove_url = f"/portal/profile/second-factors/{old_phone.id}/remove"
    assert f'href="{remove_url}"' in listed and f'action="{remove_url}"' not in listed
    assert 'href="/portal/profile/second-factors/recovery-codes"' in listed
    assert 'action="/portal/profile/second-factors/recovery-codes"' not in listed

    # One click on Remove (a factor that is not the last): the question, naming it; nothing removed.
    question = portal.client.get(remove_url)
    asked = text(question)
    assert question.status_code == 200 and "<h1 class=\"govuk-heading-l\">Remove Old phone?</h1>" in asked
    assert warning_of(asked) == ("You will not be able to use Old phone to confirm it is you any more, and you "
                                 "will be signed out everywhere else.")
    assert 'href="/portal/profile/second-factors"' in asked, "Cancel goes back to the list"
    assert len(checks.store.factors_of(me.id)) == 2 and factor_actions(portal, me.id) == before
    # The POST needs the form's CSRF token; with it, the factor goes and the list says what is left.
    assert portal.client.post(remove_url).status_code == 400
    assert len(checks.store.factors_of(me.id)) == 2
    done = portal.client.post(remove_url, data={"csrf_token": csrf_token(asked)})
    assert done.status_code == 303 and path_of(done.headers["Location"]) == "/portal/profile/second-factors"
    assert [f.label for f in checks.store.factors_of(me.id)] == ["My phone"]
    assert checks.store.recovery_codes_left(me.id) == 10, "the codes stay while a factor is left"
    after = text(portal.client.get("/portal/profile/second-factors"))
    assert "Old phone has been removed. Your other second factors and your recovery codes still work." in after
    assert factor_actions(portal, me.id)[0] == (
        "remove-second-factor", {"kind": "totp", "label": "Old phone", "factor": old_phone.id})

    # One click on Make new recovery codes: the question; the codes they have still work.
    codes_url = "/portal/profile/second-factors/recovery-codes"
    question = portal.client.get(codes_url)
    asked = text(question)
    assert question.status_code == 200 and "Make new recovery codes?" in asked
    assert "will stop working at once" in warning_of(asked)
    assert len(factor_actions(portal, me.id)) == len(before) + 1, "no new codes made"
    assert portal.client.post(codes_url).status_code == 400
    made = portal.client.post(codes_url, data={"csrf_token": csrf_token(asked)})
    shown = text(made)
    assert made.status_code == 200 and len(re.findall(r"<li><code>([a-z0-9-]+)</code></li>", shown)) == 10
    assert "Your earlier recovery codes no longer work" in shown
    assert factor_actions(portal, me.id)[0] == ("new-recovery-codes", {"count": 10})

    # The last factor: the question says the recovery codes go with it, and that the role needs one.
    last_url = f"/portal/profile/second-factors/{my_phone.id}/remove"
    asked = text(portal.client.get(last_url))
    assert "Remove My phone?" in asked
    assert warning_of(asked) == (
        "My phone is your only second factor: your recovery codes will be removed with it, and you will be signed "
        "out everywhere else. Your role needs a second factor: the next time you sign in, you must set one up "
        "again before you can manage accounts.")
    welsh = text(portal.client.get(last_url + "?lang=cy"))
    assert "Dileu My phone?" in welsh and "rhaid i chi osod un eto cyn y gallwch reoli cyfrifon" in welsh
    assert checks.store.has_factor(me.id)
    portal.client.get(last_url + "?lang=en")  # an English reader again (the message is in the POST's language)
    portal.client.post(last_url, data={"csrf_token": csrf_token(asked)})
    assert not checks.store.has_factor(me.id) and checks.store.recovery_codes_left(me.id) == 0
    after = text(portal.client.get("/portal/profile/second-factors"))
    assert "Important" in after and ("My phone and your recovery codes have been removed. Your role needs a second "
                                     "factor: set one up now.") in after
    assert factor_actions(portal, me.id)[0] == (
        "remove-second-factor", {"kind": "totp", "label": "My phone", "factor": my_phone.id})
    # A factor gone (or never theirs) is not asked about: the list again.
    gone = portal.client.get(last_url)
    assert gone.status_code == 303 and path_of(gone.headers["Location"]) == "/portal/profile/second-factors"


def test_the_last_factor_of_a_role_that_needs_none_warns_of_the_codes_only(portal, now):
    me = portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    checks = portal.porth.app.extensions["porth.idp"].second_factors
    secret = second_factor_rules.new_totp_secret()
    checks.enrol_totp(me, "", secret, code_for(secret), datetime.now(UTC))
    checks.new_recovery_codes(me, datetime.now(UTC))
    (factor,) = checks.store.factors_of(me.id)
    portal.sign_in("JonesA@hwbcymru.net")
    url = f"/portal/profile/second-factors/{factor.id}/remove"
    asked = text(portal.open(url))
    assert "Remove Authenticator app?" in asked  # an unnamed factor, by its kind
    assert warning_of(asked) == ("Authenticator app is your only second factor: your recovery codes will be "
                                 "removed with it, and you will be signed out everywhere else.")
    assert "set one up" not in asked
    portal.client.post(url, data={"csrf_token": csrf_token(asked)})
    after = text(portal.client.get("/portal/profile/second-factors"))
    assert "Authenticator app and your recovery codes have been removed. You have no second factor now." in after
    assert "Success" in after and not checks.store.has_factor(me.id)
