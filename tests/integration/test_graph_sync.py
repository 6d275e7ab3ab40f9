"""The tenant sync on a real slapd against the fake Graph (issue 6 points 6 and 9; SPEC G-1..G-3)."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from config.settings import GraphSettings
from connectors.graph.client import GraphClient, WritePacer
from connectors.graph.desired import Skus
from connectors.graph.sync import LAG_LIMIT, TenantSync
from connectors.graph.tokens import LocalAuthority, TokenSource
from demo.fake_graph import FACULTY_SKU, STUDENT_SKU, FakeClock, FakeGraph, FakeTenantSettings
from directory.model import AccountState, Consent
from directory.rules.cloud_identity import immutable_id
from jobs.framework import JobContext, run_job
from jobs.microsoft365 import consent_job, full_sync_job, tenant_sync_job
from operational import licence_requests
from operational.statuses import JobOutcome
from operational.tables import CloudAccount
from tests.integration.conftest import SCHOOL, learner, staff

SKUS = Skus(learner=STUDENT_SKU[1], staff=FACULTY_SKU[1])


def tenant(**settings) -> FakeGraph:
    """The fake tenant on a FakeClock: Entra's replication lag (2 s), Retry-After and every
    back-off pass when the sync waits, without a test sleeping."""
    return FakeGraph(FakeTenantSettings(**settings), clock=FakeClock())


def waiting(fake: FakeGraph, waits: list[float] | None = None):
    """The client's sleep: it moves the tenant's clock on (and notes each wait in `waits`)."""
    def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)
        fake.clock.advance(seconds)  # type: ignore[attr-defined]

    return sleep


def graph_for(fake: FakeGraph, waits: list[float] | None = None, **options) -> GraphClient:
    tokens = TokenSource(fake.settings.client_id, fake.settings.client_secret, fake.authority,
                         LocalAuthority(fake.login_url, fake.url))
    return GraphClient(fake.graph_url, tokens, sleep=waiting(fake, waits), rng=random.Random(2),
                       pacer=WritePacer(100_000, 1.0, clock=fake.clock), **options)


# A full sync some time after the writes it looks at: a user Porth wrote less than LAG_LIMIT ago and
# not yet listed is taken for replication lag, not for a deletion by hand (connectors/graph/sync.py).
def later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=LAG_LIMIT + 60)


def sync(store, db, fake, full=False, now=None, spy=None, waits=None, **options):
    """One run of the tenant sync on the tenant's clock: its waits advance it."""
    with graph_for(fake, waits, **options) as graph:
        if spy is not None:
            spy.watch(graph)
        return TenantSync(store, db, graph, SKUS, now or datetime.now(UTC), clock=fake.clock).run(full=full)


class BatchSpy:
    """Every $batch exactly as it went to the fake Graph (the JSON on the wire)."""

    def __init__(self):
        self.batches: list[list[dict]] = []

    def watch(self, graph: GraphClient) -> None:
        send = graph.http.request

        def recording(method, url, **kwargs):
            if url.endswith("/$batch"):
                self.batches.append(json.loads(json.dumps(kwargs["json"]))["requests"])
            return send(method, url, **kwargs)

        graph.http.request = recording  # type: ignore[method-assign]

    def steps(self) -> list[dict]:
        return [step for batch in self.batches for step in batch]


def cloud_row(db, account) -> CloudAccount:
    with db.session() as session:
        return session.scalars(select(CloudAccount).where(CloudAccount.account_id == account.id)).one()


def make_cloud_user(fake, upn, **extra) -> dict:
    """A user made in the tenant by hand (or by an earlier tool), before Porth."""
    with graph_for(fake) as graph:
        return graph.request("POST", "/users", {
            "accountEnabled": True, "displayName": "Made by hand", "mailNickname": upn.split("@")[0],
            "userPrincipalName": upn, "usageLocation": "GB",
            "passwordProfile": {"forceChangePasswordNextSignIn": True, "password": "Tiger4821x!"}, **extra})


def allocate(db, account, wanted=True):
    licence_requests.request(db, account.school, [account.id], wanted, "PriceN", datetime.now(UTC))


def test_a_first_sync_makes_every_cloud_user_and_licenses_by_consent_and_allocation(store, db, now):
    explicit = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    legacy = store.add_account(learner("Bevan", consent=Consent.LEGACY), now)
    without = store.add_account(learner("Cole"), now)
    teacher = store.add_account(staff("Jones", code="S1"), now)
    colleague = store.add_account(staff("Hughes", code="S2"), now)
    allocate(db, teacher)
    with tenant() as fake:
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
    with tenant() as fake:
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


def test_no_free_licence_is_reported_against_the_account_and_retried_without_a_write_until_one_is_bought(
        store, db, now):
    """The tenant's free seats (subscribedSkus) are counted before asking: the licence beyond
    them is refused here with licenseAssignmentState's name for it, and every next run looks
    again (issue 14: a failed account is retried), sending no write until a seat is bought."""
    first = store.add_account(staff("Jones", code="S1"), now)
    second = store.add_account(staff("Hughes", code="S2"), now)
    allocate(db, first)
    allocate(db, second)
    with tenant(seats={FACULTY_SKU[0]: 1, STUDENT_SKU[0]: 10}) as fake:
        later = datetime.now(UTC) + timedelta(minutes=1)  # the runs' mark after every directory change
        report = sync(store, db, fake, now=later)
        states = licence_requests.latest(db, SCHOOL)
        assert sorted(s.state for s in states.values()) == ["applied", "failed"]
        failed = next(s for s in states.values() if s.state == "failed")
        assert failed.error.startswith("CountViolation: no free STANDARDWOFFPACK_FACULTY licence")
        assert [e["error"] for e in report.errors] == ["CountViolation"]
        assert (report.applied, report.failed) == (1, 1)
        assert len(fake.users) == 2 and fake.stats["writes"] == 3  # two users, one licence
        writes = fake.stats["writes"]
        # Incremental, nothing changed in the directory: the failed account is looked at again,
        # still without a seat, and nothing is sent.
        assert sync(store, db, fake, now=later).failed == 1
        assert fake.stats["writes"] == writes
        fake.settings.seats[FACULTY_SKU[0]] = 2  # a licence is bought: the next run assigns it
        assert sync(store, db, fake, now=later).failed == 0
        assert {s.state for s in licence_requests.latest(db, SCHOOL).values()} == {"applied"}
        assert fake.licence_part_numbers(second.mail) == {FACULTY_SKU[1]}


def test_a_killed_sync_reruns_without_a_duplicate_cloud_user(store, db, now, monkeypatch):
    accounts = [store.add_account(learner(name, consent=Consent.EXPLICIT), now) for name in ("Avery", "Bevan", "Cole")]
    with tenant() as fake:
        real_batch = GraphClient.send_batch

        def batch_then_die(self, steps):
            answers = real_batch(self, steps)
            if any(step.method == "POST" and step.url == "/users" for step in steps):
                raise KeyboardInterrupt  # Graph made the users, and the process was killed before recording them
            return answers

        monkeypatch.setattr(GraphClient, "send_batch", batch_then_die)
        with pytest.raises(KeyboardInterrupt):
            sync(store, db, fake)
        monkeypatch.setattr(GraphClient, "send_batch", real_batch)
        report = sync(store, db, fake)
        assert report.counts.get("adopted") == 3 and report.counts.get("created", 0) == 0
        assert len(fake.users) == 3
        for account in accounts:
            assert fake.licence_part_numbers(account.mail) == {STUDENT_SKU[1]}


def test_a_killed_runs_unrecorded_user_deleted_by_hand_is_restored_not_made_again(store, db, now, monkeypatch):
    """Issue 14: the run that made the user died before recording it, and an administrator then
    deleted that user. It sits in deleted items still holding the account's immutable id, which
    Graph will not filter deleted items on: the rerun lists them, finds it and restores it."""
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    spy = BatchSpy()
    with tenant() as fake:
        real_batch = GraphClient.send_batch

        def batch_then_die(self, steps):
            answers = real_batch(self, steps)
            if any(step.method == "POST" and step.url == "/users" for step in steps):
                raise KeyboardInterrupt  # the user was made; the process died before recording it
            return answers

        monkeypatch.setattr(GraphClient, "send_batch", batch_then_die)
        with pytest.raises(KeyboardInterrupt):
            sync(store, db, fake)
        monkeypatch.setattr(GraphClient, "send_batch", real_batch)
        fake.clock.advance(5)
        cloud_id = fake.user_by_upn(pupil.mail)["id"]
        with graph_for(fake) as graph:
            graph.request("DELETE", f"/users/{cloud_id}")  # by hand, in the admin centre
        report = sync(store, db, fake, spy=spy)
        assert report.failed == 0 and report.counts.get("restored") == 1 and "created" not in report.counts
        assert f"/directory/deletedItems/{cloud_id}/restore" in [step["url"] for step in spy.steps()]
        assert list(fake.users) == [cloud_id] and fake.deleted == {}
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        row = cloud_row(db, pupil)
        assert row.state == "applied" and row.cloud_id == cloud_id


def test_a_run_killed_before_its_outcomes_were_written_reruns_to_the_same_users_and_licences(
        store, db, now, monkeypatch):
    """Issue 14 point 8: a batch's outcomes are written while the next batch is on the wire, so a
    killed run loses the outcomes not yet written. Only the intents must be on record before the
    creates go out; the rerun finds every user by its immutable id: none made twice, no second
    licence."""
    pupils = [store.add_account(learner(name, consent=Consent.EXPLICIT), now) for name in ("Avery", "Bevan")]
    teacher = store.add_account(staff("Jones", code="S1"), now)
    allocate(db, teacher)
    real_write = TenantSync._write
    writes = []

    def intents_only(self, staged, licences):
        writes.append(staged)
        if len(writes) == 1:  # the intents, written before any create is sent
            real_write(self, staged, licences)

    def killed(self, at):
        raise KeyboardInterrupt  # the process dies at the end of the run, its last outcomes unwritten

    with tenant() as fake:
        monkeypatch.setattr(TenantSync, "_write", intents_only)
        monkeypatch.setattr(TenantSync, "_set_mark", killed)
        with pytest.raises(KeyboardInterrupt):
            sync(store, db, fake)
        assert len(writes) > 1 and len(fake.users) == 3  # the tenant has them; the store has only intents
        assert {cloud_row(db, a).cloud_id for a in (*pupils, teacher)} == {None}
        sent = fake.stats["POST /users"]
        monkeypatch.undo()
        report = sync(store, db, fake)
        assert report.failed == 0 and report.counts.get("created", 0) == 0 and report.counts["adopted"] == 3
        assert len(fake.users) == 3 and fake.stats["POST /users"] == sent  # no create, no licence again
        assert fake.licence_part_numbers(teacher.mail) == {FACULTY_SKU[1]}
        for account in (*pupils, teacher):
            row = cloud_row(db, account)
            assert row.state == "applied" and row.cloud_id == fake.user_by_upn(account.mail)["id"]
        assert {s.state for s in licence_requests.latest(db, SCHOOL).values()} == {"applied"}


def test_the_full_reconciliation_repairs_changes_made_by_hand_in_the_tenant(store, db, now):
    kept = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    gone = store.add_account(learner("Bevan"), now)
    with tenant() as fake:
        sync(store, db, fake)
        kept_id, gone_id = fake.user_by_upn(kept.mail)["id"], fake.user_by_upn(gone.mail)["id"]
        with graph_for(fake) as graph:  # someone in the tenant's admin centre...
            graph.request("PATCH", f"/users/{kept_id}", {"accountEnabled": False})
            graph.request("POST", f"/users/{kept_id}/assignLicense", {"addLicenses": [],
                                                                       "removeLicenses": [STUDENT_SKU[0]]})
            graph.request("DELETE", f"/users/{gone_id}")  # to deletedItems
        sync(store, db, fake)  # incremental: nothing in the directory changed
        assert fake.user_by_upn(kept.mail)["accountEnabled"] is False
        report = sync(store, db, fake, full=True, now=later())  # the night's full sync
        assert report.counts.get("drifted") == 1 and report.counts.get("recreated") == 1
        assert fake.user_by_upn(kept.mail)["accountEnabled"] is True
        assert fake.licence_part_numbers(kept.mail) == {STUDENT_SKU[1]}
        assert report.counts.get("restored") == 1 and fake.user_by_upn(gone.mail)["id"] == gone_id
        assert len(fake.users) == 2 and fake.deleted == {}


def test_a_throttling_storm_during_a_sync_loses_and_repeats_nothing(store, db, now):
    accounts = [store.add_account(learner("Learner" + "abcdefghijklmnopqrstuvwxyz"[n], consent=Consent.EXPLICIT),
                                  now) for n in range(26)]
    with tenant(throttle_rate=0.3, retry_after=None, seed=11) as fake:
        sync(store, db, fake, max_attempts=30)
        assert len(fake.users) == 26
        assert all(fake.licence_part_numbers(a.mail) == {STUDENT_SKU[1]} for a in accounts)
        assert fake.stats["throttled_injected"] > 0


def test_dry_run_writes_nothing_and_says_what_it_would_do(store, db, now):
    store.add_account(learner("Avery"), now)
    with tenant() as fake:
        report = sync(store, db, fake, dry_run=True)
        assert report.counts.get("would create") == 1 and fake.users == {}


def test_only_what_changed_since_the_last_run_is_read_and_sent(store, db, now):
    for n in range(5):
        store.add_account(learner("Learner" + "abcde"[n]), now)
    with tenant() as fake:
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
    with tenant() as fake:
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
    with tenant() as fake:
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


# -- issue 14 ------------------------------------------------------------------------------------


def test_every_batch_is_fully_parallel_and_a_new_users_licence_goes_by_the_id_graph_returned(store, db, now):
    """Point 3: Graph refuses a batch mixing parallel steps and dependsOn chains (json-batching:
    "Batch should be either fully sequential or fully parallel"); the licence of a user made in
    the same run is addressed by the id in the create's answer, never by the UPN."""
    accounts = [store.add_account(learner("Learner" + "abcdefghijklmnopqrstuvwxyz"[n], consent=Consent.EXPLICIT),
                                  now) for n in range(25)]
    spy = BatchSpy()
    with tenant() as fake:
        report = sync(store, db, fake, spy=spy)
        assert report.counts["created"] == 25 and (report.applied, report.failed) == (25, 0)
        assert spy.batches and all(len(batch) <= 20 for batch in spy.batches)
        assert not [step for step in spy.steps() if "dependsOn" in step]  # every batch fully parallel
        for batch in spy.batches:  # one step per account in a batch: nothing in it waits on another
            assert len({step["id"].split(":")[0] for step in batch}) == len(batch)
        cloud_ids = {fake.user_by_upn(a.mail)["id"] for a in accounts}
        licences = [step["url"] for step in spy.steps() if step["url"].endswith("/assignLicense")]
        assert sorted(url.split("/")[2] for url in licences) == sorted(cloud_ids)
        assert [step["url"] for step in spy.steps() if step["method"] == "POST"].count("/users") == 25  # once each
        assert all(fake.licence_part_numbers(a.mail) == {STUDENT_SKU[1]} for a in accounts)


def test_a_licence_refused_for_replication_lag_is_sent_again_with_back_off_in_the_same_run(store, db, now):
    """Entra ID is eventually consistent: a user just made answers 404 for a while. Its licence
    waits first, then is sent again with a doubling back-off, the run waiting on the tenant's clock."""
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    waits: list[float] = []
    with tenant(replication_lag_seconds=10) as fake:
        report = sync(store, db, fake, waits=waits)
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        assert report.counts["lag retries"] == 3 and (report.applied, report.failed) == (1, 0)
        # The first wait for replication (2 s), then 404 at 2, 4 and 8 s: backed off 2, 4, 8.
        assert [w for w in waits if w >= 1] == [2.0, 2.0, 4.0, 8.0]
        assert cloud_row(db, pupil).state == "applied"


def test_a_user_made_is_given_its_licence_after_the_usual_lag_without_a_refused_write(store, db, now):
    """With the tenant's usual lag (2 s), the licence of a user just made waits it out first:
    no write is spent on a 404."""
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    with tenant() as fake:
        report = sync(store, db, fake)
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        assert "lag retries" not in report.counts and fake.stats["writes"] == 2  # the user, its licence


def test_lag_beyond_five_minutes_leaves_the_licence_pending_for_the_next_run(store, db, now):
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    with tenant(replication_lag_seconds=1000) as fake:
        started = fake.clock()
        report = sync(store, db, fake)
        assert (report.applied, report.failed) == (0, 1) and report.counts["licence left pending"] == 1
        assert 300 <= fake.clock() - started < 400  # bounded: about five minutes, then the run goes on
        row = cloud_row(db, pupil)
        assert row.state == "pending" and row.cloud_id == fake.user_by_upn(pupil.mail)["id"]
        assert row.error_code == "Request_ResourceNotFound"
        fake.clock.advance(1000)  # replicated by the next run
        assert sync(store, db, fake).applied == 1
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]} and len(fake.users) == 1


def test_whole_batches_refused_wait_their_retry_after_or_go_step_by_step_and_the_run_goes_on(store, db, now):
    """A $batch POST answered 429 or 503 as a whole is sent again after its Retry-After; answered
    400, its steps go again one per batch, and the step still refused is its account's error."""
    accounts = [store.add_account(learner("Learner" + "abcdef"[n], consent=Consent.EXPLICIT), now) for n in range(6)]
    poisoned = accounts[2]
    waits: list[float] = []
    with tenant() as fake:
        fake.refuse_next_batches(429, 1, retry_after="3")
        fake.refuse_next_batches(503, 1, retry_after="3")
        fake.refuse_batches_holding(poisoned.mail)
        report = sync(store, db, fake, waits=waits)
        assert waits[:2] == [3.0, 3.0]  # Retry-After, for the 429 and for the 503
        assert fake.stats["batches_refused_429"] == 1 and fake.stats["batches_refused_503"] == 1
        assert (report.applied, report.failed) == (5, 1) and report.counts["batches refused"] >= 1
        assert [e["record"] for e in report.errors] == [poisoned.mail]
        assert cloud_row(db, poisoned).state == "failed" and cloud_row(db, poisoned).error_code == "BadRequest"
        assert all(fake.licence_part_numbers(a.mail) == {STUDENT_SKU[1]} for a in accounts if a is not poisoned)


@pytest.mark.parametrize("full", [False, True], ids=["looked up", "found in the tenant's listing"])
def test_a_cloud_user_with_the_accounts_upn_and_no_immutable_id_is_adopted_not_duplicated(store, db, now, full):
    """Point 4, Entra Connect's hard match: the existing user gets the account's immutable id."""
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    with tenant() as fake:
        existing = make_cloud_user(fake, pupil.mail)
        report = sync(store, db, fake, full=full)
        assert report.counts["adopted"] == 1 and "created" not in report.counts
        user = fake.user_by_upn(pupil.mail)
        assert user["id"] == existing["id"] and len(fake.users) == 1
        assert user["onPremisesImmutableId"] == immutable_id(pupil.id)
        assert user["displayName"] == pupil.display_name  # the directory's names from now on
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        assert cloud_row(db, pupil).cloud_id == existing["id"]


def test_a_cloud_user_in_an_already_federated_domain_is_reported_for_an_administrator_not_retried(store, db, now):
    """Entra will not set an immutable id on a user of a federated domain: the adoption is one
    refused PATCH, reported on the account with what to do; done as Microsoft documents, the
    next run takes the user as the account's own."""
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    spy = BatchSpy()
    with tenant() as fake:
        existing = make_cloud_user(fake, pupil.mail)
        fake.settings.federated_domains = ("hwbcymru.net",)  # federated before the first sync
        report = sync(store, db, fake, spy=spy)
        assert report.failed == 1 and [e["error"] for e in report.errors] == ["ImmutableIdRefused"]
        assert immutable_id(pupil.id) in report.errors[0]["detail"]
        assert [s["method"] for s in spy.steps()].count("PATCH") == 1  # no retry loop
        row = cloud_row(db, pupil)
        assert row.state == "failed" and row.error_permanent and row.error_code == "ImmutableIdRefused"
        assert fake.user_by_upn(pupil.mail)["onPremisesImmutableId"] is None and len(fake.users) == 1
        again = sync(store, db, fake, spy=spy)  # the next run asks once more, and is refused the same
        assert [e["error"] for e in again.errors] == ["ImmutableIdRefused"]
        assert [s["method"] for s in spy.steps()].count("PATCH") == 2 and cloud_row(db, pupil).state == "failed"
        with graph_for(fake) as graph:  # the administrator, as Microsoft's page shows
            path = f"/users/{existing['id']}"
            graph.request("PATCH", path, {"userPrincipalName": "AveryJ@porthfake.onmicrosoft.com"})
            graph.request("PATCH", path, {"userPrincipalName": pupil.mail,
                                          "onPremisesImmutableId": immutable_id(pupil.id)})
        fake.clock.advance(5)
        assert sync(store, db, fake).failed == 0
        assert len(fake.users) == 1 and fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        assert cloud_row(db, pupil).state == "applied" and cloud_row(db, pupil).cloud_id == existing["id"]


def test_a_cloud_user_with_another_immutable_id_is_reported_then_adopted_once_an_administrator_clears_it(
        store, db, now):
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    classmate = store.add_account(learner("Bevan", consent=Consent.EXPLICIT), now)
    with tenant() as fake:
        other = make_cloud_user(fake, pupil.mail, onPremisesImmutableId="c29tZW9uZS1lbHNl")
        # The run's mark after every directory change: the next run finds nothing changed there.
        context = JobContext(store=store, db=db, now=datetime.now(UTC) + timedelta(minutes=1))
        run = run_job("graph-sync", tenant_sync_job(settings_for(fake), fake.clock, waiting(fake)), context)
        assert run.outcome is JobOutcome.PARTLY_FAILED
        assert (run.counts["applied"], run.counts["failed"]) == (1, 1)
        assert [(e["record"], e["error"]) for e in run.errors] == [(pupil.mail, "ImmutableIdConflict")]
        row = cloud_row(db, pupil)
        assert row.state == "failed" and row.error_code == "ImmutableIdConflict" and row.cloud_id is None
        assert "another onPremisesImmutableId" in row.error_message
        untouched = fake.user_by_upn(pupil.mail)
        assert untouched["onPremisesImmutableId"] == "c29tZW9uZS1lbHNl" and untouched["displayName"] == "Made by hand"
        assert not fake.licence_part_numbers(pupil.mail) and len(fake.users) == 2
        assert fake.licence_part_numbers(classmate.mail) == {STUDENT_SKU[1]}
        with graph_for(fake) as graph:  # the administrator frees it in the tenant
            graph.request("PATCH", f"/users/{other['id']}", {"onPremisesImmutableId": None})
        again = run_job("graph-sync", tenant_sync_job(settings_for(fake), fake.clock, waiting(fake)),
                        context)  # nothing changed in LDAP
        assert again.outcome is JobOutcome.SUCCEEDED and (again.counts["applied"], again.counts["failed"]) == (1, 0)
        assert fake.user_by_upn(pupil.mail)["onPremisesImmutableId"] == immutable_id(pupil.id)
        assert cloud_row(db, pupil).state == "applied" and len(fake.users) == 2


def test_a_cloud_user_deleted_within_thirty_days_is_restored_from_deleted_items_not_made_again(store, db, now):
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    spy = BatchSpy()
    with tenant() as fake:
        sync(store, db, fake)
        cloud_id = fake.user_by_upn(pupil.mail)["id"]
        with graph_for(fake) as graph:  # deleted by hand in the tenant: a soft delete
            graph.request("DELETE", f"/users/{cloud_id}")
        report = sync(store, db, fake, full=True, spy=spy, now=later())
        assert report.counts.get("restored") == 1 and "created" not in report.counts
        assert f"/directory/deletedItems/{cloud_id}/restore" in [step["url"] for step in spy.steps()]
        assert fake.user_by_upn(pupil.mail)["id"] == cloud_id and len(fake.users) == 1
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        assert cloud_row(db, pupil).deleted_at is None


class Finishes:
    """Stands in for the sleep of a job waiting for a lock: it wakes when another job finished."""

    def __init__(self):
        self.count, self.condition = 0, threading.Condition()

    def done(self) -> None:
        with self.condition:
            self.count += 1
            self.condition.notify_all()

    def sleeper(self):
        seen = [0]

        def sleep(_seconds: float) -> None:
            with self.condition:
                self.condition.wait_for(lambda: self.count > seen[0], timeout=30)
                seen[0] = self.count

        return sleep


def test_a_cloud_user_gone_from_the_tenant_is_asked_back_from_deleted_items_and_made_again_only_if_it_cannot_be(
        store, db, now):
    """The restore is tried first; a tenant that cannot restore it (purged from deletedItems, by
    hand or after 30 days) gets the user made again, once."""
    pupil = store.add_account(learner("Avery", consent=Consent.EXPLICIT), now)
    spy = BatchSpy()
    with tenant() as fake:
        sync(store, db, fake)
        cloud_id = fake.user_by_upn(pupil.mail)["id"]
        with graph_for(fake) as graph:  # deleted in the tenant, then purged beyond recall
            graph.request("DELETE", f"/users/{cloud_id}")
            graph.request("DELETE", f"/directory/deletedItems/{cloud_id}")
        sync(store, db, fake, full=True, spy=spy, now=later())
        urls = [(step["method"], step["url"]) for step in spy.steps()]
        restore = ("POST", f"/directory/deletedItems/{cloud_id}/restore")
        assert restore in urls and urls.index(restore) < urls.index(("POST", "/users"))
        assert len(fake.users) == 1 and fake.user_by_upn(pupil.mail)["id"] != cloud_id
        assert fake.licence_part_numbers(pupil.mail) == {STUDENT_SKU[1]}
        row = cloud_row(db, pupil)
        assert row.state == "applied" and row.deleted_at is None and row.cloud_id == fake.user_by_upn(pupil.mail)["id"]


def settings_for(fake: FakeGraph) -> GraphSettings:
    return GraphSettings(enabled=True, tenant_id=fake.settings.tenant, client_id=fake.settings.client_id,
                         client_secret=fake.settings.client_secret, authority=fake.authority,
                         authority_server=fake.url, graph_url=fake.graph_url)


def test_the_microsoft_365_jobs_started_together_write_one_after_the_other_and_make_each_user_once(store, db):
    """Point 5, what the demo's first minute did: graph-sync, consent-propagation and the full
    sync all started at once. They share one writer lock: each cloud user is made once."""
    accounts = [store.add_account(learner("Learner" + "abcdefgh"[n], consent=Consent.EXPLICIT), datetime.now(UTC))
                for n in range(8)] + [store.add_account(staff("Jones", code="S1"), datetime.now(UTC))]
    finishes = Finishes()
    start = threading.Barrier(3)
    runs = {}
    with tenant() as fake:
        settings = settings_for(fake)

        def run(name, job):
            start.wait()
            context = JobContext(store=store, db=db, now=datetime.now(UTC))
            # A job waiting for the writer lock tries again when another has finished, not on a timer.
            runs[name] = run_job(name, job, context, sleep=finishes.sleeper())
            finishes.done()

        threads = [threading.Thread(target=run, args=(name, job)) for name, job in (
            ("graph-sync", tenant_sync_job(settings, fake.clock, waiting(fake))),
            ("consent-propagation", consent_job(settings, fake.clock, waiting(fake))),
            ("graph-full-sync", full_sync_job(settings, fake.clock, waiting(fake))))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        # Never two racing creates: the fake counts every POST under /users, each create and licence once.
        assert fake.stats["POST /users"] == len(accounts) + 8 and len(fake.users) == len(accounts)
        assert {name: run.outcome for name, run in runs.items()} == dict.fromkeys(runs, JobOutcome.SUCCEEDED)
        assert sum(run.counts.get("created", 0) for run in runs.values()) == len(accounts)
        assert sum(run.counts["failed"] for run in runs.values()) == 0
        with db.session() as session:
            assert set(session.scalars(select(CloudAccount.state))) == {"applied"}


def test_a_user_just_written_and_not_listed_yet_is_taken_for_replication_lag_not_a_deletion(store, db, now):
    """Entra ID lists a new user only once replicas know it: a full sync straight after the create
    must not restore or make it again (it did: one restore and one refused create each time)."""
    pupil = store.add_account(staff("Jones", code="S7"), now)  # no licence: nothing waits out the lag
    with tenant() as fake:
        sync(store, db, fake)
        writes, cloud_id = fake.stats["POST /users"], fake.user_by_upn(pupil.mail)["id"]
        report = sync(store, db, fake, full=True)
        assert "recreated" not in report.counts and "restored" not in report.counts, report.counts
        assert fake.stats["POST /users"] == writes and len(fake.users) == 1
        assert cloud_row(db, pupil).deleted_at is None and cloud_row(db, pupil).cloud_id == cloud_id
