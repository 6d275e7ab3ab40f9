"""Failures are failures (issue 13): when slapd cannot do the work — its disk full, its
database at its maximum size or read-only — every write says so as one DirectoryFailure line,
through both client libraries, instead of a refusal that reads as the record's fault. Each
fault is real: a private slapd on a small tmpfs, a small olcDbMaxSize, olcReadOnly."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import ldap
import ldap.modlist
import pytest

from directory import errors
from directory.ldap.connections import ThreadConnection
from directory.model import School, SchoolType
from directory.slapd import PrivateSlapd
from directory.store import DirectoryStore
from tests.conftest import free_port
from tests.integration.conftest import BASE_DN, ROOT_DN, SCHOOL, learner, make_store

FULL = "disk full, or the database at its maximum size?"


def _server(root: Path, **settings) -> PrivateSlapd:
    return PrivateSlapd(root=root, host="127.0.0.1", port=free_port(), suffix=BASE_DN, root_dn=ROOT_DN,
                        root_password="failure-secret", **settings)


def _ready_store(server: PrivateSlapd) -> DirectoryStore:
    store = make_store(server)
    store.initialise()
    store.add_school(School(SCHOOL, "Ysgol Brawf", SchoolType.PRIMARY, "661"))
    return store


def _add_until_refused(store: DirectoryStore, now, limit: int) -> tuple[int, errors.DirectoryError]:
    for n in range(limit):
        try:
            store.add_account(learner("Pupil", f"N{n}", admission_number=f"{n:06d}"), now)
        except errors.DirectoryError as exc:
            return n, exc
    raise AssertionError(f"{limit} adds and the directory never refused one")


def _python_ldap_adds_until_refused(store: DirectoryStore, limit: int = 200) -> errors.DirectoryError:
    """Writes through python-ldap (the library of the bulk reads and sign-ins) until one is refused."""
    conn = ThreadConnection(store.config, timeout=10)
    try:
        for n in range(limit):
            # 8 KiB each: an entry small enough to fit where the last account did not would not fail.
            entry = ldap.modlist.addModlist({"objectClass": [b"organizationalUnit"], "ou": [f"extra{n}".encode()],
                                             "description": [b"x" * 8192]})
            try:
                conn.run(f"adding ou=extra{n}", lambda c, e=entry, n=n: c.add_s(f"ou=extra{n},{BASE_DN}", e))
            except errors.DirectoryError as exc:
                return exc
    finally:
        conn.drop()
    raise AssertionError(f"{limit} adds and the directory never refused one")


@pytest.fixture
def tmpfs_slapd(tmp_path) -> Iterator[PrivateSlapd]:
    """A private slapd whose database sits on its own 4 MiB tmpfs (mounting needs root)."""
    server = _server(tmp_path / "s")
    server.data_dir.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(server.data_dir)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); "
                    "test_a_database_at_its_maximum_size_fails_every_write covers the same result")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        subprocess.run(["umount", str(server.data_dir)], check=True)


def _fill(folder: Path) -> Path:
    """Fill the file system with one file; the file, to delete to free the space."""
    filler = folder / "filler"
    filler.write_bytes(b"\0" * shutil.disk_usage(folder).free)
    assert shutil.disk_usage(folder).free == 0
    return filler


def test_a_full_disk_fails_every_write_as_a_directory_failure(tmpfs_slapd, now):
    """slapd's "txn_commit failed" (ENOSPC) of issue 13's report: a failure, not a record error."""
    store = _ready_store(tmpfs_slapd)
    try:
        before = [store.add_account(learner("Pupil", f"A{n}"), now) for n in range(5)]
        filler = _fill(tmpfs_slapd.data_dir)
        _count, refused = _add_until_refused(store, now, limit=200)
        assert type(refused) is errors.DirectoryFailure, refused
        assert str(refused).startswith("the directory could not do the work while adding account Pupil")
        assert str(refused).endswith(f"txn_commit failed ({FULL})") and "\n" not in str(refused)
        refused = _python_ldap_adds_until_refused(store)
        assert type(refused) is errors.DirectoryFailure and str(refused).endswith(f"txn_commit failed ({FULL})")
        # What was stored before is intact and readable; once space is freed, writes work again.
        assert {a.id for a in store.accounts_for_planning(SCHOOL)} >= {a.id for a in before}
        filler.unlink()
        assert store.add_account(learner("Space", "After"), now).username == "SpaceA"
    finally:
        store.close()


def test_a_database_at_its_maximum_size_fails_every_write(tmp_path, now):
    """olcDbMaxSize reached (the MDB map is full): "entry store failed" or "txn_commit failed",
    by where the map fills."""
    server = _server(tmp_path / "s", max_size=512 * 1024)
    server.start()
    store = _ready_store(server)
    try:
        _count, refused = _add_until_refused(store, now, limit=2000)
        assert type(refused) is errors.DirectoryFailure, refused
        assert str(refused).endswith((f"entry store failed ({FULL})", f"txn_commit failed ({FULL})")), refused
        assert type(_python_ldap_adds_until_refused(store)) is errors.DirectoryFailure
    finally:
        store.close()
        server.stop()


def _set_read_only(server: PrivateSlapd, read_only: bool) -> None:
    conn = ldap.initialize("ldapi://" + urllib.parse.quote(str(server.socket_path), safe=""))
    try:
        conn.sasl_non_interactive_bind_s("EXTERNAL")
        conn.modify_s("olcDatabase={1}mdb,cn=config",
                      [(ldap.MOD_REPLACE, "olcReadOnly", [b"TRUE" if read_only else b"FALSE"])])
    finally:
        conn.unbind_s()


def test_a_read_only_database_fails_writes_and_still_answers_reads(tmp_path, now):
    """unwillingToPerform "operation restricted" (olcReadOnly): the directory cannot write."""
    server = _server(tmp_path / "s", no_sync=True)
    server.start()
    store = _ready_store(server)
    try:
        made = store.add_account(learner("Bloggs", "Joe"), now)
        _set_read_only(server, True)
        with pytest.raises(errors.DirectoryFailure, match=r"operation restricted \(the database is read-only\)$"):
            store.add_account(learner("Bloggs", "Jo"), now)
        with pytest.raises(errors.DirectoryFailure, match="while updating account"):
            store.update_account(made.id, {"forename": "Joseph"})
        refused = _python_ldap_adds_until_refused(store, limit=1)
        assert type(refused) is errors.DirectoryFailure and "operation restricted" in str(refused)
        assert store.get_account(made.id).forename == "Joe"
        _set_read_only(server, False)
        store.update_account(made.id, {"forename": "Joseph"})
    finally:
        store.close()
        server.stop()
