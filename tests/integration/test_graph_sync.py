"""The tenant sync on a real slapd against the fake Graph (issue 6 points 6 and 9; SPEC G-1..G-3)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from connectors.graph.client import GraphClient, WritePacer
from connectors.graph.desired import Skus
from connectors.graph.sync import TenantSync
from connectors.graph.tokens import LocalAuthority, TokenSource
from demo.fake_graph import FACULTY_SKU, STUDENT_SKU, FakeGraph, FakeTenantSettings
from directory.model import AccountState, Consent
from operational import licence_requests
from tests.integration.conftest import SCHOOL, learner, staff

SKUS = Skus(learner=STUDENT_SKU[1], staff=FACULTY_SKU[1])


def graph_for(fake: FakeGraph, **options) -> GraphClient:
    tokens = TokenSource(fake.settings.client_id, fake.settings.client_secret, fake.authority,
                         LocalAuthority(fake.login_url, fake.url))
    return GraphClient(fake.graph_url, tokens, sleep=lambda _s: None, rng=random.Random(2),
                       pacer=WritePacer(100_000, 1.0), **options)


def sync(store, db, fake, full=False, now=None, **options):
    with graph_for(fake, **options) as graph:
        return TenantSync(store, db, graph, SKUS, now or datetime.now(UTC)).run(full=full)


def allocate(db, account, wanted=True):
    licence_requests.request(db, account.school, [account.id], wanted, "PriceN", datetime.now(UTC))


def test_a_first_sync_makes_every_cloud_user_and_licenses_by_consent_and_allocation(store, db, now):
    explicit = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    legacy = store.add_account(learner("Bevan", consent=Consent.LEGACY), now)
    without = store.add_account(learner("Cole"), now)
    teacher = store.add_account(staff("Jones", code="S1"), now)
    colleague = store.add_account(staff("Hughes", code="S2"), now)
    allocate(db, teacher)
    with FakeGraph() as fake:
        report = sync(store, db, fake)
        assert report.counts["created"] == 5
        for account, licences in ((explicit, {STUDENT_SKU[1]}), (legacy, {STUDENT_SKU[1]}), (without, set()),
                                  (teacher, {FACULTY_SKU[1]}), (colleague, set())):
            user = fake.user_by_upn(account.mail)
            assert user["onPremisesImmutableId"] == account.id and user["usageLocation"] == "GB"
            assert user["accountEnabled"] is True and user["displayName"] == account.display_name
            assert fake.licence_part_numbers(account.mail) == licences, account.username
        assert licence_requests.latest(db, SCHOOL)[teacher.id].state == "applied"
        # A second run with nothing changed sends no write at all.
        writes = fake.stats["writes"]
        assert sync(store, db, fake).counts.get("created", 0) == 0
        assert fake.stats["writes"] == writes


def test_changes_in_the_directory_reach_the_same_cloud_users(store, db, now):
    pupil = store.add_account(learner("Avery"), now)
    teacher = store.add_account(staff("Jones", code="S1"), now)
    leaver = store.add_account(learner("Bevan", consent=Consent.EXPLICIT), now)
    allocate(db, teacher)
    with FakeGraph() as fake:
        sync(store, db, fake)
        cloud_id = fake.user_by_upn(pupil.mail)["id"]
        consumed_before = fake._sku(FACULTY_SKU[0])["consumedUnits"]
        store.update_account(pupil.id, {"consent": Consent.EXPLICIT.value})  # C-3: consent confirmed
        store.change_username(pupil.id, "Davies", "Ann")
        store.set_state(teacher.id, AccountState.DEACTIVATED, "provisioning", "leaver", now)  # M-5
        store.delete_account(leaver.id, "scheduler", "12 months", now)  # L-4
        sync(store, db, fake)
        renamed = fake.user_by_upn(store.get_account(pupil.id).mail)
        assert renamed["id"] == cloud_id and fake.user_by_upn(pupil.mail) is None  # the same user, renamed
        assert fake.licence_part_numbers(renamed["userPrincipalName"]) == {STUDENT_SKU[1]}
        blocked = fake.user_by_upn(teacher.mail)
        assert blocked["accountEnabled"] is False and fake.licence_part_numbers(teacher.mail) == set()
        assert fake._sku(FACULTY_SKU[0])["consumedUnits"] == consumed_before - 1  # back in the pool (G-2)
        assert fake.user_by_upn(leaver.mail) is None  # deleted


def test_no_free_licence_is_reported_against_the_account_and_not_retried_each_run(store, db, now):
    first = store.add_account(staff("Jones", code="S1"), now)
    second = store.add_account(staff("Hughes", code="S2"), now)
    allocate(db, first)
    allocate(db, second)
    with FakeGraph(FakeTenantSettings(seats={FACULTY_SKU[0]: 1, STUDENT_SKU[0]: 10})) as fake:
        report = sync(store, db, fake)
        states = licence_requests.latest(db, SCHOOL)
        assert sorted(s.state for s in states.values()) == ["applied", "failed"]
        failed = next(s for s in states.values() if s.state == "failed")
        assert "Request_BadRequest" in failed.error and "available licenses" in failed.error
        assert any(e["error"] == "Request_BadRequest" for e in report.errors)
        writes = fake.stats["writes"]
        sync(store, db, fake)  # incremental: the refusal is not sent again
        assert fake.stats["writes"] == writes
        fake.settings.seats[FACULTY_SKU[0]] = 2  # a licence is bought: the full reconciliation retries
        sync(store, db, fake, full=True)
        assert {s.state for s in licence_requests.latest(db, SCHOOL).values()} == {"applied"}
        assert fake.licence_part_numbers(second.mail) == {FACULTY_SKU[1]}


def test_a_killed_sync_reruns_without_a_duplicate_cloud_user(store, db, now, monkeypatch):
    accounts = [store.add_account(learner(name, consent=Consent.EXPLICIT), now) for name in ("Avery", "Bevan", "Cole")]
    with FakeGraph() as fake:
        real_batch = GraphClient.send_batch

        def batch_then_die(self, steps):
            real_batch(self, steps)  # Graph made the users...
            raise KeyboardInterrupt  # ...and the process was killed before recording them

        monkeypatch.setattr(GraphClient, "send_batch", batch_then_die)
        with pytest.raises(KeyboardInterrupt):
            sync(store, db, fake)
        monkeypatch.setattr(GraphClient, "send_batch", real_batch)
        report = sync(store, db, fake)
        assert report.counts.get("adopted") == 3 and report.counts.get("created", 0) == 0
        assert len(fake.users) == 3
        for account in accounts:
            assert fake.licence_part_numbers(account.mail) == {STUDENT_SKU[1]}


def test_the_full_reconciliation_repairs_changes_made_by_hand_in_the_tenant(store, db, now):
    kept = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    gone = store.add_account(learner("Bevan"), now)
    with FakeGraph() as fake:
        sync(store, db, fake)
        with fake.lock:  # someone in the tenant's admin centre...
            user = fake._find(kept.mail)
            user["accountEnabled"] = False
            fake.licences[user["id"]].clear()
            del fake.users[fake._find(gone.mail)["id"]]
        sync(store, db, fake)  # incremental: nothing in the directory changed
        assert fake.user_by_upn(kept.mail)["accountEnabled"] is False
        report = sync(store, db, fake, full=True)
        assert report.counts.get("drifted") == 1 and report.counts.get("recreated") == 1
        assert fake.user_by_upn(kept.mail)["accountEnabled"] is True
        assert fake.licence_part_numbers(kept.mail) == {STUDENT_SKU[1]}
        assert fake.user_by_upn(gone.mail) is not None and len(fake.users) == 2


def test_a_throttling_storm_during_a_sync_loses_and_repeats_nothing(store, db, now):
    accounts = [store.add_account(learner("Learner" + "abcdefghijklmnopqrstuvwxyz"[n], consent=Consent.EXPLICIT),
                                  now) for n in range(26)]
    with FakeGraph(FakeTenantSettings(throttle_rate=0.3, retry_after=None, seed=11)) as fake:
        sync(store, db, fake, max_attempts=30)
        assert len(fake.users) == 26
        assert all(fake.licence_part_numbers(a.mail) == {STUDENT_SKU[1]} for a in accounts)
        assert fake.stats["throttled_injected"] > 0


def test_dry_run_writes_nothing_and_says_what_it_would_do(store, db, now):
    store.add_account(learner("Avery"), now)
    with FakeGraph() as fake:
        report = sync(store, db, fake, dry_run=True)
        assert report.counts.get("would create") == 1 and fake.users == {}


def test_only_what_changed_since_the_last_run_is_read_and_sent(store, db, now):
    for n in range(5):
        store.add_account(learner("Learner" + "abcde"[n]), now)
    with FakeGraph() as fake:
        sync(store, db, fake)
        writes = fake.stats["writes"]
        changed = store.add_account(learner("Zed", consent=Consent.EXPLICIT), now)
        report = sync(store, db, fake)
        assert report.counts["created"] == 1 and "updated" not in report.counts
        assert fake.stats["writes"] - writes == 2  # the new user and its licence, nothing else
        assert fake.licence_part_numbers(changed.mail) == {STUDENT_SKU[1]}


def test_a_reactivation_reaches_the_tenant_with_the_licence_back(store, db, now):
    """L-5: a reactivated account (by an administrator, or a learner on transfer) is unblocked and relicensed."""
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    with FakeGraph() as fake:
        sync(store, db, fake)
        store.set_state(pupil.id, AccountState.DEACTIVATED, "provisioning", "leaver", now)
        sync(store, db, fake)
        assert fake.user_by_upn(pupil.mail)["accountEnabled"] is False and not fake.licence_part_numbers(pupil.mail)
        store.set_state(pupil.id, AccountState.ACTIVE, "provisioning", "transfer in", now)
        sync(store, db, fake)
        assert fake.user_by_upn(pupil.mail)["accountEnabled"] is True
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}


@pytest.mark.parametrize("given", [Consent.LEGACY, Consent.EXPLICIT])
def test_g1_a_learner_whose_consent_is_withdrawn_loses_the_learner_licence_at_the_next_sync(store, db, now, given):
    """G-1 / C-3: consent that opens Office 365 licenses the learner; withdrawn, the next
    (incremental) sync takes the licence back, and the seat returns to the tenant's pool."""
    pupil = store.add_account(learner("Avery", consent=given), now)
    classmate = store.add_account(learner("Bevan", consent=given), now)
    with FakeGraph() as fake:
        sync(store, db, fake)
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        consumed = fake._sku(STUDENT_SKU[0])["consumedUnits"]
        cloud_id = fake.user_by_upn(pupil.mail)["id"]
        store.update_account(pupil.id, {"consent": Consent.WITHDRAWN.value})  # as the portal records it (C-3)
        report = sync(store, db, fake)
        assert report.counts.get("unlicensed") == 1
        assert fake.licence_part_numbers(pupil.mail) == set()
        assert fake.user_by_upn(pupil.mail)["id"] == cloud_id  # the same cloud user, only unlicensed
        assert fake._sku(STUDENT_SKU[0])["consumedUnits"] == consumed - 1
        assert fake.licence_part_numbers(classmate.mail) == {STUDENT_SKU[1]}  # nobody else's licence moved
