"""Two writable directory servers sharing one operational database: the worst case of a
multi-provider directory (issue 17 point 2). The servers do not replicate, so nothing but the
shared claims can keep a username or UPN hash from being given twice."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from directory.claims import DirectoryClaims, GuardedClaims
from directory.model import School, SchoolType
from directory.rules.vault import PasswordVault
from directory.slapd import PrivateSlapd
from directory.store import DirectoryConfig, DirectoryStore
from operational.db import Database, OperationalStoreError
from operational.directory_claims import DatabaseClaims
from tests.conftest import free_port
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL, VAULT_KEY, _wipe


@pytest.fixture(scope="session")
def second_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateSlapd]:
    server = PrivateSlapd(root=tmp_path_factory.mktemp("slapd-2"), host="127.0.0.1", port=free_port(),
                          suffix=BASE_DN, root_dn=ROOT_DN, root_password=secrets.token_urlsafe(16), no_sync=True)
    server.start()
    yield server
    server.stop()


def shared_claims(db: Database) -> DirectoryClaims:
    """The claims as build_runtime makes them (entrypoints.runtime.claims_for)."""
    return GuardedClaims(DatabaseClaims(db), (OperationalStoreError,))


def claiming_store(slapd: PrivateSlapd, claims: DirectoryClaims | None) -> DirectoryStore:
    config = DirectoryConfig(url=slapd.url, base_dn=BASE_DN, bind_dn=ROOT_DN, bind_password=slapd.root_password,
                             mail_domain="hwbcymru.net")
    return DirectoryStore(config, PasswordVault(VAULT_KEY), claims)


@pytest.fixture
def second_store(second_slapd: PrivateSlapd) -> Iterator[DirectoryStore]:
    """The second server, with the same schools as the first (`store`), emptied afterwards."""
    store = claiming_store(second_slapd, None)
    store.initialise()
    store.add_school(School(SCHOOL, "Ysgol Brawf", SchoolType.PRIMARY, "661", "brawf.ysgol.cymru"))
    store.add_school(School(OTHER_SCHOOL, "Ysgol Arall", SchoolType.SECONDARY, "661"))
    yield store
    store.close()
    _wipe(second_slapd)
