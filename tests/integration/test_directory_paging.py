"""A list page reads only its page (issue 16 point 10): slapd sorts in register order and sends
one window (sssvlv: server-side sort and virtual list view), with the list's total; a directory
without the controls pages by reading the whole list, as before; an instance made by an older
Porth gains the overlay at start. Register order: SPEC R-2 (a learner is found as in the register)."""

from __future__ import annotations

import importlib.resources
import logging
from datetime import UTC, datetime

import ldap
import pytest
from ldap.controls.sss import SSSRequestControl
from ldap.controls.vlv import VLVRequestControl

from directory.ldap.accounts import REGISTER_SORT_KEYS
from directory.ldap.connections import SORTS_PER_CONNECTION
from directory.model import AccountKind, AccountState, Consent, GroupKind, subsidiary_group
from directory.rules.register_order import register_key
from directory.slapd import PrivateSlapd
from directory.store import AccountQuery
from tests.conftest import free_port
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL, learner, make_store, staff

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
LEARNERS = AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), states=(AccountState.ACTIVE,))

# Names where slapd's case folding and Python's casefold give the same register order: Welsh
# circumflexes and diaereses, other accents, apostrophes (straight and curly), hyphens, the
# particles ap / ab / de, Mac / Mc, one name in three cases, and the same name twice (the
# username decides between them).
AGREEING_NAMES = [
    ("Ŵyn", "Aled"), ("Wyn", "Beca"), ("Williams", "Ffion"), ("ap Rhys", "Gwion"), ("Ap Dafydd", "Iolo"),
    ("ab Owen", "Lowri"), ("O'Brien", "Siân"), ("Obrien", "Tom"), ("O’Neill", "Cai"), ("ONeill", "Dafydd"),
    ("Öztürk", "Elif"), ("Ozturk", "Can"), ("Éluard", "Paul"), ("Evans", "Ëlen"), ("Evans", "Elen"),
    ("EVANS", "elen"), ("Jones-Evans", "Mari"), ("Jones", "Zoe"), ("de la Cruz", "Ana"), ("Llewelyn", "Dai"),
    ("Lloyd", "Nia"), ("Lewis", "Owain"), ("MacDonald", "Rob"), ("Mcdonald", "Sam"), ("Jones", "Zoë"),
    ("Rhŷs", "Gethin"), ("Rhys", "Gethin"), ("Hâf", "Elin"), ("Haf", "Elin"),
]


def names(accounts):
    return [(a.surname, a.forename, a.username) for a in accounts]


def register(store, query):
    return names(sorted(store.find_accounts(query), key=register_key))


def test_each_page_is_the_registers_slice_and_knows_the_lists_size(store):
    """Page n of 50 is the n-th 50 of the register; the total and page count are the list's; a
    page past the end is the last page, page 0 the first (R-2)."""
    for n in range(120):
        store.add_account(learner(f"Surname{n * 37 % 120:03d}", f"Forename{n % 7}"), NOW)
    store.add_account(staff("Aaron", "Staff"), NOW)  # another kind: not on the learners' list
    whole = register(store, LEARNERS)
    assert store._ldap.offers_sorted_windows()
    pages = [store.find_page(LEARNERS, number, 50) for number in (1, 2, 3)]
    assert [names(p.accounts) for p in pages] == [whole[:50], whole[50:100], whole[100:]]
    assert [(p.number, p.total, p.count) for p in pages] == [(1, 120, 3), (2, 120, 3), (3, 120, 3)]
    past_the_end = store.find_page(LEARNERS, 9, 50)
    assert (past_the_end.number, names(past_the_end.accounts)) == (3, whole[100:])
    assert names(store.find_page(LEARNERS, 0, 50).accounts) == whole[:50]
    typed = store.find_page(LEARNERS, 10**12, 50)  # ?page= typed into the address bar
    assert (typed.number, names(typed.accounts)) == (3, whole[100:])
    nobody = store.find_page(AccountQuery(school=OTHER_SCHOOL, kinds=(AccountKind.LEARNER,)), 1, 50)
    assert (nobody.accounts, nobody.number, nobody.total, nobody.count) == ([], 1, 0, 1)


def test_welsh_accented_and_apostrophe_names_come_in_register_order(store):
    for surname, forename in AGREEING_NAMES:
        store.add_account(learner(surname, forename), NOW)
    page = store.find_page(LEARNERS, 1, 50)
    assert names(page.accounts) == register(store, LEARNERS)
    surnames = [a.surname for a in page.accounts]
    # Accented capitals sort after z, as in today's portal: Éluard, Öztürk and Ŵyn come last.
    assert surnames[-3:] == ["Éluard", "Öztürk", "Ŵyn"]
    assert surnames.index("ap Rhys") < surnames.index("Evans") < surnames.index("O'Brien") < surnames.index("Obrien")


def test_where_slapd_orders_names_otherwise_than_python_it_is_as_documented(store):
    """directory/rules/register_order.py: ß (casefold makes it "ss", slapd keeps it, after z) and
    an accent typed as a combining mark (slapd composes it first) are the differences."""
    sharp = store.add_account(learner("Straße", "Jo"), NOW)
    double_s = store.add_account(learner("Strasse", "Jo"), NOW)
    decomposed = store.add_account(learner("E\u0301vans", "Dewi"), NOW)
    plain = store.add_account(learner("Zed", "Zac"), NOW)
    in_python = [a.id for a in sorted(store.find_accounts(LEARNERS), key=register_key)]
    assert in_python == [decomposed.id, sharp.id, double_s.id, plain.id]  # usernames StrasseJ < StrasseJ2
    assert [a.id for a in store.find_page(LEARNERS, 1, 50).accounts] == [double_s.id, sharp.id, plain.id,
                                                                          decomposed.id]


def test_filters_narrow_the_page_and_its_total_as_they_narrow_the_list(store):
    """Status, year, registration group, class, consent, search words and the learners dual
    registered at another school: each page read is the register of what the filter keeps."""
    for n in range(30):
        store.add_account(learner(f"Pupil{n:02d}", "Alun" if n % 3 else "Bethan", year_group=str(7 + n % 2),
                                  registration_group=f"7{'AB'[n % 2]}", classes=(f"Maths{n % 3}",),
                                  consent=Consent.EXPLICIT if n % 4 == 0 else None), NOW)
    guest = store.add_account(learner("Guest", "Ffion", school=OTHER_SCHOOL, year_group="7"), NOW)
    store.update_account(guest.id, {"subsidiary_schools": (SCHOOL,), "subsidiary_groups": (
        subsidiary_group(SCHOOL, GroupKind.REGISTRATION_GROUP, "7A"),)})
    leaver = store.add_account(learner("Leaver", "Alun", year_group="7"), NOW)
    store.set_state(leaver.id, AccountState.DEACTIVATED, "test", "left", NOW)
    queries = [
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,),
                     states=(AccountState.ACTIVE, AccountState.DEACTIVATED)),
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), states=(AccountState.DEACTIVATED,)),
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), states=(AccountState.ACTIVE,), year_group="7"),
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), registration_group="7A"),
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), group_class="Maths1"),
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), consent=Consent.EXPLICIT),
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), consent=Consent.NOT_OBTAINED),
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), words=("bethan", "pupil1")),
        AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), dual_registered=True),
    ]
    for query in queries:
        whole = register(store, query)
        first = store.find_page(query, 1, 10)
        assert first.total == len(whole) > 0, query
        pages = [first] + [store.find_page(query, n, 10) for n in range(2, first.count + 1)]
        assert [a for page in pages for a in names(page.accounts)] == whole, query
    reg_7a = store.find_page(queries[3], 1, 50)
    assert "Guest" in [a.surname for a in reg_7a.accounts] and reg_7a.total == 16
    assert [a.surname for a in store.find_page(queries[1], 1, 50).accounts] == ["Leaver"]


def test_paging_goes_on_past_the_sorts_slapd_keeps_per_connection(store, slapd):
    """slapd keeps each VLV sort on its connection and refuses the sixth (olcSssVlvMaxPerConn 5):
    the store starts a new list connection after SORTS_PER_CONNECTION, so a worker pages on."""
    for n in range(12):
        store.add_account(learner(f"Pupil{n:02d}", "Alun"), NOW)
    for _ in range(4 * SORTS_PER_CONNECTION + 1):
        assert store.find_page(LEARNERS, 2, 5).total == 12
    raw = ldap.initialize(slapd.url)
    raw.simple_bind_s(ROOT_DN, slapd.root_password)
    try:
        def one_sorted_page():
            controls = [SSSRequestControl(True, REGISTER_SORT_KEYS),
                        VLVRequestControl(True, before_count=0, after_count=4, offset=1, content_count=0)]
            return raw.result3(raw.search_ext(f"ou=people,{BASE_DN}", ldap.SCOPE_SUBTREE, "(sn=Pupil*)", ["sn"],
                                              serverctrls=controls))
        for _ in range(5):
            one_sorted_page()
        with pytest.raises(ldap.BUSY):
            one_sorted_page()
    finally:
        raw.unbind_s()


def test_an_older_slapd_pages_by_reading_the_whole_list_then_gains_the_overlay_at_start(tmp_path, monkeypatch,
                                                                                         caplog):
    """Configured by a Porth before issue 16 (no sssvlv): the list pages are right, read whole,
    and the store says so once; started by this Porth, the overlay is added (once) and pages
    are read as windows."""
    server = PrivateSlapd(root=tmp_path / "s", host="127.0.0.1", port=free_port(), suffix=BASE_DN,
                          root_dn=ROOT_DN, root_password="paging-secret", no_sync=True)
    current = server.render_config()
    older = current.replace("olcModuleLoad: sssvlv\n", "").split("dn: olcOverlay={3}sssvlv", 1)[0]
    assert "sssvlv" not in older.split("# Server-side sorting", 1)[0]
    monkeypatch.setattr(server, "render_config", lambda: older)
    monkeypatch.setattr(server, "add_missing_overlays", list)  # as an older Porth started it
    server.configure()
    server.start()
    try:
        store = make_store(server)
        store.initialise()
        from directory.model import School, SchoolType
        store.add_school(School(SCHOOL, "Ysgol Brawf", SchoolType.PRIMARY, "661"))
        for surname, forename in AGREEING_NAMES:
            store.add_account(learner(surname, forename), NOW)
        whole = register(store, LEARNERS)
        with caplog.at_level(logging.WARNING, logger="directory.ldap.connections"):
            pages = [store.find_page(LEARNERS, number, 10) for number in (1, 2, 3, 4)]
        assert [names(p.accounts) for p in pages[:3]] == [whole[:10], whole[10:20], whole[20:]]
        assert (pages[3].number, pages[3].total, pages[3].count) == (3, len(whole), 3)
        said = [r.getMessage() for r in caplog.records if "sorting" in r.getMessage()]
        assert len(said) == 1 and "each list page reads its whole list" in said[0]
        store.close()
        server.stop()
        monkeypatch.undo()  # this Porth: its own configuration, upgraded at start
        server.start()
        assert server.add_missing_overlays() == []  # added once
        store = make_store(server)
        assert store._ldap.offers_sorted_windows()
        assert [names(store.find_page(LEARNERS, n, 10).accounts) for n in (1, 2, 3)] == \
            [whole[:10], whole[10:20], whole[20:]]
        store.close()
    finally:
        server.stop()
    assert importlib.resources.files("config").joinpath("ldap/slapd-config.ldif.in").read_text("utf-8").count(
        "olcOverlay: {3}sssvlv") == 1


def test_a_directory_that_refuses_the_sort_keys_pages_by_reading_the_whole_list(store, monkeypatch, caplog):
    """A directory may list the controls and still refuse Porth's sort (an ordering rule it does
    not know, as one not OpenLDAP may): the page is still right, read whole, said once, and the
    directory is not asked to sort again."""
    import directory.ldap.accounts as accounts_module

    for surname, forename in AGREEING_NAMES:
        store.add_account(learner(surname, forename), NOW)
    whole = register(store, LEARNERS)
    monkeypatch.setattr(accounts_module, "REGISTER_SORT_KEYS", ["sn:noSuchOrderingMatch", "givenName"])
    with caplog.at_level(logging.WARNING, logger="directory.ldap.accounts"):
        pages = [store.find_page(LEARNERS, number, 10) for number in (1, 2, 3)]
    assert [names(p.accounts) for p in pages] == [whole[:10], whole[10:20], whole[20:]]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "refused to sort" in said[0] and "reading the whole list instead" in said[0]
    assert not store._ldap.offers_sorted_windows()


def test_past_slapds_limit_of_kept_sorts_a_page_is_read_whole_not_refused(tmp_path, monkeypatch, caplog):
    """Every kept sort of every connection counts against olcSssVlvMax: with it reached by
    someone else's connection, the page is still shown (read whole) and the log says why."""
    server = PrivateSlapd(root=tmp_path / "s", host="127.0.0.1", port=free_port(), suffix=BASE_DN,
                          root_dn=ROOT_DN, root_password="limits-secret", no_sync=True)
    tight = server.render_config().replace("olcSssVlvMax: 512", "olcSssVlvMax: 1")
    monkeypatch.setattr(server, "render_config", lambda: tight)
    server.start()
    other = ldap.initialize(server.url)
    try:
        store = make_store(server)
        store.initialise()
        from directory.model import School, SchoolType
        store.add_school(School(SCHOOL, "Ysgol Brawf", SchoolType.PRIMARY, "661"))
        for surname, forename in AGREEING_NAMES:
            store.add_account(learner(surname, forename), NOW)
        other.simple_bind_s(ROOT_DN, "limits-secret")
        controls = [SSSRequestControl(True, REGISTER_SORT_KEYS),
                    VLVRequestControl(True, before_count=0, after_count=4, offset=1, content_count=0)]
        other.result3(other.search_ext(f"ou=people,{BASE_DN}", ldap.SCOPE_SUBTREE, "(sn=*)", ["sn"],
                                       serverctrls=controls))  # the one sort slapd will keep
        with caplog.at_level(logging.WARNING, logger="directory.ldap.accounts"):
            page = store.find_page(LEARNERS, 2, 10)
        assert names(page.accounts) == register(store, LEARNERS)[10:20] and page.total == len(AGREEING_NAMES)
        assert any("sorting too many other lists" in r.getMessage() for r in caplog.records)
        other.unbind_s()  # its kept sort is freed: the next page is a window again
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="directory.ldap.accounts"):
            assert names(store.find_page(LEARNERS, 3, 10).accounts) == register(store, LEARNERS)[20:]
        assert caplog.records == []
        store.close()
    finally:
        server.stop()
