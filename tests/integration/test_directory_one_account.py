"""One learner, one account, enforced by the directory (issue 13, M-6): the unique overlay's
domain on porthUpnHash, the error that says so, dual registration in the planner's read, and an
instance made by an older Porth brought up to date when it starts again."""

from __future__ import annotations

import importlib.resources
import secrets
import threading
import urllib.parse

import ldap
import ldap.controls
import pytest

from directory import errors
from directory.model import AccountState, GroupKind, subsidiary_group
from directory.slapd import PrivateSlapd
from tests.conftest import free_port, porth_env, run_porth
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL, learner, make_store


def _at_once(slapd: PrivateSlapd, adds: list, writes: list[str] | None = None) -> list[object]:
    """Run each add in its own thread with its own store (as parallel runs do), all released
    together; what each returned or raised. `writes` collects the DN of every add sent."""
    outcomes: list[object] = [None] * len(adds)
    ready = threading.Barrier(len(adds))
    stores = [make_store(slapd) for _ in adds]
    if writes is not None:
        for store in stores:
            send = store._ldap.add
            store._ldap.add = lambda dn, *args, send=send: (writes.append(dn), send(dn, *args))[1]

    def run(index: int) -> None:
        ready.wait()
        try:
            outcomes[index] = adds[index](stores[index])
        except errors.DirectoryError as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(adds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    return outcomes


def _holders(store, upn_hash: str) -> list:
    return [a for a in store.iter_accounts() if a.upn_hash == upn_hash]


def test_two_runs_adding_the_same_learner_at_once_make_one_account(slapd, store, now):
    """Dual registration in one parallel run: both schools' runs create the learner at once."""
    for _round in range(4):  # the race goes either way: the name or the hash may be refused first
        upn_hash = secrets.token_hex(32)
        writes: list[str] = []
        outcomes = _at_once(slapd, [
            lambda s, h=upn_hash: s.add_account(learner("Pritchard", "Siân", upn_hash=h, school=SCHOOL), now),
            lambda s, h=upn_hash: s.add_account(learner("Pritchard", "Siân", upn_hash=h, school=OTHER_SCHOOL), now),
        ], writes)
        assert len(writes) == 2  # the refused run did not try the learner again under another name
        refused = [o for o in outcomes if isinstance(o, errors.DirectoryError)]
        assert len(refused) == 1 and isinstance(refused[0], errors.UpnHashTaken), outcomes
        assert "same UPN" in str(refused[0]) and upn_hash not in str(refused[0])  # the hash is never shown
        [made] = _holders(store, upn_hash)
        assert made.id in {o.id for o in outcomes if not isinstance(o, Exception)}
    assert sorted(a.username for a in store.iter_accounts()) == ["PritchardS", "PritchardS2", "PritchardS3",
                                                                  "PritchardS4"]


def test_a_learner_with_a_different_hash_but_the_same_name_still_gets_the_next_name(slapd, store, now):
    outcomes = _at_once(slapd, [lambda s: s.add_account(learner("Pritchard", "Siân"), now) for _ in range(2)])
    assert sorted(o.username for o in outcomes) == ["PritchardS", "PritchardS2"]


def test_a_transfer_to_a_hash_another_account_holds_is_refused(store, now):
    first = store.add_account(learner(upn_hash="a" * 64), now)
    second = store.add_account(learner(upn_hash="b" * 64, school=OTHER_SCHOOL), now)
    with pytest.raises(errors.UpnHashTaken, match=f"updating account {second.id}: another account"):
        store.update_account(second.id, {"upn_hash": first.upn_hash})
    with pytest.raises(errors.UpnHashTaken):  # the transfer's one modify (M-6)
        store.set_state(second.id, AccountState.ACTIVE, "provisioning", "transfer", now,
                        changes={"school": SCHOOL, "upn_hash": first.upn_hash})
    assert store.get_account(second.id).upn_hash == "b" * 64
    assert store.get_account(second.id).school == OTHER_SCHOOL  # nothing of the refused modify was written
    store.update_account(first.id, {"upn_hash": first.upn_hash, "forename": "Joseph"})  # its own hash: fine
    # A deleted account's tombstone keeps no hash: the learner may be given a new account.
    store.delete_account(first.id, "admin", "left Wales", now)
    store.update_account(second.id, {"upn_hash": "a" * 64})
    assert store.get_account(second.id).upn_hash == "a" * 64


def test_planning_reads_a_schools_own_and_its_dual_registered_learners(slapd, store, now):
    """Both reads (python-ldap's paged bulk read, ldap3's) see the learner dual registered here."""
    small_pages = make_store(slapd, page_size=2)
    own = [small_pages.add_account(learner("Own", f"N{chr(65 + n)}", school=OTHER_SCHOOL), now) for n in range(3)]
    dual = small_pages.add_account(learner("Dual", "Ann", school=SCHOOL), now)
    membership = (subsidiary_group(OTHER_SCHOOL, GroupKind.REGISTRATION_GROUP, "10X"),
                  subsidiary_group(OTHER_SCHOOL, GroupKind.CLASS, "10 Ma1"))
    small_pages.update_account(dual.id, {"subsidiary_schools": (OTHER_SCHOOL,), "subsidiary_groups": membership})
    small_pages.add_account(learner("Elsewhere", "Ben", school=SCHOOL), now)
    try:
        planning = {a.id: a for a in small_pages.accounts_for_planning(OTHER_SCHOOL)}
        assert set(planning) == {a.id for a in own} | {dual.id}
        read = planning[dual.id]
        assert read.school == SCHOOL and read.subsidiary_schools == (OTHER_SCHOOL,)
        assert read.groups_at(OTHER_SCHOOL) == ("10X", ("10 Ma1",))
        assert read.subsidiary_groups == small_pages.get_account(dual.id).subsidiary_groups  # ldap3 reads the same
        assert {a.id for a in small_pages.accounts_for_planning(SCHOOL)} == {dual.id} | {
            a.id for a in small_pages.iter_accounts(school=SCHOOL)}
        assert len(small_pages.find_by_upn_hashes([dual.upn_hash])[dual.upn_hash]) == 1
    finally:
        small_pages.close()


def _older_porth(server: PrivateSlapd, tmp_path, monkeypatch) -> None:
    """Configure `server` as Porth did before issue 13: no porthSubsidiary* attributes or
    indexes, no uniqueness domain on the UPN hash, no UPN-key record."""
    schema_path = importlib.resources.files("config").joinpath("ldap/porth-schema.ldif")
    current = schema_path.read_text("utf-8")
    attributes, classes = current.split("olcObjectClasses: ", 1)
    classes = classes.replace(" $ porthSubsidiarySchool $ porthSubsidiaryGroup", "")
    older = attributes.split("olcAttributeTypes: ( PorthAttr:35", 1)[0] + "olcObjectClasses: " + \
        classes.split("olcObjectClasses: ( PorthClass:6", 1)[0]
    assert "porthSubsidiary" not in older and "porthUpnKey" not in older, "the schema changed: update this test"
    (tmp_path / "old-schema.ldif").write_text(older)
    rendered = server.render_config().replace(str(schema_path), str(tmp_path / "old-schema.ldif"))
    rendered = "\n".join(line for line in rendered.splitlines()
                         if "porthSubsidiary" not in line and "?porthUpnHash?" not in line)
    monkeypatch.setattr(server, "render_config", lambda: rendered)
    server.configure()
    monkeypatch.undo()


def _unique_domains(server: PrivateSlapd) -> list[str]:
    """The attributes of each uniqueness domain the running slapd enforces (read over ldapi)."""
    conn = ldap.initialize("ldapi://" + urllib.parse.quote(str(server.socket_path), safe=""))
    try:
        conn.sasl_non_interactive_bind_s("EXTERNAL")
        [(_dn, config)] = conn.search_s("olcOverlay={0}unique,olcDatabase={1}mdb,cn=config", ldap.SCOPE_BASE,
                                        "(objectClass=*)", ["olcUniqueURI"])
        return [value.decode().split("?")[1] for value in config["olcUniqueURI"]]
    finally:
        conn.unbind_s()


def test_an_instance_made_before_issue_13_gains_the_hash_domain_and_dual_registration_at_start(
        tmp_path, now, monkeypatch):
    server = PrivateSlapd(root=tmp_path / "s", host="127.0.0.1", port=free_port(), suffix=BASE_DN,
                          root_dn=ROOT_DN, root_password="upgrade-secret", no_sync=True)
    _older_porth(server, tmp_path, monkeypatch)
    with monkeypatch.context() as older:  # started as the older Porth did: nothing added
        older.setattr(server, "add_missing_schema", list)
        older.setattr(server, "add_missing_config", list)
        server.start()
    try:
        assert _unique_domains(server) == ["uid"]
        store = make_store(server)
        store.initialise()
        from directory.model import School, SchoolType
        store.add_school(School(SCHOOL, "Ysgol Brawf", SchoolType.PRIMARY, "661"))
        # The bug this issue found, already in the directory: two accounts for one learner.
        twins = [store.add_account(learner("Evans", "Cai", upn_hash="c" * 64), now) for _ in range(2)]
        with pytest.raises(errors.InvalidEntry):
            store.update_account(twins[0].id, {"subsidiary_schools": (OTHER_SCHOOL,)})
        store.close()
        server.stop()

        server.start()  # this Porth
        assert _unique_domains(server) == ["uid", "porthUpnHash"]
        assert server.add_missing_config() == [] and server.add_missing_schema() == []  # only once
        store = make_store(server)
        try:
            # slapd takes the new domain over the twins (it checks writes, not what is stored):
            # both stay readable and listed, a write that does not carry the hash still works...
            store.update_account(twins[0].id, {"subsidiary_schools": (OTHER_SCHOOL,)})
            assert {a.id for a in store.accounts_for_planning(OTHER_SCHOOL)} == {twins[0].id}
            assert len(store.find_by_upn_hashes(["c" * 64])["c" * 64]) == 2
            assert [[a.id for a in group] for group in store.accounts_sharing_upn_hash()] == [
                [a.id for a in sorted(twins, key=lambda a: a.username)]]  # `porth directory duplicates` lists them
            # ...and no third account, nor a write of the shared hash, is accepted any more.
            with pytest.raises(errors.UpnHashTaken):
                store.add_account(learner("Evans", "Cai", upn_hash="c" * 64), now)
            with pytest.raises(errors.UpnHashTaken):
                store.update_account(twins[1].id, {"upn_hash": "c" * 64})
        finally:
            store.close()
    finally:
        server.stop()


def test_porth_directory_duplicates_lists_the_accounts_of_one_learner_never_the_hash(slapd, store, now, tmp_path):
    clean = run_porth(["directory", "duplicates"], _cli_env(slapd, tmp_path))
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.strip() == "no two accounts share a UPN"
    first = store.add_account(learner("Evans", "Cai", upn_hash="d" * 64), now)
    twin = store.add_account(learner("Evans", "Cai", upn_hash="e" * 64, school=OTHER_SCHOOL), now)
    store.add_account(learner("Evans", "Cai"), now)  # a namesake, another learner
    _give_hash_bypassing_the_overlay(slapd, store.account_dn(twin.id), "d" * 64)  # as an older Porth could
    listed = run_porth(["directory", "duplicates"], _cli_env(slapd, tmp_path))
    assert listed.returncode == 1, listed.stderr
    assert listed.stdout.strip() == (f"one learner, 2 accounts: {first.username} (school {SCHOOL}, active), "
                                     f"{twin.username} (school {OTHER_SCHOOL}, active)")
    assert "1 learners have more than one account" in listed.stderr
    assert "d" * 16 not in listed.stdout + listed.stderr


def _cli_env(slapd: PrivateSlapd, tmp_path) -> dict[str, str]:
    return porth_env(tmp_path / "var", PORTH_LDAP__URL=slapd.url, PORTH_LDAP__BASE_DN=BASE_DN,
                     PORTH_LDAP__BIND_DN=ROOT_DN, PORTH_LDAP__BIND_PASSWORD=slapd.root_password)


def _give_hash_bypassing_the_overlay(slapd: PrivateSlapd, dn: str, upn_hash: str) -> None:
    """The relax control (RFC draft, slapd honours it for the root DN) skips the unique overlay."""
    conn = ldap.initialize(slapd.url)
    try:
        conn.simple_bind_s(ROOT_DN, slapd.root_password)
        relax = ldap.controls.LDAPControl("1.3.6.1.4.1.4203.666.5.12", True)
        conn.modify_ext_s(dn, [(ldap.MOD_REPLACE, "porthUpnHash", [upn_hash.encode()])], serverctrls=[relax])
    finally:
        conn.unbind_s()
