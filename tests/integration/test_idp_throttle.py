"""The sign-in throttle counts people, not spellings, and counts every attempt of a burst
(issue 15 point 5; SPEC S-3), against a real slapd and real operational stores."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from directory.ldap.sign_in import SignInDirectory
from directory.rules.uid_matching import slapd_uid_form
from idp.throttling import username_key
from tests.integration.conftest import staff
from tests.integration.idp_fixtures import PASSWORD, make_porth
from tests.integration.test_idp_sso import onelogin
from tests.integration.test_operational_store import _postgres_database
from tests.saml_services import csrf_token, path_of


def full_width(text: str) -> str:
    """The FULLWIDTH LATIN forms (U+FF21...) of ASCII letters, as an East Asian keyboard types them."""
    return "".join(chr(ord(character) + 0xFEE0) if character.isascii() and character.isalpha() else character
                   for character in text)


# Spellings of JonesA that slapd's caseIgnoreMatch finds (checked below against slapd itself).
SPELLINGS_SLAPD_MATCHES = [
    "jonesa", "JONESA", full_width("JonesA"), full_width("jonesa"), "Jones" + full_width("A"),
    "Jone\u017fA",  # LATIN SMALL LETTER LONG S
    "\U0001d423onesA",  # MATHEMATICAL BOLD SMALL J
    "\u3000JonesA", "JonesA\u00a0", "JonesA@HWBCYMRU.NET", full_width("JONESA") + "@hwbcymru.net",
    "J" + full_width("O") + "NESa",
]
# Spellings slapd tells apart from JonesA (so does the sign-in).
CIRCLED = "\u24bfonesA"  # CIRCLED LATIN CAPITAL LETTER J: OpenLDAP's tables do not lower it
SPELLINGS_SLAPD_REFUSES = ["Jones A", "J\u200bonesA", "\U0001d409onesA", "JönesA", "JonesA\u00ad", CIRCLED]


def test_porths_uid_form_is_the_one_slapd_compares(slapd, store, now):
    """The rule in directory/rules/uid_matching.py, checked against slapd's own matching."""
    store.add_account(staff(password=PASSWORD), now)
    store.add_account(staff("Smith", "Ian", code="S002"), now)
    directory = SignInDirectory(store.config)
    try:
        # Lowered one character for one before NFKC: U+0130 is a plain i to slapd.
        assert directory.account("SMİTHİ") is not None and slapd_uid_form("SMİTHİ") == "smithi"
        for spelling in SPELLINGS_SLAPD_MATCHES + SPELLINGS_SLAPD_REFUSES + ["JonesA\u0301"]:
            found = directory.account(spelling) is not None
            assert found is (spelling in SPELLINGS_SLAPD_MATCHES), spelling
            # What slapd matches always has the throttle's one form (never a fresh counter) ...
            assert not found or username_key(spelling) == "jonesa", spelling
        # ... and the forms are as slapd's but for the characters OpenLDAP's tables do not lower.
        for spelling in SPELLINGS_SLAPD_MATCHES + SPELLINGS_SLAPD_REFUSES:
            name = spelling.strip().rpartition("@")[0] or spelling.strip()
            assert (slapd_uid_form(name) == "jonesa") is (spelling in SPELLINGS_SLAPD_MATCHES or spelling == CIRCLED)
    finally:
        directory.close()


def _frozen_clock(monkeypatch) -> datetime:
    """Every attempt at one instant: a burst, however slowly this machine runs it."""
    instant = datetime.now(UTC)
    monkeypatch.setattr("idp.views.utc_now", lambda: instant)
    return instant


def _count_password_checks(porth) -> list[str]:
    """Every call into the directory's password check, as the IdP makes it."""
    directory = porth.app.extensions["porth.idp"].directory
    checked: list[str] = []
    lock = threading.Lock()
    authenticate = directory.authenticate

    def counting(username: str, password: str):
        with lock:
            checked.append(username)
        return authenticate(username, password)

    directory.authenticate = counting
    return checked


def _sign_in_form(porth, service):
    """A browser of its own at Porth's sign-in form: (client, csrf token, pending token)."""
    client = porth.app.test_client()
    url, _ = service.login_url()
    page = client.get(path_of(url))
    while page.status_code in (302, 303):
        page = client.get(path_of(page.headers["Location"]))
    text = page.get_data(as_text=True)
    return client, csrf_token(text), text.split('name="pending" value="', 1)[1].split('"', 1)[0]


def _at_once(browsers, username: str, password: str) -> list[int]:
    """Each browser posts the sign-in form in a thread of its own, all released together."""
    start = threading.Barrier(len(browsers))
    statuses: list[int] = []

    def attack(browser) -> None:
        start.wait()
        statuses.append(_post(browser, username, password).status_code)

    threads = [threading.Thread(target=attack, args=(browser,)) for browser in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _post(browser, username: str, password: str):
    client, csrf, pending = browser
    return client.post("/idp/sign-in", data={"csrf_token": csrf, "pending": pending, "username": username,
                                              "password": password})


def test_unicode_spellings_that_slapd_matches_share_one_counter(slapd, store, now, tmp_path, monkeypatch):
    _frozen_clock(monkeypatch)
    porth = make_porth(slapd, tmp_path)  # three failures, then a wait; ten, then a lock
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    checked = _count_password_checks(porth)
    statuses = [_post(_sign_in_form(porth, service), spelling, "Wrong1234").status_code
                for spelling in SPELLINGS_SLAPD_MATCHES]
    assert len(statuses) == 12 and len(checked) == 3
    assert statuses == [200] * 3 + [429] * 9
    answer = _post(_sign_in_form(porth, service), "JonesA", PASSWORD)
    assert answer.status_code == 429 and "Too many attempts" in answer.get_data(as_text=True)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_parallel_burst_gets_no_more_password_checks_than_the_limit(slapd, store, now, tmp_path, monkeypatch,
                                                                       engine):
    _frozen_clock(monkeypatch)
    for url in _postgres_database() if engine == "postgresql" else iter([None]):
        porth = make_porth(slapd, tmp_path, database_url=url)
        try:
            store.add_account(staff(password=PASSWORD), now)
            service = onelogin(porth)
            browsers = [_sign_in_form(porth, service) for _ in range(32)]
            checked = _count_password_checks(porth)
            statuses = _at_once(browsers, "JonesA", "Wrong1234")
            assert sorted(statuses) == [200] * 3 + [429] * 29
            assert len(checked) == 3  # failures_before_delay: the others wait for the delay
        finally:
            porth.app.extensions["porth.idp"].close()
            porth.runtime.close()


def test_a_right_password_gives_its_attempt_back_and_an_ipv6_network_is_one_address(slapd, store, now,
                                                                                     tmp_path, monkeypatch):
    """A school signing in from one address is not slowed by its own successes; an attacker
    rotating through the addresses of one IPv6 /64 is still one address."""
    _frozen_clock(monkeypatch)
    porth = make_porth(slapd, tmp_path, address_failures_before_lock=10, failures_before_delay=50,
                       failures_before_lock=100)
    store.add_account(staff(password=PASSWORD), now)
    service = onelogin(porth)
    school = {"REMOTE_ADDR": "192.0.2.10"}
    for _ in range(12):  # more than the address allows, all of them right
        client, csrf, pending = _sign_in_form(porth, service)
        answer = client.post("/idp/sign-in", environ_base=school, data={
            "csrf_token": csrf, "pending": pending, "username": "JonesA", "password": PASSWORD})
        assert answer.status_code == 200 and "SAMLResponse" in answer.get_data(as_text=True)
    statuses = []
    for n in range(8):  # five failures reach the delay (half the lock); the rest wait
        client, csrf, pending = _sign_in_form(porth, service)
        statuses.append(client.post("/idp/sign-in", environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{n + 1:x}"},
                                    data={"csrf_token": csrf, "pending": pending, "username": f"Guess{n}",
                                          "password": "Wrong1234"}).status_code)
    assert statuses == [200] * 5 + [429] * 3


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_stores_counting_follows_the_pure_rule_over_time(engine, now, tmp_path):
    """The UPSERT's WHERE is the rule of idp/throttling.py written in SQL: step by step through
    delays, the lock, its end and a quiet period, both say the same."""
    from idp import throttling
    from idp.guards import SignInThrottle
    from operational.db import Database, KeptConnections

    urls = _postgres_database() if engine == "postgresql" else iter([f"sqlite:///{tmp_path / 'ops.sqlite3'}"])
    for url in urls:
        db = Database(url)
        db.migrate()
        connections = KeptConnections(db)
        limits = throttling.Limits(2, 6, timedelta(minutes=5))
        throttle = SignInThrottle(connections, b"key", limits, 1000)
        counter = None
        at = now
        steps = [0, 0, 0, 0.5, 1, 1, 2, 1, 4, 8, 8, 60, 240, 61, 1, 0, 400, 0, 0, 1]
        for gap in steps:
            at += timedelta(seconds=gap)
            expected = throttling.verdict(counter, at, limits)
            got = throttle.attempt("JonesA", "192.0.2.1", at)
            assert (got.wait_seconds == 0) == (expected.wait_seconds == 0), (at - now, counter)
            if expected.wait_seconds == 0:
                counter = throttling.after_failure(counter, at, limits)
            else:
                assert got.locked == expected.locked
        connections.close()
        db.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_people_signing_in_at_once_from_one_school_address_are_not_held_back(engine, now, tmp_path):
    """Requests overlap: one that started later may count its attempt first. Below the first
    delay that order must not matter: 16 pupils of one school (one address) signing in at once
    each get their password checked (bench/login.py saw 2-3 % answered 429 before)."""
    from idp import throttling
    from idp.guards import SignInThrottle
    from operational.db import Database, KeptConnections

    urls = _postgres_database() if engine == "postgresql" else iter([f"sqlite:///{tmp_path / 'ops.sqlite3'}"])
    for url in urls:
        db = Database(url)
        db.migrate()
        connections = KeptConnections(db)
        throttle = SignInThrottle(connections, b"key", throttling.Limits(3, 10, timedelta(minutes=15)), 300)
        started_later = throttle.attempt("PriceB42", "192.0.2.1", now + timedelta(milliseconds=40))
        started_first = throttle.attempt("LewisB42", "192.0.2.1", now)  # its clock read before the other's
        assert started_later.wait_seconds == 0 and started_first.wait_seconds == 0
        connections.close()
        db.dispose()
