"""The portal's Badges page (issue 18 point 1; SPEC R-3, R-5, R-7): a digital champion turns badges on
for chosen years and a mode, prints a group's badges (audited, not kept by the browser) and revokes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from directory.model import GroupKind, Role
from idp import badges
from operational import badges as stored
from operational.tables import AuditEvent
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token


def live_badges(db, school: str) -> dict[str, datetime]:
    """When each account with a live badge of the school had it printed (what the Badges table reads)."""
    return {account: state.issued_at for account, state in stored.badge_states(db, school).items()
            if state.revoked_at is None}


def text(response) -> str:
    return response.get_data(as_text=True)


def champion(portal, now):
    store = portal.porth.runtime.store
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      now)
    portal.sign_in("PriceN@hwbcymru.net")


def post(portal, path: str, data: dict, page: str = "/portal/badges"):
    return portal.client.post(path, data={"csrf_token": csrf_token(text(portal.open(page))), **data})


def test_a_champion_turns_badges_on_prints_a_year_and_revokes_one_learners_badge(portal, now):
    store = portal.porth.runtime.store
    infants = [store.add_account(learner(name, "Ann", year_group="1", registration_group="1A"), now)
               for name in ("Avery", "Bevan")]
    store.add_account(learner("Cole", "Ifan", year_group="4", registration_group="4B"), now)
    champion(portal, now)
    page = text(portal.open("/portal/badges"))
    assert 'id="badge-settings"' in page and 'id="badge-table"' not in page  # off until the champion turns it on

    saved = post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["N1", "N2", "R", "1", "2"],
                                                     "mode": "badge-and-pin"})
    assert saved.status_code == 303
    # the audit log says what the settings became, in the reader's language.
    english = "Badge sign-in on · Badge and a 4-digit PIN · Nursery 1, Nursery 2, Reception, Year 1, Year 2"
    welsh = ("Mewngofnodi gyda bathodyn ymlaen · Bathodyn a PIN 4 digid · Meithrin 1, Meithrin 2, Derbyn, "
             "Blwyddyn 1, Blwyddyn 2")
    for language, said in (("en", english), ("cy", welsh)):
        audit = text(portal.open(f"/portal/audit?action=badge-settings&lang={language}"))
        assert re.findall(r"data-detail>([^<]+)<", audit) == [said]
    portal.open("/portal/audit?lang=en")
    page = text(portal.open("/portal/badges"))
    assert re.findall(r'data-username="(\w+)"', page) == ["AveryA", "BevanA"]  # Year 4 may not have one
    printed = post(portal, "/portal/badges/print", {"group": "year:1", "all_shown": "yes"})
    sheet = text(printed)
    assert printed.status_code == 200 and printed.headers["Cache-Control"] == "no-store"
    assert sheet.count('class="badge-card"') == 2 and sheet.count("<svg") == 2
    assert re.findall(r'class="badge-pins__pin">(\d{4})<', sheet) and "Ysgol Brawf" in sheet
    live = live_badges(portal.porth.runtime.db, SCHOOL)
    assert set(live) == {a.id for a in infants}

    asked = post(portal, "/portal/badges/revoke", {"account": [infants[0].id]})
    question = text(asked)
    assert asked.status_code == 200 and "Revoke this learner&#39;s badge?" in question
    assert re.findall(r"<li>[^<]*\((\w+)\)</li>", question) == ["AveryA"]
    assert set(live_badges(portal.porth.runtime.db, SCHOOL)) == {a.id for a in infants}  # nothing yet
    revoked = portal.client.post("/portal/badges/revoke", data={
        "csrf_token": csrf_token(question), "confirmed": "yes", "account": [infants[0].id]})
    assert revoked.status_code == 303
    assert set(live_badges(portal.porth.runtime.db, SCHOOL)) == {infants[1].id}
    with portal.porth.runtime.db.session() as session:
        actions = [(e.action, e.target_id, e.actor) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                   if "badge" in e.action]
    assert actions == [("badge-settings", SCHOOL, "PriceN"), ("print-badge", infants[0].id, "PriceN"),
                       ("print-badge", infants[1].id, "PriceN"), ("revoke-badge", infants[0].id, "PriceN")]
    assert badges.read_school_badges(portal.porth.runtime.db, SCHOOL).years == ("N1", "N2", "R", "1", "2")


def test_revoking_a_groups_badges_is_confirmed_in_english_and_welsh_and_cancelling_keeps_them(portal, now):
    store = portal.porth.runtime.store
    infants = [store.add_account(learner(name, "Ann", year_group="R", registration_group="RA"), now)
               for name in ("Avery", "Bevan")]
    champion(portal, now)
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["R"], "mode": "badge"})
    post(portal, "/portal/badges/print", {"group": "year:R", "all_shown": "yes"})
    asked = post(portal, "/portal/badges/revoke?group=year:R", {"all_shown": "yes"}, page="/portal/badges?group=year:R")
    question = text(asked)
    assert asked.status_code == 200 and "Revoke the badges of Reception?" in question
    assert re.findall(r"<li>[^<]*\((\w+)\)</li>", question) == ["AveryA", "BevanA"]
    cancel = re.search(r'<a class="govuk-link" href="([^"]+)">Cancel</a>', question).group(1)
    assert text(portal.open(cancel.replace("&amp;", "&"))).count('data-badge="printed"') == 2  # nothing revoked
    welsh = text(portal.client.post("/portal/badges/revoke?group=year:R&lang=cy", data={
        "csrf_token": csrf_token(question), "all_shown": "yes"}))
    assert "Dirymu bathodynnau Derbyn?" in welsh and "peidio â’u mewngofnodi ar unwaith" in welsh
    done = portal.client.post("/portal/badges/revoke?group=year:R", data={
        "csrf_token": csrf_token(question), "confirmed": "yes",
        "account": re.findall(r'name="account" value="([^"]+)"', question)})
    assert done.status_code == 303 and live_badges(portal.porth.runtime.db, SCHOOL) == {}
    assert {a.id for a in infants} == set(re.findall(r'name="account" value="([^"]+)"', question))


def test_badges_of_another_school_are_not_found_and_school_staff_may_not_print_them(portal, now):
    store = portal.porth.runtime.store
    stranger = store.add_account(learner("Hughes", "Ela", year_group="1", school=OTHER_SCHOOL), now)
    champion(portal, now)
    assert portal.open(f"/portal/badges?school={OTHER_SCHOOL}").status_code == 404
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["1"], "mode": "badge"})
    printed = post(portal, "/portal/badges/print", {"account": [stranger.id]})
    assert printed.status_code == 400  # nobody of this school was chosen: nothing printed
    assert live_badges(portal.porth.runtime.db, OTHER_SCHOOL) == {}


def test_school_staff_see_no_badges_page(portal, now):
    store = portal.porth.runtime.store
    store.add_account(staff("Owen", "Huw", code="T1", password=PASSWORD), now)
    portal.sign_in("OwenH@hwbcymru.net")
    assert portal.open("/portal/badges").status_code == 403
    assert "/portal/badges" not in text(portal.open("/portal/"))


def _years_shown(page: str) -> tuple[list[str], list[str]]:
    """The year-group boxes of the badge settings, and those ticked."""
    boxes = re.findall(r'<input class="govuk-checkboxes__input" id="year-[^"]+" name="years" type="checkbox" '
                       r'value="([^"]+)"( checked)?>', page)
    return [value for value, _ in boxes], [value for value, ticked in boxes if ticked]


def test_each_school_is_offered_the_years_it_teaches_before_it_ever_saves(portal, now):
    """A primary is offered nursery to Year 6 with nursery to Year 2 ticked; a secondary that never
    chose is offered Years 7 to 14 with none ticked, and a year it does not teach is not taken."""
    store = portal.porth.runtime.store
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      now)
    store.add_account(staff("Hughes", "Siân", code="DC2", school=OTHER_SCHOOL, password=PASSWORD,
                            roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")
    offered, ticked = _years_shown(text(portal.open("/portal/badges")))
    assert offered == ["N1", "N2", "R", "1", "2", "3", "4", "5", "6"] and ticked == ["N1", "N2", "R", "1", "2"]

    portal.client.post("/portal/sign-out", data={"csrf_token": csrf_token(text(portal.open("/portal/")))})
    portal.porth.client = portal.porth.app.test_client()
    portal.sign_in("HughesS@hwbcymru.net")
    offered, ticked = _years_shown(text(portal.open("/portal/badges")))
    assert offered == [str(year) for year in range(7, 15)] and ticked == []
    refused = post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["1"], "mode": "badge"})
    assert refused.status_code == 400 and "Choose at least one year group" in text(refused)
    assert not badges.read_school_badges(portal.porth.runtime.db, OTHER_SCHOOL).enabled


def test_saving_with_no_year_shows_the_error_summary_and_keeps_what_was_chosen(portal, now):
    """The form comes back as it was sent (badges turned on, no year, the mode), with the GOV.UK error
    summary linking to the years and the error beside them, as the portal's other forms do."""
    champion(portal, now)
    refused = post(portal, "/portal/badges/settings", {"enabled": "yes", "mode": "badge-and-pin"})
    page = text(refused)
    assert refused.status_code == 400
    summary = re.search(r'<div class="govuk-error-summary".*?</ul>', page, re.DOTALL).group(0)
    assert "There is a problem" in summary and '<a href="#year-N1">Choose at least one year group</a>' in summary
    assert 'id="years-error"' in page and "govuk-form-group--error" in page
    assert re.search(r'id="enabled" name="enabled" type="checkbox" value="yes" checked>', page)
    assert _years_shown(page)[1] == []  # none ticked, as sent: not the years saved put back
    assert re.search(r'id="mode-pin" [^>]*checked>', page) and not re.search(r'id="mode-badge" [^>]*checked>', page)
    assert not badges.read_school_badges(portal.porth.runtime.db, SCHOOL).enabled  # nothing saved
    welsh = text(post(portal, "/portal/badges/settings?lang=cy", {"enabled": "yes"}))
    assert "Mae problem" in welsh and "Dewiswch o leiaf un grŵp blwyddyn" in welsh


def _badge_cells(page: str) -> dict[str, tuple[str, str]]:
    """Each learner's Badge cell: its state (data-badge) and its words, tags stripped."""
    rows = re.findall(r'data-username="(\w+)">.*?data-badge="([\w-]+)">(.*?)</td>', page, re.DOTALL)
    return {username: (state, " ".join(re.sub(r"<[^>]+>", " ", words).split())) for username, state, words in rows}


def test_after_pin_mode_is_turned_on_badges_printed_without_a_pin_are_marked_to_print_again(portal, now):
    """Cards printed in badge-only mode have no PIN: once the school is in badge + PIN mode they sign
    nobody in (idp/badges.py), so the saved message counts them, the page warns and each row says so."""
    store = portal.porth.runtime.store
    old, fresh = [store.add_account(learner(name, "Ann", year_group="1"), now) for name in ("Avery", "Bevan")]
    champion(portal, now)
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["1"], "mode": "badge"})
    post(portal, "/portal/badges/print", {"account": [old.id]})
    saved = post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["1"], "mode": "badge-and-pin"})
    page = text(portal.client.get(saved.headers["Location"]))
    assert "1 badge printed before has no PIN: it no longer signs in until it is printed again" in page
    assert "no longer sign in until they are printed again" in page  # the PIN mode's hint says it plainly
    today = datetime.now(UTC).strftime("%-d %b %Y")
    marked = f"Print again No PIN: this card no longer signs in. Printed {today}"
    assert _badge_cells(page) == {"AveryA": ("no-pin", marked), "BevanA": ("none", "No badge")}
    assert 'id="badges-without-pin"' in page and "1 learner shown has a badge printed without a PIN" in page

    question = text(post(portal, "/portal/badges/print", {"account": [old.id, fresh.id]}))  # Avery's is live
    confirmed = portal.client.post("/portal/badges/print", data={
        "csrf_token": csrf_token(question), "account": [old.id, fresh.id],
        **dict(re.findall(r'<input type="hidden" name="(confirmed|asked)" value="([^"]+)">', question))})
    assert confirmed.status_code == 200 and 'class="badge-pins__pin"' in text(confirmed)
    page = text(portal.open("/portal/badges"))
    assert {state for state, _ in _badge_cells(page).values()} == {"printed"} and "badges-without-pin" not in page
    welsh = text(portal.open("/portal/badges?lang=cy"))
    assert "nes iddynt gael eu hargraffu eto" in welsh  # the PIN mode hint, in Welsh


def test_a_revoked_badge_shows_when_it_was_revoked_not_no_badge(portal, now):
    store = portal.porth.runtime.store
    child = store.add_account(learner("Avery", "Ann", year_group="R"), now)
    champion(portal, now)
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["R"], "mode": "badge"})
    post(portal, "/portal/badges/print", {"account": [child.id]})
    portal.client.post("/portal/badges/revoke", data={
        "csrf_token": csrf_token(text(portal.open("/portal/badges"))), "confirmed": "yes", "account": [child.id]})
    today = datetime.now(UTC).strftime("%-d %b %Y")
    assert _badge_cells(text(portal.open("/portal/badges"))) == {"AveryA": ("revoked", f"Revoked {today}")}
    post(portal, "/portal/badges/print", {"account": [child.id]})  # a new card: printed again, nothing to confirm
    assert _badge_cells(text(portal.open("/portal/badges"))) == {"AveryA": ("printed", f"Printed {today}")}


def test_printing_learners_who_have_a_badge_is_confirmed_first_naming_how_many_cards_stop(portal, now):
    """Printing again makes a learner's card useless at once: with any chosen learner holding a live
    badge, Print badges asks first and says how many cards stop; learners with none print at once.
    A confirmation sent again after those badges were printed asks again instead of reprinting."""
    store = portal.porth.runtime.store
    had, new = [store.add_account(learner(name, "Ann", year_group="1"), now) for name in ("Avery", "Bevan")]
    champion(portal, now)
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["1"], "mode": "badge"})
    first = post(portal, "/portal/badges/print", {"account": [had.id]})
    assert first.status_code == 200 and text(first).count('class="badge-card"') == 1  # no badge yet: no question
    live = live_badges(portal.porth.runtime.db, SCHOOL)

    asked = post(portal, "/portal/badges/print?group=year:1", {"all_shown": "yes"}, page="/portal/badges?group=year:1")
    question = text(asked)
    assert asked.status_code == 200 and "Print new badges for these 2 learners?" in question
    assert "1 of these learners already has a badge: printing stops that current card working at once" in question
    assert re.findall(r"<li>[^<]*\((\w+)\)</li>", question) == ["AveryA", "BevanA"]
    assert re.search(r'<form method="post" action="/portal/badges/print\?[^"]*" target="_blank"', question)
    assert live_badges(portal.porth.runtime.db, SCHOOL) == live  # nothing printed yet
    hidden = dict(re.findall(r'<input type="hidden" name="(confirmed|asked)" value="([^"]+)">', question))
    confirmation = {"csrf_token": csrf_token(question), **hidden,
                    "account": re.findall(r'name="account" value="([^"]+)"', question)}
    printed = portal.client.post("/portal/badges/print?group=year:1", data=confirmation)
    assert printed.status_code == 200 and text(printed).count('class="badge-card"') == 2
    now_live = live_badges(portal.porth.runtime.db, SCHOOL)
    assert set(now_live) == {had.id, new.id} and now_live[had.id] > live[had.id]

    again = portal.client.post("/portal/badges/print?group=year:1", data=confirmation)  # pressed twice
    assert again.status_code == 200 and "already have badges: printing stops those 2 current cards" in text(again)
    assert live_badges(portal.porth.runtime.db, SCHOOL) == now_live
    welsh = text(post(portal, "/portal/badges/print?lang=cy", {"account": [had.id]}))
    assert "Mae gan y dysgwr hwn fathodyn yn barod" in welsh


def test_print_badges_with_nobody_ticked_is_a_short_page_leading_back_not_the_badges_page(portal, now):
    store = portal.porth.runtime.store
    store.add_account(learner("Avery", "Ann", year_group="1"), now)
    champion(portal, now)
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["1"], "mode": "badge"})
    refused = post(portal, "/portal/badges/print?group=year:1", {}, page="/portal/badges?group=year:1")
    page = text(refused)
    assert refused.status_code == 400 and "<h1 class=\"govuk-heading-xl\">Select at least one learner</h1>" in page
    assert "no badge was printed and nothing changed" in page and 'id="badge-settings"' not in page
    assert re.search(r'<a class="govuk-link" href="/portal/badges\?[^"]*group=year:1" id="way-back">'
                     r"Back to Badges</a>", page)
    assert live_badges(portal.porth.runtime.db, SCHOOL) == {}
    page = text(portal.open("/portal/badges"))  # the page's own message, for its script to show
    assert 'id="badge-choice-error" tabindex="-1" hidden' in page


def test_two_learners_of_one_name_get_cards_and_pins_told_apart_by_their_usernames(portal, now):
    """A class may hold two Ŵyn Morgans: each card, and each line of the PIN page, names the username,
    so the teacher hands each child their own card and PIN (a swapped card signs into the other account)."""
    store = portal.porth.runtime.store
    twins = [store.add_account(learner("Morgan", "Ŵyn", year_group="R", registration_group="RA"), now)
             for _ in range(2)]
    champion(portal, now)
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["R"], "mode": "badge-and-pin"})
    sheet = text(post(portal, "/portal/badges/print", {"group": "reg:RA", "all_shown": "yes"}))
    cards = re.findall(r'<section class="badge-card" data-username="(\w+)">.*?'
                       r'class="badge-card__username">(\w+)</p>', sheet, re.DOTALL)
    assert sorted(cards) == sorted((a.username, a.username) for a in twins)
    assert {a.username for a in twins} == {"MorganW", "MorganW2"}
    pins = re.findall(r'<tr data-username="(\w+)"><td>Ŵyn Morgan</td><td>(\w+)</td><td class="badge-pins__pin">\d{4}<',
                      sheet)
    assert sorted(pins) == sorted((a.username, a.username) for a in twins)


def _options(page: str) -> list[str]:
    """The values the group list offers (its first, "Select a group", has none)."""
    select = re.search(r'<select class="govuk-select" id="group".*?</select>', page, re.DOTALL).group(0)
    return [value for value in re.findall(r'<option value="([^"]*)"', select) if value]


def test_the_group_list_offers_only_groups_that_can_have_badges_and_an_old_link_says_why(portal, now):
    """With Reception to Year 2 chosen, Year 4, its registration group and its class are not offered
    (they could never list anyone); a Year 4 asked for by an old link says why in a sentence, in
    English and Welsh, instead of a bare "0 learners"."""
    store = portal.porth.runtime.store
    for kind, code in ((GroupKind.REGISTRATION_GROUP, "1A"), (GroupKind.REGISTRATION_GROUP, "4B"),
                       (GroupKind.CLASS, "1M"), (GroupKind.CLASS, "4M")):
        store.add_group(SCHOOL, kind, code)
    store.add_account(learner("Avery", "Ann", year_group="1", registration_group="1A", classes=("1M",)), now)
    store.add_account(learner("Cole", "Ifan", year_group="4", registration_group="4B", classes=("4M",)), now)
    champion(portal, now)
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["R", "1", "2"], "mode": "badge"})
    page = text(portal.open("/portal/badges"))
    assert _options(page) == ["reg:1A", "class:1M", "year:1"]

    old_link = text(portal.open("/portal/badges?group=year:4"))
    said = re.search(r'<p class="govuk-body" id="result-count">(.*?)</p>', old_link, re.DOTALL).group(1)
    assert "No learner of Year 4 may have a badge: badges are for Reception, Year 1, Year 2." in said
    assert '<a class="govuk-link" href="#badge-settings">Change the year groups in Settings</a>' in said
    assert "0 learners" not in old_link and 'id="badge-table"' not in old_link
    assert "No learner of 4B may have a badge" in text(portal.open("/portal/badges?group=reg:4B"))
    welsh = text(portal.open("/portal/badges?group=year:4&lang=cy"))
    assert ("Nid oes unrhyw un o ddysgwyr Blwyddyn 4 yn cael bathodyn: mae bathodynnau ar gyfer Derbyn, Blwyddyn 1, "
            "Blwyddyn 2.") in welsh
    assert re.findall(r'data-username="(\w+)"', text(portal.open("/portal/badges?group=year:1"))) == ["AveryA"]


def test_with_badges_off_live_badges_are_listed_to_revoke_and_nothing_prints(portal, now):
    """Badges turned off: the page still lists the learners whose badges are live (and only them),
    says those cards do not sign in while it is off and would again once it is on, offers no Print,
    and revoking works (audited); a print sent anyway is refused (409) and prints nothing."""
    store = portal.porth.runtime.store
    store.add_group(SCHOOL, GroupKind.REGISTRATION_GROUP, "1A")
    store.add_group(SCHOOL, GroupKind.REGISTRATION_GROUP, "2A")
    lost, kept = [store.add_account(learner(name, "Ann", year_group="1", registration_group="1A"), now)
                  for name in ("Avery", "Bevan")]
    store.add_account(learner("Cole", "Ifan", year_group="2", registration_group="2A"), now)  # never printed
    champion(portal, now)
    post(portal, "/portal/badges/settings", {"enabled": "yes", "years": ["1", "2"], "mode": "badge"})
    post(portal, "/portal/badges/print", {"account": [lost.id, kept.id]})
    post(portal, "/portal/badges/settings", {"years": ["1", "2"], "mode": "badge"})  # turned off
    assert not badges.read_school_badges(portal.porth.runtime.db, SCHOOL).enabled

    page = text(portal.open("/portal/badges"))
    assert re.findall(r'data-username="(\w+)"', page) == ["AveryA", "BevanA"]  # Cole has no badge to revoke
    assert "Learners with badges" in page and 'id="badges-off"' in page
    assert "do not sign anyone in while it is off, and will work again if it is turned back on" in page
    assert 'id="print-badges"' not in page and 'id="revoke-badges"' in page
    assert re.search(r'<form method="post" action="/portal/badges/revoke\?[^"]*" id="badge-learners"', page)
    assert _options(page) == ["reg:1A", "year:1"]  # 2A and Year 2 hold no live badge
    assert "No learner of 2A has a badge that could be revoked." in text(portal.open("/portal/badges?group=reg:2A"))
    welsh = text(portal.open("/portal/badges?lang=cy"))
    assert "Dysgwyr â bathodynnau" in welsh and "Mae mewngofnodi gyda bathodyn wedi’i ddiffodd" in welsh
    portal.open("/portal/badges?lang=en")  # the language is kept: English again for what follows

    refused = post(portal, "/portal/badges/print", {"account": [lost.id]})
    assert refused.status_code == 409
    question = text(post(portal, "/portal/badges/revoke", {"account": [lost.id]}))
    assert "Revoke this learner&#39;s badge?" in question
    done = portal.client.post("/portal/badges/revoke", data={
        "csrf_token": csrf_token(question), "confirmed": "yes", "account": [lost.id]})
    assert done.status_code == 303 and set(live_badges(portal.porth.runtime.db, SCHOOL)) == {kept.id}
    assert re.findall(r'data-username="(\w+)"', text(portal.open("/portal/badges"))) == ["BevanA"]
    # "All shown" while off is what was listed: Bevan's live badge, not Cole, who never had one.
    asked = text(post(portal, "/portal/badges/revoke", {"all_shown": "yes"}))
    assert re.findall(r"<li>[^<]*\((\w+)\)</li>", asked) == ["BevanA"]
    with portal.porth.runtime.db.session() as session:
        actions = [(e.action, e.target_id) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                   if "badge" in e.action and e.action != "badge-settings"]
    assert actions == [("print-badge", lost.id), ("print-badge", kept.id), ("revoke-badge", lost.id)]

    portal.client.post("/portal/badges/revoke", data={"csrf_token": csrf_token(asked), "confirmed": "yes",
                                                      "account": [kept.id]})
    page = text(portal.open("/portal/badges"))
    assert 'id="badge-settings"' in page and 'id="badges-off"' not in page  # nothing left to revoke
