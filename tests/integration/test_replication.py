"""A replicated directory as an LA runs it (issue 17 point 1): two providers replicating to each
other and a consumer, three private slapds on this machine, configured by Porth.

Proves that a write on either provider reaches all three; that a sign-in and a lock-out through
the consumer are seen on the providers (the sign-in time is what the 90-day inactivity rule L-3
reads, S-2; the lock-out S-3) and survive the next change replicated back; that a provider killed
and restarted catches up; and that Porth, given both providers, writes to the second while the
first is down. Replication is polled with a deadline, never waited for with a fixed sleep.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import ldap
import pytest

from directory import errors
from directory.ldap.config import DirectoryConfig, Lockout
from directory.ldap.connections import Connections
from directory.ldap.sign_in import SignInDirectory
from directory.model import Account, AccountKind, NewAccount, School, SchoolType
from directory.replication import Replication
from directory.rules.vault import PasswordVault
from directory.slapd import PrivateSlapd
from directory.store import DirectoryStore
from tests.conftest import free_port, porth_env, run_porth

BASE_DN = "dc=porth-repl"
ROOT_DN = f"cn=porth,{BASE_DN}"
SCHOOL = "6612345"
PASSWORD = "Tiger4821"
LOCKOUT = Lockout(failures=3, minutes=15)
DEADLINE = 10.0  # replication takes milliseconds here; a restart's catch-up well under a second
T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], timeout: float = DEADLINE) -> T:
    """Poll until `probe` gives something, within a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.02)


class Cluster:
    def __init__(self, root: Path):
        self.password = secrets.token_urlsafe(16)
        ports = [free_port() for _ in range(3)]
        self.urls = [f"ldap://127.0.0.1:{port}" for port in ports]
        self.p1 = self._node(root / "p1", ports[0], Replication("provider", 1, (self.urls[1],)))
        self.p2 = self._node(root / "p2", ports[1], Replication("provider", 2, (self.urls[0],)))
        self.consumer = self._node(root / "c", ports[2], Replication("consumer", None, (self.urls[0], self.urls[1])))
        self.vault = PasswordVault(PasswordVault.new_key())

    def _node(self, root: Path, port: int, replication: Replication) -> PrivateSlapd:
        return PrivateSlapd(root=root, host="127.0.0.1", port=port, suffix=BASE_DN, root_dn=ROOT_DN,
                            root_password=self.password, no_sync=True, replication=replication)

    @property
    def nodes(self) -> list[PrivateSlapd]:
        return [self.p1, self.p2, self.consumer]

    def config(self, *servers: PrivateSlapd, reads: PrivateSlapd | None = None) -> DirectoryConfig:
        return DirectoryConfig(url=" ".join(server.url for server in servers), base_dn=BASE_DN, bind_dn=ROOT_DN,
                               bind_password=self.password, mail_domain="hwbcymru.net", lockout=LOCKOUT,
                               read_urls=reads.url if reads else None)

    @contextmanager
    def store(self, *servers: PrivateSlapd) -> Iterator[DirectoryStore]:
        store = DirectoryStore(self.config(*servers), self.vault)
        try:
            yield store
        finally:
            store.close()

    def entry(self, node: PrivateSlapd, dn: str, attributes: list[str]) -> dict[str, list[bytes]] | None:
        """The entry as one node holds it, read as Porth (None if it has no such entry)."""
        conn = ldap.initialize(node.url)
        try:
            conn.simple_bind_s(ROOT_DN, self.password)
            return conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", attributes)[0][1]
        except ldap.NO_SUCH_OBJECT:
            return None
        finally:
            conn.unbind_s()

    def value(self, node: PrivateSlapd, dn: str, attribute: str) -> list[bytes]:
        return (self.entry(node, dn, [attribute]) or {}).get(attribute, [])

    def modify(self, node: PrivateSlapd, dn: str, attribute: str, value: str) -> None:
        conn = ldap.initialize(node.url)
        try:
            conn.simple_bind_s(ROOT_DN, self.password)
            conn.modify_s(dn, [(ldap.MOD_REPLACE, attribute, [value.encode()])])
        finally:
            conn.unbind_s()

    @contextmanager
    def killed(self, node: PrivateSlapd) -> Iterator[None]:
        """The node dies as a machine losing power would (SIGKILL), and is started again after."""
        pid = node.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert node.wait_released(pid), f"{node.url} still answers after SIGKILL"
        try:
            yield
        finally:
            node.start()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("replication"))
    # The first provider was a standalone server with data before the LA replicated it: it
    # becomes a provider in place at its next start (align_replication), keeping its accounts.
    standalone = cluster._node(cluster.p1.root, cluster.p1.port, Replication())
    standalone.start()
    try:
        with cluster.store(standalone) as store:
            store.initialise()
            store.add_school(School(SCHOOL, "Ysgol Brawf", SchoolType.PRIMARY, "661"))
            store.add_account(learner("Before"), datetime.now(UTC))
    finally:
        standalone.stop()
    try:
        for node in cluster.nodes:
            node.start()
        for node in (cluster.p2, cluster.consumer):
            node.wait_in_step(DEADLINE)
        yield cluster
    finally:
        for node in cluster.nodes:
            node.stop()


def learner(surname: str) -> NewAccount:
    return NewAccount(kind=AccountKind.LEARNER, surname=surname, forename="Joe", created_by="test", school=SCHOOL,
                      upn_hash=secrets.token_hex(32), password=PASSWORD)


def add_learner(cluster: Cluster, *servers: PrivateSlapd, surname: str = "Jones") -> tuple[Account, str]:
    with cluster.store(*servers) as store:
        account = store.add_account(learner(surname), datetime.now(UTC))
        return account, store.account_dn(account.id)


def test_a_standalone_server_upgraded_to_a_provider_keeps_its_accounts_and_they_reach_every_node(cluster):
    with cluster.store(cluster.p1) as store:
        [before] = [a for a in store.iter_accounts(school=SCHOOL) if a.surname == "Before"]
        dn = store.account_dn(before.id)
    for node in (cluster.p2, cluster.consumer):
        eventually(f"the upgraded provider's account on {node.url}", lambda node=node: cluster.entry(node, dn, ["uid"]))
    assert cluster.p1.align_replication() == []  # done once: the next start changes nothing


def test_a_write_on_either_provider_reaches_every_node(cluster):
    _, on_p1 = add_learner(cluster, cluster.p1, surname="Evans")
    _, on_p2 = add_learner(cluster, cluster.p2, surname="Hughes")
    for dn, elsewhere in ((on_p1, (cluster.p2, cluster.consumer)), (on_p2, (cluster.p1, cluster.consumer))):
        for node in elsewhere:
            eventually(f"{dn} on {node.url}", lambda node=node, dn=dn: cluster.entry(node, dn, ["uid"]))


def test_a_write_sent_to_the_consumer_is_done_on_a_provider_and_never_as_porth_for_an_anonymous_client(cluster):
    _, dn = add_learner(cluster, cluster.p1, surname="Price")
    eventually("the account on the consumer", lambda: cluster.entry(cluster.consumer, dn, ["uid"]))
    cluster.modify(cluster.consumer, dn, "porthRegistrationGroup", "7B")  # chained to a provider
    assert cluster.value(cluster.p1, dn, "porthRegistrationGroup") == [b"7B"]
    anonymous = ldap.initialize(cluster.consumer.url)
    with pytest.raises(ldap.STRONG_AUTH_REQUIRED):  # the provider's answer to the asserted (anonymous) client
        anonymous.modify_s(dn, [(ldap.MOD_REPLACE, "porthRegistrationGroup", [b"7C"])])
    assert cluster.value(cluster.p1, dn, "porthRegistrationGroup") == [b"7B"]


def test_a_sign_in_through_the_consumer_is_recorded_on_the_providers_and_survives_the_next_sync(cluster):
    account, dn = add_learner(cluster, cluster.p1, surname="Morgan")
    eventually("the account on the consumer", lambda: cluster.entry(cluster.consumer, dn, ["uid"]))
    sign_in = SignInDirectory(cluster.config(cluster.p1, cluster.p2, reads=cluster.consumer))
    try:
        assert sign_in.authenticate(account.username, PASSWORD).id == account.id
    finally:
        sign_in.close()
    # S-2, L-3: the time of the sign-in is on both providers, where the inactivity job reads it.
    signed_in = eventually("authTimestamp on the first provider",
                           lambda: cluster.value(cluster.p1, dn, "authTimestamp"))
    eventually("authTimestamp on the second provider",
               lambda: cluster.value(cluster.p2, dn, "authTimestamp") == signed_in or None)
    with cluster.store(cluster.p2) as store:
        seen = store.get_account(account.id)
        assert seen is not None and seen.last_sign_in is not None
        assert abs((seen.last_sign_in - datetime.now(UTC)).total_seconds()) < 3600  # lastbind precision
    # The next change of the entry replicated back to the consumer keeps the sign-in time there too
    # (before issue 17 the consumer wrote it only in its own copy, and this sync took it away).
    cluster.modify(cluster.p2, dn, "porthRegistrationGroup", "8A")
    eventually("the change on the consumer",
               lambda: cluster.value(cluster.consumer, dn, "porthRegistrationGroup") == [b"8A"] or None)
    assert cluster.value(cluster.consumer, dn, "authTimestamp") == signed_in


def test_repeated_wrong_passwords_through_the_consumer_lock_the_account_on_the_providers(cluster):
    account, dn = add_learner(cluster, cluster.p1, surname="Powell")
    eventually("the account on the consumer", lambda: cluster.entry(cluster.consumer, dn, ["uid"]))
    through_consumer = SignInDirectory(cluster.config(cluster.p1, reads=cluster.consumer))
    on_providers = [SignInDirectory(cluster.config(node)) for node in (cluster.p1, cluster.p2)]
    try:
        for failure in range(1, LOCKOUT.failures + 1):
            with pytest.raises(errors.InvalidCredentials):
                through_consumer.authenticate(account.username, "Wrong1234")
            # People type at human speed: each failure has reached the consumer's copy before the next.
            eventually(f"failure {failure} back on the consumer",
                       lambda f=failure: len(cluster.value(cluster.consumer, dn, "pwdFailureTime")) >= f or None)
        for node in (cluster.p1, cluster.p2):
            eventually(f"the lock-out on {node.url}", lambda node=node: cluster.value(node, dn, "pwdAccountLockedTime"))
        for directory in on_providers:  # S-3: the right password is refused on every node now
            with pytest.raises(errors.InvalidCredentials):
                directory.authenticate(account.username, PASSWORD)
    finally:
        for directory in (through_consumer, *on_providers):
            directory.close()


def test_a_provider_killed_and_restarted_catches_up(cluster):
    with cluster.killed(cluster.p2):
        _, dn = add_learner(cluster, cluster.p1, surname="Rees")
        eventually("the account on the consumer", lambda: cluster.entry(cluster.consumer, dn, ["uid"]))
        assert cluster.p2.pid() is None
    eventually("the account on the restarted provider", lambda: cluster.entry(cluster.p2, dn, ["uid"]))


def test_the_first_write_after_a_provider_dies_goes_to_the_next_one(cluster):
    schools = f"ou=schools,{BASE_DN}"
    connections = Connections(cluster.config(cluster.p1, cluster.p2))
    try:
        connections.search(schools, "(objectClass=*)", ["ou"], "pooling a connection", base_only=True)
        with cluster.killed(cluster.p1):
            # Sent on the pooled connection to the dead provider it would be lost (a write is never
            # retried): the pool sees that slapd closed it and opens one to the second provider.
            connections.modify(schools, "describing the schools", replace={"description": ["moved"]})
            assert cluster.value(cluster.p2, schools, "description") == [b"moved"]
    finally:
        connections.close()


def test_porth_writes_to_the_second_provider_while_the_first_is_down_and_the_first_catches_up(cluster):
    with cluster.store(cluster.p1, cluster.p2) as store:
        store.check()  # a pooled connection to the first provider, which is about to die
        with cluster.killed(cluster.p1):
            account = store.add_account(learner("Lloyd"), datetime.now(UTC))
            dn = store.account_dn(account.id)
            assert cluster.entry(cluster.p2, dn, ["uid"]) is not None
            # A sign-in through the consumer meanwhile: its lastbind update is chained to the second provider.
            sign_in = SignInDirectory(cluster.config(cluster.p1, cluster.p2, reads=cluster.consumer))
            try:
                eventually("the account on the consumer", lambda: cluster.entry(cluster.consumer, dn, ["uid"]))
                assert sign_in.authenticate(account.username, PASSWORD).id == account.id
            finally:
                sign_in.close()
            eventually("authTimestamp on the second provider", lambda: cluster.value(cluster.p2, dn, "authTimestamp"))
    eventually("the account and its sign-in on the restarted first provider",
               lambda: cluster.value(cluster.p1, dn, "authTimestamp"))


def test_porth_directory_start_brings_up_a_provider_and_a_consumer_of_it(tmp_path):
    password = secrets.token_urlsafe(16)
    provider_port, consumer_port = free_port(), free_port()
    provider_url = f"ldap://127.0.0.1:{provider_port}"
    common = {"PORTH_LDAP__BASE_DN": BASE_DN, "PORTH_LDAP__BIND_PASSWORD": password,
              "PORTH_LDAP__EMBEDDED_NO_SYNC": "true"}
    provider = porth_env(tmp_path / "provider", **common, PORTH_LDAP__EMBEDDED_PORT=str(provider_port),
                         PORTH_LDAP__EMBEDDED_ROLE="provider", PORTH_LDAP__EMBEDDED_SERVER_ID="1")
    consumer = porth_env(tmp_path / "consumer", **common, PORTH_LDAP__EMBEDDED_PORT=str(consumer_port),
                         PORTH_LDAP__EMBEDDED_ROLE="consumer", PORTH_LDAP__REPLICATE_FROM=provider_url)
    try:
        started = run_porth(["directory", "start"], provider, timeout=60)
        assert started.returncode == 0, started.stderr
        assert "as provider 1 (no other provider)" in started.stdout
        started = run_porth(["directory", "start"], consumer, timeout=60)
        assert started.returncode == 0, started.stderr
        assert f"as consumer of {provider_url}; in step with {provider_url}" in started.stdout
        # The consumer holds the DIT its provider made (it made none itself).
        conn = ldap.initialize(f"ldap://127.0.0.1:{consumer_port}")
        conn.simple_bind_s(ROOT_DN, password)
        assert conn.search_s(f"ou=people,{BASE_DN}", ldap.SCOPE_BASE, "(objectClass=*)", ["ou"])
        status = run_porth(["directory", "status"], consumer, timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"in step with {provider_url}" in status.stdout
    finally:
        # Stopped directly (each `porth` command costs a Python start-up; `directory stop` is
        # the standalone one, tested in test_slapd_and_errors.py).
        for name, port in (("consumer", consumer_port), ("provider", provider_port)):
            PrivateSlapd(root=tmp_path / name / "slapd", host="127.0.0.1", port=port, suffix=BASE_DN,
                         root_dn=ROOT_DN, root_password=password).stop()


