"""No username, alias or UPN hash on two accounts, whichever directory server is written (issue 17
point 2): the claims store on SQLite and PostgreSQL, and two writable servers sharing it, written
by the provisioning's store calls, the portal and the username-change job."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from directory import errors
from directory.claims import STALE_UPN_HASH_CLAIM, ClaimKind, GuardedClaims
from directory.model import AccountKind, Role
from directory.rules.lifecycle import ExpiryChoice
from directory.store import DirectoryStore
from jobs.framework import JobContext
from jobs.username_changes import process_username_changes
from operational.db import Database, OperationalStoreError
from operational.directory_claims import DatabaseClaims, record_existing
from operational.tables import DirectoryClaim
from tests.integration.conftest import SCHOOL, learner
from tests.integration.provider_fixtures import claiming_store, second_slapd, second_store, shared_claims
from tests.integration.test_operational_store import _postgres_database
from webui.portal.operations import accounts as portal_accounts
from webui.portal.operations.core import Caller, Records
from webui.portal.permissions import Actor, PortalRole, Scope

__all__ = ["second_slapd", "second_store"]  # fixtures used by the tests below

T0 = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path) -> Iterator[Database]:
    urls = iter([f"sqlite:///{tmp_path / 'claims.sqlite3'}"]) if request.param == "sqlite" else _postgres_database()
    for url in urls:
        database = Database(url)
        database.migrate()
        yield database
        database.dispose()


def claims_rows(db: Database) -> dict[tuple[str, str], str]:
    with db.session() as session:
        return {(row.kind, row.value): row.holder for row in session.scalars(select(DirectoryClaim))}


# -- the claims store ---------------------------------------------------------------------------

def test_a_value_is_claimed_once_and_only_its_holder_gives_it_up(any_db):
    claims = DatabaseClaims(any_db)
    assert claims.claim("username", "jonesa", "account-1") == "account-1"
    assert claims.claim("username", "jonesa", "account-2") == "account-1"  # the loser learns who has it
    assert claims.claim("upn-hash", "jonesa", "account-2") == "account-2"  # kinds are apart
    claims.release("username", "jonesa", "account-2")  # not its claim: left alone
    assert claims.claim("username", "jonesa", "account-3") == "account-1"
    claims.release("username", "jonesa", "account-1")
    assert claims.claim("username", "jonesa", "account-3") == "account-3"


def test_of_many_processes_claiming_one_value_at_once_exactly_one_wins(any_db):
    claims = DatabaseClaims(any_db)
    start = threading.Barrier(8)
    answers: list[str] = []

    def claim(n: int) -> None:
        start.wait()
        answers.append(claims.claim("username", "bloggsj", f"account-{n}"))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and len(set(answers)) == 1  # every one was told the same winner
    assert claims_rows(any_db) == {("username", "bloggsj"): answers[0]}


def test_a_claim_is_taken_over_only_once_it_is_older_than_asked(any_db):
    clock = [T0]
    claims = DatabaseClaims(any_db, clock=lambda: clock[0])
    claims.claim("upn-hash", "ab12", "killed-run")
    clock[0] = T0 + timedelta(minutes=1)
    assert not claims.take_over("upn-hash", "ab12", "account-2", STALE_UPN_HASH_CLAIM)
    clock[0] = T0 + timedelta(minutes=16)
    assert claims.take_over("upn-hash", "ab12", "account-2", STALE_UPN_HASH_CLAIM)
    assert not claims.take_over("upn-hash", "ab12", "account-3", STALE_UPN_HASH_CLAIM)  # fresh again: one winner
    assert claims_rows(any_db) == {("upn-hash", "ab12"): "account-2"}


def test_the_names_claimed_for_a_username_base_are_read_by_prefix(any_db):
    claims = DatabaseClaims(any_db)
    for value in ("jonesa", "jonesa2", "jonesab", "jonesb", "jones"):
        claims.claim("username", value, "x")
    claims.claim("upn-hash", "jonesa3", "x")
    assert claims.claimed_starting("username", "jonesa") == {"jonesa", "jonesa2", "jonesab"}


def test_an_unreachable_database_is_claims_unavailable_and_nothing_is_written(slapd, store):
    gone = Database("postgresql+psycopg://porth:secretpw@127.0.0.1:1/porth?connect_timeout=2")
    claiming = claiming_store(slapd, GuardedClaims(DatabaseClaims(gone), (OperationalStoreError,)))
    with pytest.raises(errors.ClaimsUnavailable) as failure:
        claiming.add_account(learner(), T0)
    assert isinstance(failure.value, errors.DirectoryFailure)  # the run fails: never a record error (M-9)
    message = str(failure.value)
    assert "\n" not in message and "secretpw" not in message and message.startswith("cannot claim a upn-hash")
    assert list(store.iter_accounts()) == []
    claiming.close()


# -- two writable servers sharing the claims ----------------------------------------------------

@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def providers(slapd, store, second_slapd, second_store, db) -> Iterator[tuple[DirectoryStore, DirectoryStore]]:
    """One store per server, both claiming in one database, as two `porth` processes would."""
    one, two = claiming_store(slapd, shared_claims(db)), claiming_store(second_slapd, shared_claims(db))
    yield one, two
    one.close()
    two.close()


def every_name(*stores: DirectoryStore) -> Counter[str]:
    return Counter(name.casefold() for store in stores for account in store.iter_accounts()
                   for name in (account.username, *account.aliases))


def test_two_servers_written_at_once_give_no_username_twice(providers):
    start = threading.Barrier(2)

    def add_learners(store: DirectoryStore) -> None:
        start.wait()
        for _ in range(12):
            store.add_account(learner("Jones", "Ann"), T0)

    threads = [threading.Thread(target=add_learners, args=(store,)) for store in providers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = every_name(*providers)
    assert sum(names.values()) == 24  # every learner got an account...
    assert [name for name, count in names.items() if count > 1] == []  # ...and no name is on two
    assert "jonesa" in names and "jonesa24" in names


def test_one_learner_gets_one_account_whichever_server_and_again_after_a_deletion(providers, db):
    one, two = providers
    first = one.add_account(learner(upn_hash="f" * 64), T0)
    with pytest.raises(errors.UpnHashTaken):
        two.add_account(learner(upn_hash="f" * 64, school="6619876"), T0)
    assert list(two.iter_accounts()) == []
    assert ("username", "jonesa") not in claims_rows(db)  # the refused add gave its name back
    one.delete_account(first.id, "test", "deactivated for 12 months", T0)  # L-4: the tombstone keeps no hash
    again = two.add_account(learner(upn_hash="f" * 64), T0)
    assert again.upn_hash == "f" * 64 and again.username == "BloggsJ2"  # the tombstone's name stays taken


def test_a_upn_hash_claim_nobody_wrote_is_taken_over_after_15_minutes(slapd, store, db, caplog):
    clock = [T0]
    claims = GuardedClaims(DatabaseClaims(db, clock=lambda: clock[0]), (OperationalStoreError,))
    claims.claim(ClaimKind.UPN_HASH, "e" * 64, "a-run-killed-before-its-add")
    writer = claiming_store(slapd, claims)
    clock[0] = T0 + timedelta(minutes=5)
    with pytest.raises(errors.UpnHashTaken):  # that run may still be adding it
        writer.add_account(learner(upn_hash="e" * 64), T0)
    clock[0] = T0 + timedelta(minutes=16)
    with caplog.at_level(logging.WARNING, logger="directory.ldap.accounts"):
        made = writer.add_account(learner(upn_hash="e" * 64), T0)
    assert claims_rows(db)[("upn-hash", "e" * 64)] == made.id
    assert "took over the UPN-hash claim of account a-run-killed-before-its-add" in caplog.text
    assert "e" * 64 not in caplog.text  # M-3: never the hash in a log
    writer.close()


def test_names_written_without_the_claims_are_claimed_for_their_owner_when_met(slapd, store, db):
    store.add_account(learner("Jones", "Ann", upn_hash="d" * 64), T0)  # no claims: as before the table
    writer = claiming_store(slapd, shared_claims(db))
    with pytest.raises(errors.UpnHashTaken):  # this server's overlay refuses the hash
        writer.add_account(learner("Price", "Ann", upn_hash="d" * 64), T0)
    rows = claims_rows(db)
    assert ("upn-hash", "d" * 64) not in rows and ("username", "pricea") not in rows  # refused: given back
    assert writer.add_account(learner("Jones", "Ann"), T0).username == "JonesA2"
    unclaimed = store.add_account(learner("Jones", "Ann"), T0)  # JonesA3, by a writer without claims
    assert writer.add_account(learner("Jones", "Ann"), T0).username == "JonesA4"  # JonesA3 refused by the overlay
    assert claims_rows(db)[("username", "jonesa3")] == unclaimed.id  # met on the way: no other server gives it now
    writer.close()


def test_the_backfill_claims_what_the_directory_holds_and_reports_a_name_on_two_accounts(providers, store,
                                                                                        second_store, db):
    _one, two = providers
    store.add_account(learner("Jones", "Ann", upn_hash="c" * 64), T0)  # both written without claims
    second_store.add_account(learner("Jones", "Ann"), T0)
    first = record_existing(db, store.claimable_values())
    assert (first.recorded, first.already, first.conflicts) == (2, 0, [])
    assert record_existing(db, store.claimable_values()).already == 2  # a rerun changes nothing
    [(kind, value, _here, _claimed_by)] = record_existing(db, second_store.claimable_values()).conflicts
    assert (kind, value) == ("username", "jonesa")
    assert two.add_account(learner("Jones", "Ann"), T0).username == "JonesA2"
    with pytest.raises(errors.UpnHashTaken):
        two.add_account(learner(upn_hash="c" * 64), T0)


# -- the portal and the username-change job -----------------------------------------------------

class _NoSessions:
    def end_sessions_of(self, account_id: str) -> int:
        return 0


class _Audit:
    def __init__(self):
        self.entries = []

    def record(self, entry):
        self.entries.append(entry)

    def record_many(self, entries):
        self.entries.extend(entries)


def test_the_portal_and_the_username_job_on_another_server_take_the_next_free_name(providers, db):
    one, two = providers
    one.add_account(learner("Jones", "Ann"), T0)  # JonesA, on the first server only
    champion = two.add_account(learner("Evans", "Cai"), T0)
    champion = dataclasses.replace(champion, roles=frozenset({Role.DIGITAL_CHAMPION}))
    caller = Caller(champion, Actor(champion.id, PortalRole.DIGITAL_CHAMPION, Scope(frozenset({SCHOOL})), SCHOOL),
                    "192.0.2.7", T0)
    records = Records(directory=two, audit=_Audit(), sessions=_NoSessions(), queues=db)
    governor = portal_accounts.create_account(records, caller, AccountKind.GOVERNOR, forename="Ann", surname="Jones",
                                              password="Governor2026x", expiry=ExpiryChoice.THREE_MONTHS,
                                              school=SCHOOL)
    assert governor.username == "JonesA2"  # not the first server's JonesA

    renamed = two.add_account(learner("Price", "Ann"), T0)
    two.update_account(renamed.id, {"surname": "Jones"})  # the name changes at once...
    assert portal_accounts.request_new_username(records, caller, two.get_account(renamed.id))
    result = process_username_changes(JobContext(store=two, db=db, now=T0))  # ...the username by the job
    assert result.counts == {"changed": 1}, result.errors
    after = two.get_account(renamed.id)
    assert after.username == "JonesA3" and after.aliases == ("PriceA",)
    rows = claims_rows(db)
    assert rows[("username", "jonesa3")] == rows[("username", "pricea")] == renamed.id
    assert [name for name, count in every_name(one, two).items() if count > 1] == []


def test_claims_follow_the_settings(tmp_path):
    from config.settings import load_settings

    assert not load_settings(var_dir=tmp_path).claims_enabled  # SQLite: one machine, its overlay suffices
    assert load_settings(var_dir=tmp_path, database={"url": "postgresql+psycopg://porth@db/porth"}).claims_enabled
    assert load_settings(var_dir=tmp_path, claims={"enabled": True}).claims_enabled
    assert not load_settings(var_dir=tmp_path, database={"url": "postgresql+psycopg://porth@db/porth"},
                             claims={"enabled": False}).claims_enabled


def test_claims_out_of_reach_fail_the_username_job_and_keep_the_change_queued(slapd, store, db):
    from jobs.framework import run_job
    from operational import username_changes

    account = store.add_account(learner("Price", "Ann"), T0)
    assert username_changes.request_change(db, account.id, "JonesA", T0)
    gone = Database("postgresql+psycopg://porth@127.0.0.1:1/porth?connect_timeout=2")
    cut_off = claiming_store(slapd, GuardedClaims(DatabaseClaims(gone), (OperationalStoreError,)))
    run = run_job("username-changes", process_username_changes, JobContext(store=cut_off, db=db, now=T0))
    assert run.outcome == "failed" and run.note.startswith("ClaimsUnavailable: cannot read the username claims")
    assert [change.account_id for change in username_changes.pending(db)] == [account.id]  # tried again next run
    assert store.get_account(account.id).username == "PriceA"
    cut_off.close()
