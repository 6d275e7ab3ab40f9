"""Issue 14 point 3, the pure half: batches shaped as Graph accepts them, the replication-lag
rule, the 30-day restore rule and a job run's outcome from its counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.graph import errors
from connectors.graph.client import Step, batch_shapes
from connectors.graph.desired import Change, CloudUser, Known, plan_account
from jobs.framework import JobResult
from operational.statuses import JobOutcome

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def step(name: str, after: str | None = None) -> Step:
    return Step(name, "POST", "/users", {}, depends_on=(after,) if after else ())


def test_independent_steps_go_in_parallel_batches_of_twenty_and_each_chain_alone():
    steps = [step(f"p{n}") for n in range(25)] + [step("a"), step("b", "a"), step("c", "b")]
    shaped = batch_shapes(steps)
    assert sorted(len(batch) for batch in shaped) == [3, 5, 20]
    for batch in shaped:
        chained = [s for s in batch if s.depends_on]
        # Graph: "either fully sequential or fully parallel", never a mix.
        assert not chained or all(s.depends_on == (batch[i - 1].id,) for i, s in enumerate(batch) if i)
        assert not chained or not batch[0].depends_on
    assert sorted(s.id for batch in shaped for s in batch) == sorted(s.id for s in steps)


def test_what_no_batch_graph_accepts_can_carry_is_refused_before_anything_is_sent():
    with pytest.raises(ValueError, match="all depend on"):
        batch_shapes([step("a"), step("b", "a"), step("c", "a")])  # a tree, not a chain
    with pytest.raises(ValueError, match="not given"):
        batch_shapes([step("b", "a")])
    with pytest.raises(ValueError, match="longer than a"):
        batch_shapes([step("s0"), *(step(f"s{n}", f"s{n - 1}") for n in range(1, 21))])


def test_a_not_found_or_no_usage_location_is_taken_for_lag_and_nothing_else_is():
    assert errors.lag_suspect(errors.error_for(404, {"error": {"code": "Request_ResourceNotFound", "message": ""}}))
    assert errors.lag_suspect(errors.error_for(400, {"error": {
        "code": "Request_BadRequest",
        "message": "License assignment cannot be done for user with invalid usage location."}}))
    assert not errors.lag_suspect(errors.error_for(400, {"error": {
        "code": "Request_BadRequest", "message": "Subscription with SKU x does not have any available licenses."}}))
    assert errors.lag_suspect(errors.error_for(400, {"error": {
        "code": "Directory_ObjectNotFound", "message": "Unable to read the company information from the directory."}}))
    assert not errors.lag_suspect(None)


def user(licence: str | None = "STANDARDWOFFPACK_STUDENT") -> CloudUser:
    return CloudUser("id-1", "AveryA@hwbcymru.net", "Avery A", "AveryA", "A", "Avery", True, licence)


@pytest.mark.parametrize(("days", "change"), [(1, Change.RESTORE), (28, Change.RESTORE), (30, Change.CREATE)])
def test_an_account_back_within_thirty_days_is_restored_after_that_made_again(days, change):
    deleted = Known("cloud-1", None, "AveryA@hwbcymru.net", None, applied=True, deleted_at=NOW - timedelta(days=days))
    plan = plan_account("id-1", user(), deleted, retry_failed=True, now=NOW)
    assert plan.change is change and plan.add_licence == "STANDARDWOFFPACK_STUDENT"
    assert plan_account("id-1", None, deleted, now=NOW).change is Change.NOTHING  # still gone: nothing to delete


def test_a_refused_change_is_sent_again_when_the_sync_asks_every_run():
    refused = Known("cloud-1", user().digest(), "AveryA@hwbcymru.net", None, applied=False, refused=True)
    assert plan_account("id-1", user(), refused).change is Change.NOTHING
    assert plan_account("id-1", user(), refused, retry_failed=True).change is Change.UPDATE


@pytest.mark.parametrize(("applied", "failed", "outcome"), [(5, 0, JobOutcome.SUCCEEDED),
                                                           (4, 1, JobOutcome.PARTLY_FAILED),
                                                           (0, 2, JobOutcome.FAILED)])
def test_a_run_says_succeeded_only_when_no_account_failed(applied, failed, outcome):
    result = JobResult(counts={"created": 3, "graph requests": 9})
    result.settle(applied, failed)
    assert result.outcome is outcome
    assert list(result.counts)[:2] == ["applied", "failed"]  # first, where `porth jobs list` has room
    assert result.counts["applied"] == applied and result.counts["failed"] == failed


def test_the_cloud_user_is_named_by_the_one_function_the_idps_idpemail_uses():
    """S-1: the sync's userPrincipalName and the IdP's IDPEmail are one function; an address Graph
    would refuse is refused before anything is sent, naming the account, not the address."""
    from connectors.graph.desired import Skus, desired_user
    from directory.model import Account, AccountKind, AccountState
    from directory.rules.cloud_principal import InvalidUserPrincipalName, user_principal_name

    skus = Skus(learner="STANDARDWOFFPACK_STUDENT", staff="STANDARDWOFFPACK_FACULTY")
    good = Account(id="0f9d2c1e-5b7a-4c3e-9d1f-2a6b8c4e7f10", username="JonesA", kind=AccountKind.STAFF,
                   state=AccountState.ACTIVE, surname="Jones", forename="Ann", display_name="Ann Jones",
                   mail="JonesA@hwbcymru.net")
    user = desired_user(good, False, skus)
    assert user is not None and user.upn == user_principal_name(good) == "JonesA@hwbcymru.net"
    accented = Account(**{**good.__dict__, "mail": "JonesÂ@hwbcymru.net"})
    with pytest.raises(InvalidUserPrincipalName) as refused:
        desired_user(accented, False, skus)
    assert good.id in str(refused.value) and "JonesÂ" not in str(refused.value)
