"""Manage User, group actions, printing and downloads (issue 5 points 5 and 7;
SPEC A-3..A-6, C-3, P-1, P-2, R-1..R-7), each through the Flask test client."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC

from directory.model import AccountState, Consent, GroupKind, PasswordStatus, Role
from directory.rules.passwords import learner_words
from operational.audit import AuditFilter, events
from operational.username_changes import pending_among
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token


def text(response) -> str:
    return response.get_data(as_text=True)


def add(portal, new, now):
    return portal.porth.runtime.store.add_account(new, now)


def as_champion(portal, now):
    add(portal, staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")


def as_staff(portal, now):
    add(portal, staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")


def post(portal, path: str, data: dict | None = None, page: str = "/portal/"):
    token = csrf_token(text(portal.open(page)))
    return portal.client.post(path, data={"csrf_token": token, **(data or {})})


def audited(portal, action: str):
    return [entry for _id, entry in events(portal.porth.runtime.db, AuditFilter(action=action))]


def store(portal):
    return portal.porth.runtime.store


# -- one password -------------------------------------------------------------------------------
def test_a_typed_password_must_meet_the_policy_and_is_then_shown(portal, now):
    pupil = add(portal, learner("Avery", "Ann"), now)
    as_staff(portal, now)
    path = f"/portal/accounts/{pupil.id}/password/reset"
    refused = post(portal, path, {"password": "short", "update": "yes"}, page=path)
    assert refused.status_code == 400
    body = text(refused)
    assert "There is a problem" in body and "at least 8 characters" in body and "a number" in body
    done = post(portal, path, {"password": "Bluebell2024", "update": "yes"}, page=path)
    assert done.status_code == 303
    assert store(portal).get_account(pupil.id).password_status is PasswordStatus.AVAILABLE
    assert store(portal).reveal_password(pupil.id) == "Bluebell2024"
    assert portal.porth.app.extensions["porth.idp"].directory.authenticate("AveryA", "Bluebell2024").id == pupil.id
    [entry] = audited(portal, "reset-password")
    assert entry.actor == "JonesA" and entry.target_id == pupil.id and "Bluebell2024" not in str(entry)


def test_generate_learner_password_fills_in_a_word_and_digits_to_note_first(portal, now):
    pupil = add(portal, learner("Avery", "Ann"), now)
    as_staff(portal, now)
    path = f"/portal/accounts/{pupil.id}/password/reset"
    page = text(post(portal, path, {"generate": "learner", "password": ""}, page=path))
    generated = re.search(r'id="password" name="password" type="text" value="([^"]+)"', page).group(1)
    word = generated.rstrip("0123456789")
    assert word.lower() in {w.lower() for w in learner_words()} and len(generated) - len(word) == 4
    assert store(portal).get_account(pupil.id).password_status is PasswordStatus.UNAVAILABLE  # nothing set yet
    post(portal, path, {"password": generated, "update": "yes"}, page=path)
    assert store(portal).reveal_password(pupil.id) == generated


def test_reset_needs_the_csrf_token(portal, now):
    pupil = add(portal, learner("Avery", "Ann"), now)
    as_staff(portal, now)
    refused = portal.client.post(f"/portal/accounts/{pupil.id}/password/reset",
                                 data={"password": "Bluebell2024", "update": "yes"})
    assert refused.status_code == 400
    assert store(portal).get_account(pupil.id).password_status is PasswordStatus.UNAVAILABLE


# -- names and usernames ------------------------------------------------------------------------
def test_names_change_at_once_and_a_new_username_is_queued(portal, now):
    """A-5: the names now; Generate New Username waits for the job, and the page says so."""
    pupil = add(portal, learner("Avery", "Ann"), now)
    as_champion(portal, now)
    path = f"/portal/accounts/{pupil.id}/edit"
    assert post(portal, path, {"forename": "Anna", "surname": "Bevan", "new_username": "yes"},
                page=path).status_code == 303
    changed = store(portal).get_account(pupil.id)
    assert (changed.forename, changed.surname, changed.display_name) == ("Anna", "Bevan", "Anna Bevan")
    assert changed.username == "AveryA"  # not yet: the job makes it
    assert pending_among(portal.porth.runtime.db, [pupil.id]) == {pupil.id}
    assert "New username pending" in text(portal.open(f"/portal/accounts/{pupil.id}"))
    post(portal, path, {"forename": "Anna", "surname": "Bevan", "new_username": "yes"}, page=path)
    assert len(audited(portal, "request-new-username")) == 1  # asking again while pending adds nothing
    [edit] = audited(portal, "edit-names")
    assert edit.detail == {"from": "Ann Avery", "to": "Anna Bevan"}


def test_empty_names_are_refused_with_an_error_summary(portal, now):
    pupil = add(portal, learner("Avery", "Ann"), now)
    as_champion(portal, now)
    path = f"/portal/accounts/{pupil.id}/edit"
    refused = post(portal, path, {"forename": " ", "surname": "Bevan"}, page=path)
    assert refused.status_code == 400 and 'href="#forename"' in text(refused)
    assert store(portal).get_account(pupil.id).forename == "Ann"


# -- state ---------------------------------------------------------------------------------------
def test_deactivation_asks_first_and_reactivation_undoes_it(portal, now):
    governor = add(portal, staff("Ifan", "Gwen", code="G1"), now)
    as_champion(portal, now)
    question = text(portal.open(f"/portal/accounts/{governor.id}/deactivate"))
    assert "Are you sure you wish to deactivate this account?" in question
    assert store(portal).get_account(governor.id).state is AccountState.ACTIVE  # asking changes nothing
    post(portal, f"/portal/accounts/{governor.id}/deactivate")
    gone = store(portal).get_account(governor.id)
    assert gone.state is AccountState.DEACTIVATED and gone.state_change.by == "PriceN"
    post(portal, f"/portal/accounts/{governor.id}/reactivate")
    assert store(portal).get_account(governor.id).state is AccountState.ACTIVE
    assert [e.action for e in audited(portal, "deactivate") + audited(portal, "reactivate")] == [
        "deactivate", "reactivate"]


def test_nobody_deactivates_themselves(portal, now):
    as_champion(portal, now)
    me = store(portal).find_by_username("PriceN")
    assert portal.client.get(f"/portal/accounts/{me.id}/deactivate").status_code == 403


def test_staff_may_not_edit_deactivate_or_change_consent(portal, now):
    """R-2 against R-3: each refused on the server, GET and POST alike."""
    pupil = add(portal, learner("Avery", "Ann"), now)
    as_staff(portal, now)
    for path in (f"/portal/accounts/{pupil.id}/edit", f"/portal/accounts/{pupil.id}/deactivate",
                 f"/portal/accounts/{pupil.id}/consent/confirm"):
        assert portal.client.get(path).status_code == 403
        assert post(portal, path, {"forename": "X", "surname": "Y"}).status_code == 403
    assert store(portal).get_account(pupil.id).state is AccountState.ACTIVE


# -- consent --------------------------------------------------------------------------------------
def test_withdrawing_consent_warns_that_work_and_email_are_deleted(portal, now):
    """C-3: the warning before a withdrawal."""
    pupil = add(portal, learner("Avery", "Ann", consent=Consent.EXPLICIT), now)
    as_champion(portal, now)
    page = text(portal.open(f"/portal/accounts/{pupil.id}/consent/withdraw"))
    assert "ALL of the learner&#39;s work and email will be permanently deleted" in page
    done = post(portal, f"/portal/accounts/{pupil.id}/consent/withdraw")
    assert store(portal).get_account(pupil.id).consent is Consent.WITHDRAWN
    told = text(portal.open(done.headers["Location"]))  # said as withdrawn, never as "recorded"
    assert "Consent has been withdrawn." in told and "Consent has been recorded" not in told


def test_consent_is_confirmed_for_selected_learners_after_a_confirmation(portal, now):
    ticked = [add(portal, learner(name, "Dai"), now) for name in ("Avery", "Bevan")]
    untouched = add(portal, learner("Cole", "Cai"), now)
    elsewhere = add(portal, learner("Owen", "Osian", school=OTHER_SCHOOL), now)
    as_champion(portal, now)
    chosen = {"action": "confirm-consent", "school": SCHOOL, "account": [a.id for a in ticked] + [elsewhere.id]}
    question = post(portal, "/portal/users/learners/selected", chosen)
    assert question.status_code == 200 and "Confirm consent for these learners?" in text(question)
    assert "OwenO" not in text(question)  # another school's learner is never picked up
    assert all(store(portal).get_account(a.id).consent in (None, Consent.NOT_OBTAINED) for a in ticked)
    post(portal, "/portal/users/learners/selected", {**chosen, "confirmed": "yes"})
    assert [store(portal).get_account(a.id).consent for a in ticked] == [Consent.EXPLICIT, Consent.EXPLICIT]
    assert store(portal).get_account(untouched.id).consent in (None, Consent.NOT_OBTAINED)
    assert store(portal).get_account(elsewhere.id).consent in (None, Consent.NOT_OBTAINED)
    assert len(audited(portal, "confirm-consent")) == 2


# -- groups and selections ------------------------------------------------------------------------
def test_a_registration_groups_passwords_are_reset_together_then_printed(portal, now):
    """R-2: Group Actions > Reset Passwords > Registration Group; then Print With Password."""
    store(portal).add_group(SCHOOL, GroupKind.REGISTRATION_GROUP, "5B")
    in_group = [add(portal, learner(name, "Dai", registration_group="5B", password="Tiger4821"), now)
                for name in ("Avery", "Bevan", "Cole")]
    other = add(portal, learner("Davies", "Dai", registration_group="5C", password="Tiger4821"), now)
    as_staff(portal, now)
    question = post(portal, "/portal/users/learners/group-reset", {"group": "reg:5B"})
    assert "Reset the passwords of 5B?" in text(question) and text(question).count("<li>") == 3
    done = post(portal, "/portal/users/learners/group-reset", {"group": "reg:5B", "confirmed": "yes"})
    assert done.status_code == 303 and "print-group" in done.headers["Location"]
    new = {a.username: store(portal).reveal_password(a.id) for a in in_group}
    assert all(p != "Tiger4821" and p.rstrip("0123456789").lower() in {w.lower() for w in learner_words()}
               for p in new.values())
    assert store(portal).reveal_password(other.id) == "Tiger4821"
    slips = text(post(portal, "/portal/users/learners/print-group", {"group": "reg:5B", "passwords": "yes"}))
    assert slips.count('class="slip"') == 3
    for username, password in new.items():
        assert re.search(rf'data-username="{username}">.*?{password}', slips, re.DOTALL)
    assert len(audited(portal, "print-with-password")) == 3


def test_print_with_password_prints_only_available_passwords(portal, now):
    """P-1 and A-4: a user-changed password is never printed."""
    shown = add(portal, learner("Avery", "Ann", password="Tiger4821"), now)
    changed = add(portal, learner("Bevan", "Ben", password="Tiger4821"), now)
    store(portal).set_password(changed.id, "MyOwn4Password", set_by_user=True)
    as_staff(portal, now)
    slips = text(post(portal, "/portal/users/learners/selected", {
        "action": "print-with-passwords", "school": SCHOOL, "account": [shown.id, changed.id]}))
    assert "Tiger4821" in slips and "MyOwn4Password" not in slips
    assert "Not available: ask for a new password" in slips
    assert [e.target_id for e in audited(portal, "print-with-password")] == [shown.id]


def test_a_champion_resets_selected_staff_with_random_passwords(portal, now):
    colleague = add(portal, staff("Hughes", "Bet", code="S9"), now)
    as_champion(portal, now)
    post(portal, "/portal/users/staff/selected", {"action": "reset-passwords", "school": SCHOOL,
                                                   "account": [colleague.id], "confirmed": "yes"})
    password = store(portal).reveal_password(colleague.id)
    assert password and len(password) >= 10 and not password.rstrip("0123456789").isalpha()


def test_staff_cannot_select_staff(portal, now):
    colleague = add(portal, staff("Hughes", "Bet", code="S9"), now)
    as_staff(portal, now)
    refused = post(portal, "/portal/users/staff/selected", {"action": "reset-passwords", "school": SCHOOL,
                                                             "account": [colleague.id], "confirmed": "yes"})
    assert refused.status_code == 403
    assert post(portal, "/portal/users/learners/selected", {"action": "reset-passwords", "school": OTHER_SCHOOL,
                                                             "account": [colleague.id]}).status_code == 404


# -- downloads ------------------------------------------------------------------------------------
def test_all_pupils_csv_after_the_warning_has_exactly_the_p2_columns(portal, now):
    add(portal, learner("Avery", "Ann", password="Tiger4821", year_group="5", registration_group="5B",
                        admission_number="A001", consent=Consent.LEGACY), now)
    add(portal, learner("=Bevan", "Ben"), now)  # a name that looks like a formula
    as_staff(portal, now)
    warning = text(portal.open(f"/portal/download/pupils?school={SCHOOL}"))
    assert ("Please note: If you download user credentials, it is your responsibility to then ensure these "
            "are handled appropriately") in warning
    download = post(portal, f"/portal/download/pupils?school={SCHOOL}")
    assert download.headers["Content-Disposition"].startswith('attachment; filename="pupils-6612345-')
    rows = list(csv.reader(io.StringIO(text(download).lstrip("\ufeff"))))
    assert rows[0] == ["Forename", "Surname", "Username", "Password", "Date created", "Year", "Reg group",
                       "Consent", "Admission number"]
    avery = next(r for r in rows if r[1] == "Avery")
    assert avery[2:4] == ["AveryA@hwbcymru.net", "Tiger4821"] and avery[5:] == ["5", "5B", "Legacy consent", "A001"]
    assert next(r for r in rows if "Bevan" in r[1])[1] == "'=Bevan"
    assert len(rows) == 3 and audited(portal, "download-pupils")[0].detail["accounts"] == 2


def test_the_staff_csv_is_for_champions_only(portal, now):
    as_staff(portal, now)
    assert portal.client.get(f"/portal/download/staff?school={SCHOOL}").status_code == 403
    portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(portal.open("/portal/")))})
    as_champion(portal, now)
    rows = list(csv.reader(io.StringIO(text(post(portal, f"/portal/download/staff?school={SCHOOL}")).lstrip("\ufeff"))))
    assert rows[0] == ["Forename", "Surname", "Username", "Password", "Date created", "Staff code"]
    assert rows[1][0:3] + rows[1][5:] == ["Ann", "Jones", "JonesA@hwbcymru.net", "S001"]
    assert rows[1][3] == "Tiger4821"


# -- one's own password ---------------------------------------------------------------------------
def test_a_secondary_learner_changes_their_own_password(portal, now):
    """R-1 and A-4: afterwards the portal shows User changed password, and no copy is kept."""
    me = add(portal, learner("Owen", "Osian", school=OTHER_SCHOOL, password=PASSWORD), now)
    portal.sign_in("OwenO@hwbcymru.net")
    mismatch = post(portal, "/portal/profile", {"password": "Dragon2024x", "confirm": "Dragon2024y"},
                    page="/portal/profile")
    assert mismatch.status_code == 400 and "not the same" in text(mismatch)
    post(portal, "/portal/profile", {"password": "Dragon2024x", "confirm": "Dragon2024x"}, page="/portal/profile")
    after = store(portal).get_account(me.id)
    assert after.password_status is PasswordStatus.USER_CHANGED and store(portal).reveal_password(me.id) is None
    assert portal.porth.app.extensions["porth.idp"].directory.authenticate("OwenO", "Dragon2024x").id == me.id


def test_a_primary_learner_cannot_change_their_password(portal, now):
    add(portal, learner("Avery", "Ann", password=PASSWORD), now)
    page = text(portal.sign_in("AveryA@hwbcymru.net", path="/portal/profile"))
    assert "Ask your teacher" in page and 'name="password"' not in page
    assert post(portal, "/portal/profile", {"password": "Dragon2024x", "confirm": "Dragon2024x"},
                page="/portal/profile").status_code == 403
    assert portal.client.get("/portal/users/learners").status_code == 403


def test_the_print_page_switches_language_by_sending_the_same_request_again(portal, now):
    """Issue 5 point 11: the language switch is on the print page too."""
    pupil = add(portal, learner("Avery", "Ann", password="Tiger4821"), now)
    as_staff(portal, now)
    english = text(post(portal, "/portal/users/learners/selected", {
        "action": "print-with-passwords", "school": SCHOOL, "account": [pupil.id]}))
    assert "Username" in english and 'action="/portal/users/learners/selected?lang=cy"' in english
    welsh = text(post(portal, "/portal/users/learners/selected?lang=cy", {
        "action": "print-with-passwords", "school": SCHOOL, "account": [pupil.id]}))
    assert "Enw defnyddiwr" in welsh and "Tiger4821" in welsh and '<html lang="cy">' in welsh


def test_reactivating_an_expired_account_asks_for_a_new_expiry(portal, now):
    """L-1 with L-5: otherwise the expiry job would deactivate it again that night."""
    from datetime import datetime as moment
    from datetime import timedelta

    from directory.model import AccountKind, NewAccount
    from directory.rules.lifecycle import add_months

    today = moment.now(UTC)
    governor = add(portal, NewAccount(kind=AccountKind.GOVERNOR, surname="Ifan", forename="Gwen", created_by="test",
                                      school=SCHOOL, expiry=today - timedelta(days=3)), now)
    store(portal).set_state(governor.id, AccountState.DEACTIVATED, "scheduler", "expired", now)
    as_champion(portal, now)
    path = f"/portal/accounts/{governor.id}/reactivate"
    assert "it will now expire after" in text(portal.open(path))
    refused = post(portal, path, {}, page=path)
    assert refused.status_code == 400
    assert store(portal).get_account(governor.id).state is AccountState.DEACTIVATED
    post(portal, path, {"expiry": "3-months"}, page=path)
    back = store(portal).get_account(governor.id)
    assert back.state is AccountState.ACTIVE and back.expiry.date() == add_months(today.date(), 3)
