"""The Graph client against the fake Graph (issue 6 points 5 and 7): paging, $batch with
partial failures and 424, throttling storms with and without Retry-After, a token that
expires mid-run, the write budget kept, errors mapped, dry run."""

from __future__ import annotations

import random

import pytest

from connectors.graph import errors
from connectors.graph.client import GraphClient, Step, WritePacer
from connectors.graph.tokens import LocalAuthority, TokenSource
from demo.fake_graph import FACULTY_SKU, FakeClock, FakeGraph, FakeTenantSettings


class Recorder:
    """Stands in for time.sleep: the client's waits are asserted, not slept."""

    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_for(fake: FakeGraph, sleep=None, **options) -> GraphClient:
    tokens = TokenSource(fake.settings.client_id, fake.settings.client_secret, fake.authority,
                         LocalAuthority(fake.login_url, fake.url))
    return GraphClient(fake.graph_url, tokens, sleep=sleep or Recorder(), rng=random.Random(1),
                       pacer=options.pop("pacer", WritePacer(100_000, 1.0)), **options)


def new_user(n: int, **extra) -> dict:
    return {"accountEnabled": True, "displayName": f"User {n}", "mailNickname": f"User{n}",
            "userPrincipalName": f"User{n}@hwbcymru.net", "usageLocation": "GB",
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": "Tiger4821x"}, **extra}


LAG = FakeTenantSettings().replication_lag_seconds


@pytest.fixture
def fake():
    """The fake tenant on a FakeClock: a test waits out Entra's replication lag by advancing it."""
    with FakeGraph(FakeTenantSettings(page_size=10), clock=FakeClock()) as started:
        yield started


def replicated(fake: FakeGraph) -> None:
    """The users just made are replicated: Graph answers for them from now on."""
    fake.clock.advance(LAG)  # type: ignore[attr-defined]


def test_users_are_created_read_changed_and_deleted(fake):
    with client_for(fake) as graph:
        made = graph.request("POST", "/users", new_user(1))
        with pytest.raises(errors.NotFound):  # Entra ID is eventually consistent: not yet replicated
            graph.request("GET", f"/users/{made['id']}")
        replicated(fake)
        assert graph.request("GET", f"/users/{made['id']}")["userPrincipalName"] == "User1@hwbcymru.net"
        graph.request("PATCH", f"/users/{made['id']}", {"accountEnabled": False})
        assert fake.user_by_upn("User1@hwbcymru.net")["accountEnabled"] is False
        graph.request("DELETE", f"/users/{made['id']}")
        with pytest.raises(errors.NotFound) as missing:
            graph.request("GET", f"/users/{made['id']}")
        assert missing.value.code == "Request_ResourceNotFound"


def test_paging_follows_next_links_to_the_end(fake):
    with client_for(fake) as graph:
        graph.batch([Step(str(n), "POST", "/users", new_user(n)) for n in range(25)])
        replicated(fake)
        before = graph.stats.requests
        listed = list(graph.pages("/users"))
        assert len(listed) == 25 and len({u["id"] for u in listed}) == 25
        assert graph.stats.requests - before == 3  # pages of 10


def test_a_batch_answers_each_step_and_a_failed_dependency_is_424(fake):
    licence = {"addLicenses": [{"skuId": FACULTY_SKU[0], "disabledPlans": []}], "removeLicenses": []}
    with client_for(fake) as graph:
        graph.request("POST", "/users", new_user(3))
        replicated(fake)
        answers = graph.batch([  # two chains: each goes as a sequential batch of its own
            Step("a", "POST", "/users", new_user(1)),
            Step("b", "POST", "/users", new_user(2, userPrincipalName="Bad Name@hwbcymru.net")),
            Step("c", "POST", "/users/User2@hwbcymru.net/assignLicense", licence, depends_on=("b",)),
            Step("d", "POST", "/users/User3@hwbcymru.net/assignLicense", licence, depends_on=("a",)),
        ])
        assert (answers["a"].status, answers["b"].status, answers["c"].status, answers["d"].status) == (201, 400, 424,
                                                                                                        200)
        assert isinstance(answers["b"].error, errors.BadRequest) and answers["b"].error.code == "Request_BadRequest"
        assert isinstance(answers["c"].error, errors.FailedDependency)
        assert fake.licence_part_numbers("User3@hwbcymru.net") == {"STANDARDWOFFPACK_FACULTY"}


def test_more_than_twenty_steps_go_in_several_batches(fake):
    with client_for(fake) as graph:
        answers = graph.batch([Step(str(n), "POST", "/users", new_user(n)) for n in range(45)])
        assert len(answers) == 45 and all(a.status == 201 for a in answers.values())
        assert graph.stats.batches == 3


@pytest.mark.parametrize("retry_after", ["0.25", None])
def test_a_throttling_storm_is_ridden_out_without_losing_or_repeating_a_change(retry_after):
    settings = FakeTenantSettings(throttle_rate=0.4, retry_after=retry_after, seed=3)
    with FakeGraph(settings) as fake:
        waits = Recorder()
        with client_for(fake, sleep=waits, max_attempts=20) as graph:
            answers = graph.batch([Step(str(n), "POST", "/users", new_user(n)) for n in range(60)])
            singles = [graph.request("POST", "/users", new_user(100 + n)) for n in range(10)]
        assert all(a.status == 201 for a in answers.values()) and all(s["id"] for s in singles)
        assert len(fake.users) == 70  # each created once
        assert graph.stats.throttled > 0 and waits.waits
        if retry_after:
            assert set(waits.waits) == {0.25}  # Graph's Retry-After, exactly
        else:
            assert all(0 < w <= 60 for w in waits.waits) and len(set(waits.waits)) > 1  # backed off, with jitter


def test_a_request_throttled_every_time_raises_throttled():
    with (FakeGraph(FakeTenantSettings(throttle_rate=1.0)) as fake, client_for(fake, max_attempts=3) as graph,
          pytest.raises(errors.Throttled)):
            graph.request("GET", "/users")


def test_a_token_that_expires_mid_run_is_renewed_once(fake):
    with client_for(fake) as graph:
        graph.request("POST", "/users", new_user(1))
        fake.expire_tokens()
        graph.request("POST", "/users", new_user(2))
        assert graph.stats.token_refreshes == 1 and len(fake.users) == 2


def test_wrong_client_credentials_are_one_clear_error():
    with FakeGraph() as fake:
        tokens = TokenSource(fake.settings.client_id, "not-the-secret", fake.authority,
                             LocalAuthority(fake.login_url, fake.url))
        with GraphClient(fake.graph_url, tokens) as graph, pytest.raises(errors.AuthenticationFailed) as refused:
            graph.request("GET", "/users")
        assert refused.value.code == "invalid_client"


def test_dry_run_sends_no_write(fake):
    with client_for(fake, dry_run=True) as graph:
        assert list(graph.pages("/users")) == []  # reads go
        with pytest.raises(errors.WritesBlocked):
            graph.request("POST", "/users", new_user(1))
        with pytest.raises(errors.WritesBlocked):
            graph.batch([Step("1", "POST", "/users", new_user(1))])
    assert fake.users == {} and fake.stats["writes"] == 0


def test_no_free_licence_and_no_usage_location_are_told_apart():
    settings = FakeTenantSettings(seats={FACULTY_SKU[0]: 1})
    with FakeGraph(settings, clock=FakeClock()) as fake, client_for(fake) as graph:
        graph.request("POST", "/users", new_user(1))
        graph.request("POST", "/users", new_user(2))
        graph.request("POST", "/users", new_user(3, usageLocation=None))
        replicated(fake)
        licence = {"addLicenses": [{"skuId": FACULTY_SKU[0], "disabledPlans": []}], "removeLicenses": []}
        graph.request("POST", "/users/User1@hwbcymru.net/assignLicense", licence)
        with pytest.raises(errors.BadRequest) as full:
            graph.request("POST", "/users/User2@hwbcymru.net/assignLicense", licence)
        assert full.value.no_free_licence and not full.value.no_usage_location
        with pytest.raises(errors.BadRequest) as nowhere:
            graph.request("POST", "/users/User3@hwbcymru.net/assignLicense", licence)
        assert nowhere.value.no_usage_location


def test_the_client_keeps_to_the_write_budget_instead_of_meeting_429s():
    """The fake enforces a budget of 40 writes a second; a pacer set to it never meets its 429."""
    settings = FakeTenantSettings(app_writes=(40, 1.0))
    with FakeGraph(settings) as fake:
        with client_for(fake, sleep=__import__("time").sleep, pacer=WritePacer(40, 1.0)) as graph:
            answers = graph.batch([Step(str(n), "POST", "/users", new_user(n)) for n in range(100)])
        assert all(a.status == 201 for a in answers.values())
        assert fake.stats["throttled_budget"] == 0


def shapes_sent(graph: GraphClient) -> list[str]:
    """The shape of each $batch as it goes on the wire: parallel, sequential (one chain) or mixed."""
    shapes: list[str] = []
    send = graph.http.request

    def recording(method, url, **kwargs):
        if url.endswith("/$batch"):
            requests = kwargs["json"]["requests"]
            chained = [r for r in requests if r.get("dependsOn")]
            sequential = all(r.get("dependsOn") == [requests[i - 1]["id"]] for i, r in enumerate(requests) if i)
            shapes.append("sequential" if chained and sequential else "parallel" if not chained else "mixed")
        return send(method, url, **kwargs)

    graph.http.request = recording  # type: ignore[method-assign]
    return shapes


def test_a_batch_of_chains_and_independent_steps_is_sent_in_shapes_graph_accepts(fake):
    """The fake refuses a mixed batch whole (tests/contract); the client never sends one."""
    licence = {"addLicenses": [{"skuId": FACULTY_SKU[0], "disabledPlans": []}], "removeLicenses": []}
    with client_for(fake) as graph:
        graph.request("POST", "/users", new_user(1))
        replicated(fake)
        shapes = shapes_sent(graph)
        answers = graph.batch([Step("a", "PATCH", "/users/User1@hwbcymru.net", {"usageLocation": "GB"}),
                               Step("x", "POST", "/users", new_user(9)),
                               Step("b", "POST", "/users/User1@hwbcymru.net/assignLicense", licence,
                                    depends_on=("a",))])
        assert {k: a.status for k, a in answers.items()} == {"a": 204, "x": 201, "b": 200}
        assert sorted(shapes) == ["parallel", "sequential"] and fake.stats["batches_rejected"] == 0


def test_a_whole_batch_refused_400_goes_again_step_by_step_and_only_the_bad_step_fails(fake):
    fake.refuse_batches_holding("User3@")
    with client_for(fake) as graph:
        answers = graph.batch([Step(str(n), "POST", "/users", new_user(n)) for n in range(5)])
        assert {k: a.status for k, a in answers.items()} == {"0": 201, "1": 201, "2": 201, "3": 400, "4": 201}
        assert isinstance(answers["3"].error, errors.BadRequest) and len(fake.users) == 4
        with pytest.raises(errors.BadRequest):  # send_batch is the raw exchange: the refusal is raised
            graph.send_batch([Step("m", "POST", "/users", new_user(7)),
                              Step("n", "POST", "/users/User7@hwbcymru.net/assignLicense", {}, depends_on=("m",)),
                              Step("o", "POST", "/users", new_user(8))])
