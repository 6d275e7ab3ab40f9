"""A real private slapd for the whole session, and a clean directory per test.

No mocked LDAP of any kind (README: "Why no mock"): directory behaviour is
only worth testing against the server that enforces it (schema, unique
overlay, ppolicy, Argon2 hashing).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from directory.model import AccountKind, NewAccount, School, SchoolType
from directory.rules.vault import PasswordVault
from directory.slapd import PrivateSlapd
from directory.store import DirectoryConfig, DirectoryStore
from operational.db import Database
from tests.conftest import free_port

BASE_DN = "dc=porth-test"
ROOT_DN = f"cn=porth,{BASE_DN}"
SCHOOL = "6612345"
OTHER_SCHOOL = "6619876"


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateSlapd]:
    root: Path = tmp_path_factory.mktemp("slapd")
    server = PrivateSlapd(
        root=root, host="127.0.0.1", port=free_port(), suffix=BASE_DN, root_dn=ROOT_DN,
        root_password=secrets.token_urlsafe(16), no_sync=True,
    )
    server.start()
    yield server
    server.stop()


def make_store(slapd: PrivateSlapd, **overrides) -> DirectoryStore:
    config = DirectoryConfig(
        url=slapd.url, base_dn=BASE_DN, bind_dn=ROOT_DN, bind_password=slapd.root_password,
        mail_domain="hwbcymru.net", **overrides,
    )
    return DirectoryStore(config, PasswordVault(VAULT_KEY))


VAULT_KEY = PasswordVault.new_key()


def _wipe(slapd: PrivateSlapd) -> None:
    """Delete every entry a test made (all of them sit one level below an ou)."""
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    try:
        for ou in ("people", "schools", "organisations", "groups"):
            found = conn.extend.standard.paged_search(
                f"ou={ou},{BASE_DN}", "(objectClass=*)", ldap3.LEVEL, attributes=[], paged_size=500,
                generator=False,
            )
            for entry in found:
                if entry.get("type") == "searchResEntry":
                    conn.delete(entry["dn"])
    finally:
        conn.unbind()


@pytest.fixture
def store(slapd: PrivateSlapd) -> Iterator[DirectoryStore]:
    directory_store = make_store(slapd)
    directory_store.initialise()
    directory_store.add_school(School(SCHOOL, "Ysgol Brawf", SchoolType.PRIMARY, "661", "brawf.ysgol.cymru"))
    directory_store.add_school(School(OTHER_SCHOOL, "Ysgol Arall", SchoolType.SECONDARY, "661"))
    yield directory_store
    directory_store.close()
    _wipe(slapd)


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    """A migrated SQLite operational store of the test's own."""
    database = Database(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


def learner(surname: str = "Bloggs", forename: str = "Joe", *, upn_hash: str | None = None,
            school: str = SCHOOL, **fields) -> NewAccount:
    return NewAccount(
        kind=AccountKind.LEARNER, surname=surname, forename=forename, created_by="test",
        school=school, upn_hash=upn_hash or secrets.token_hex(32), **fields,
    )


def staff(surname: str = "Jones", forename: str = "Ann", *, code: str = "S001", school: str = SCHOOL,
          **fields) -> NewAccount:
    return NewAccount(
        kind=AccountKind.STAFF, surname=surname, forename=forename, created_by="test",
        school=school, staff_code=code, **fields,
    )
