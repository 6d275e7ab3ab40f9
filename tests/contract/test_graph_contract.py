"""Microsoft Graph's documented contract, checked on the fake Graph with Porth's own client
(issue 14 point 6; docs/graph-fake.md lists each rule and its Microsoft page).

One test per rule the fake enforces, each sending the calls Porth's GraphClient makes
(request, pages, batch, send_batch): a rule dropped from the fake fails its test. Time
is the tenant's FakeClock, and the client's sleep advances it, so replication lag,
Retry-After, budgets and the 30 days of deleted items cost no real time.
"""

from __future__ import annotations

import random

import pytest

from connectors.graph import errors
from connectors.graph.client import GraphClient, Step, WritePacer
from connectors.graph.tokens import LocalAuthority, TokenSource
from demo.fake_graph import FACULTY_SKU, FakeClock, FakeGraph, FakeTenantSettings

DOMAIN = "hwbcymru.net"
LAG = FakeTenantSettings().replication_lag_seconds
LICENCE = {"addLicenses": [{"skuId": FACULTY_SKU[0], "disabledPlans": []}], "removeLicenses": []}
MIXED = "Batch should be either fully sequential or fully parallel"


def new_user(n: int, **extra) -> dict:
    return {"accountEnabled": True, "displayName": f"User {n}", "mailNickname": f"user{n}",
            "userPrincipalName": f"user{n}@{DOMAIN}", "usageLocation": "GB",
            "onPremisesImmutableId": f"0000000{n}-8f2c-4d5e-9a7b-3c1d2e4f5a6b"[-36:],
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": "Tiger4821x!"}, **extra}


class Tenant:
    """A started fake tenant on a FakeClock and a Porth GraphClient whose waits advance it."""

    def __init__(self, **settings):
        self.clock = FakeClock()
        self.fake = FakeGraph(FakeTenantSettings(**settings), clock=self.clock).start()
        tokens = TokenSource(self.fake.settings.client_id, self.fake.settings.client_secret, self.fake.authority,
                             LocalAuthority(self.fake.login_url, self.fake.url))
        # The pacer is set wide open: these tests meet the fake's budgets, not the client's.
        self.graph = GraphClient(self.fake.graph_url, tokens, sleep=self.clock.advance, rng=random.Random(1),
                                 max_attempts=4, pacer=WritePacer(1_000_000, 1.0, clock=self.clock,
                                                                  sleep=self.clock.advance))

    def create(self, n: int, **extra) -> dict:
        """A user made and replicated (the lag waited out)."""
        made = self.graph.request("POST", "/users", new_user(n, **extra))
        self.clock.advance(LAG)
        return made

    def close(self) -> None:
        self.graph.close()
        self.fake.stop()


@pytest.fixture
def tenant():
    started = Tenant()
    yield started
    started.close()


def refused(call, kind=errors.BadRequest) -> errors.GraphError:
    with pytest.raises(kind) as caught:
        call()
    error = caught.value
    assert error.code and error.message and error.request_id  # Graph's shape: code, message, innerError
    return error


def create(n: int, **extra) -> Step:
    return Step(f"create{n}", "POST", "/users", new_user(n, **extra))


# -- $batch (concepts/json-batching.md) -------------------------------------------------------------

def test_a_batch_mixing_independent_requests_with_a_dependson_chain_is_refused_whole(tenant):
    steps = [create(1), create(2), Step("licence2", "POST", f"/users/user2@{DOMAIN}/assignLicense", LICENCE,
                                        depends_on=("create2",))]
    error = refused(lambda: tenant.graph.send_batch(steps))
    assert error.status == 400 and MIXED in error.message
    assert tenant.fake.users == {}  # not one request of it ran


def test_a_fully_sequential_chain_runs_in_order_and_a_failure_fails_the_rest_424(tenant):
    answers = tenant.graph.send_batch([create(1), Step("create2", "POST", "/users", new_user(2),
                                                       depends_on=("create1",)),
                                       Step("create3", "POST", "/users", new_user(3, userPrincipalName="x@y.test"),
                                            depends_on=("create2",)),
                                       Step("create4", "POST", "/users", new_user(4), depends_on=("create3",))])
    assert [answers[f"create{n}"].status for n in (1, 2, 3, 4)] == [201, 201, 400, 424]


def test_a_chain_that_skips_a_link_is_not_fully_sequential(tenant):
    steps = [create(1), Step("create2", "POST", "/users", new_user(2), depends_on=("create1",)),
             Step("create3", "POST", "/users", new_user(3), depends_on=("create1",))]
    assert MIXED in refused(lambda: tenant.graph.send_batch(steps)).message


def test_a_batch_of_more_than_twenty_requests_is_refused(tenant):
    requests = [create(n).as_json() for n in range(21)]
    error = refused(lambda: tenant.graph.request("POST", "/$batch", {"requests": requests}))
    assert error.status == 400 and tenant.fake.users == {}


def test_request_ids_must_be_unique_in_a_batch_whatever_their_case(tenant):
    steps = [Step("a", "POST", "/users", new_user(1)), Step("A", "POST", "/users", new_user(2))]
    refused(lambda: tenant.graph.send_batch(steps))
    assert tenant.fake.users == {}


@pytest.mark.parametrize("depends_on", ["nowhere", "create2"], ids=["unknown id", "a later request"])
def test_dependson_names_an_earlier_request_of_the_batch(tenant, depends_on):
    steps = [create(1), Step("licence1", "POST", f"/users/user1@{DOMAIN}/assignLicense", LICENCE,
                             depends_on=("create1", depends_on)), create(2)]
    refused(lambda: tenant.graph.send_batch(steps))


def test_a_request_with_a_body_needs_a_content_type(tenant):
    step = {"id": "1", "method": "POST", "url": "/users", "body": new_user(1)}
    answers = tenant.graph.request("POST", "/$batch", {"requests": [step]})["responses"]
    assert answers[0]["status"] == 400 and tenant.fake.users == {}


# -- users: userPrincipalName (concept-sspr-policy; resources/user.md) ------------------------------------

@pytest.mark.parametrize("upn", [
    f"Bad Name@{DOMAIN}", f"Siân@{DOMAIN}", f"user.@{DOMAIN}", f"a@b@{DOMAIN}", f"{'a' * 65}@{DOMAIN}",
    "user@not-verified.example", f"user@{'a' * 40}.{'b' * 8}.example"],
    ids=["space", "accent", "dot before @", "two @", "65 before @", "unverified domain", "49 after @"])
def test_a_user_principal_name_entra_refuses_is_400_on_create(tenant, upn):
    error = refused(lambda: tenant.graph.request("POST", "/users", new_user(1, userPrincipalName=upn)))
    assert error.code == "Request_BadRequest" and "userPrincipalName" in error.message
    assert tenant.fake.users == {}


def test_every_allowed_character_is_taken_in_a_user_principal_name(tenant):
    made = tenant.graph.request("POST", "/users", new_user(1, userPrincipalName=f"o'Neil.a-b_c!d#e^f~g9@{DOMAIN}"))
    assert made["userPrincipalName"].startswith("o'Neil")


def test_an_invalid_user_principal_name_in_a_patch_is_400_and_changes_nothing(tenant):
    made = tenant.create(1)
    refused(lambda: tenant.graph.request("PATCH", f"/users/{made['id']}", {"userPrincipalName": f"a b@{DOMAIN}"}))
    assert tenant.fake.users[made["id"]]["userPrincipalName"] == f"user1@{DOMAIN}"


def test_a_patch_to_a_user_principal_name_another_user_holds_is_a_conflict(tenant):
    tenant.create(1)
    second = tenant.create(2)
    error = refused(lambda: tenant.graph.request("PATCH", f"/users/{second['id']}",
                                                 {"userPrincipalName": f"USER1@{DOMAIN}"}))
    assert "userPrincipalName already exists" in error.message


def test_read_only_properties_cannot_be_written(tenant):
    made = tenant.create(1)
    refused(lambda: tenant.graph.request("PATCH", f"/users/{made['id']}", {"proxyAddresses": ["SMTP:x@y"]}))


# -- users: onPremisesImmutableId (resources/user.md; plan-connect-design-concepts) ---------------------------

@pytest.mark.parametrize("immutable_id", ["abc_def", "abc$def", "a" * 60, "-" * 20, "abc+def"],
                         ids=["underscore", "dollar", "60 characters", "hyphens counted 3 each", "special"])
def test_an_immutable_id_graph_refuses_is_400_on_create_and_update(tenant, immutable_id):
    error = refused(lambda: tenant.graph.request("POST", "/users", new_user(1, onPremisesImmutableId=immutable_id)))
    assert "onPremisesImmutableId" in error.message and tenant.fake.users == {}
    made = tenant.create(2)
    refused(lambda: tenant.graph.request("PATCH", f"/users/{made['id']}", {"onPremisesImmutableId": immutable_id}))


def test_a_porth_account_uuid_is_a_valid_immutable_id(tenant):
    uuid_id = "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b"  # 32 alphanumerics + 4 hyphens counted 3 = 44 < 60
    assert tenant.graph.request("POST", "/users", new_user(1, onPremisesImmutableId=uuid_id))["id"]


def test_an_immutable_id_is_unique_in_the_tenant(tenant):
    tenant.create(1, onPremisesImmutableId="same-immutable-id")
    twin = new_user(2, onPremisesImmutableId="SAME-immutable-id")
    error = refused(lambda: tenant.graph.request("POST", "/users", twin))
    assert error.code == "Request_BadRequest" and "onPremisesImmutableId already exists" in error.message
    other = tenant.create(3)
    refused(lambda: tenant.graph.request("PATCH", f"/users/{other['id']}",
                                         {"onPremisesImmutableId": "same-immutable-id"}))
    assert len(tenant.fake.users) == 2


def test_a_deleted_user_still_holds_its_immutable_id(tenant):
    made = tenant.create(1, onPremisesImmutableId="returning-account")
    tenant.graph.request("DELETE", f"/users/{made['id']}")
    refused(lambda: tenant.graph.request("POST", "/users", new_user(2, onPremisesImmutableId="returning-account")))


def test_a_user_is_unique_by_user_principal_name_even_before_it_replicated(tenant):
    tenant.graph.request("POST", "/users", new_user(1))
    error = refused(lambda: tenant.graph.request("POST", "/users", new_user(2, userPrincipalName=f"user1@{DOMAIN}")))
    assert "userPrincipalName already exists" in error.message


def test_a_federated_domains_users_need_an_immutable_id_which_is_not_changed_while_federated():
    """user.md: required on create in a federated domain; Microsoft's "Configure federated sign-in
    for Windows devices": a federated user's immutable id is changed only after moving it to a
    non-federated domain, and set again in the PATCH that moves it back."""
    federated = Tenant(federated_domains=(DOMAIN,))
    try:
        refused(lambda: federated.graph.request("POST", "/users", new_user(1, onPremisesImmutableId=None)))
        made = federated.create(2)
        path = f"/users/{made['id']}"
        other = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        refused(lambda: federated.graph.request("PATCH", path, {"onPremisesImmutableId": other}))
        refused(lambda: federated.graph.request("PATCH", path, {"onPremisesImmutableId": None}))
        federated.graph.request("PATCH", path, {"displayName": "Still federated"})  # other changes go through
        # The documented way: out to the tenant's initial domain, back with the new immutable id.
        federated.graph.request("PATCH", path, {"userPrincipalName": "user2@porthfake.onmicrosoft.com"})
        federated.graph.request("PATCH", path, {"userPrincipalName": f"user2@{DOMAIN}", "onPremisesImmutableId": other})
        assert federated.graph.request("GET", f"{path}?$select=onPremisesImmutableId")["onPremisesImmutableId"] == other
        # Moving a user without one into a federated domain is refused likewise.
        cloud = federated.graph.request("POST", "/users", new_user(
            3, userPrincipalName="user3@porthfake.onmicrosoft.com", onPremisesImmutableId=None))
        federated.clock.advance(LAG)
        moved = {"userPrincipalName": f"user3@{DOMAIN}"}
        refused(lambda: federated.graph.request("PATCH", f"/users/{cloud['id']}", moved))
    finally:
        federated.close()


# -- eventual consistency -----------------------------------------------------------------------------------

def test_a_user_just_created_is_not_found_by_id_or_upn_until_it_replicates(tenant):
    made = tenant.graph.request("POST", "/users", new_user(1))
    for key in (made["id"], f"user1@{DOMAIN}"):
        assert refused(lambda key=key: tenant.graph.request("GET", f"/users/{key}"),
                       errors.NotFound).code == "Request_ResourceNotFound"
    assert list(tenant.graph.pages("/users")) == []
    refused(lambda: tenant.graph.request("PATCH", f"/users/{made['id']}", {"accountEnabled": False}), errors.NotFound)
    tenant.clock.advance(LAG)
    assert tenant.graph.request("GET", f"/users/{made['id']}")["userPrincipalName"] == f"user1@{DOMAIN}"
    assert [u["id"] for u in tenant.graph.pages("/users")] == [made["id"]]


def test_a_licence_for_a_user_not_yet_replicated_fails_as_graph_fails_then_succeeds(tenant):
    made = tenant.graph.request("POST", "/users", new_user(1))
    path = f"/users/{made['id']}/assignLicense"
    assert refused(lambda: tenant.graph.request("POST", path, LICENCE), errors.NotFound).status == 404
    chained = tenant.graph.send_batch([Step("licence", "POST", path, LICENCE)])
    assert chained["licence"].status == 404
    tenant.clock.advance(LAG)
    tenant.graph.request("POST", path, LICENCE)
    assert tenant.fake.licence_part_numbers(f"user1@{DOMAIN}") == {FACULTY_SKU[1]}


def test_a_usage_location_just_set_is_not_yet_seen_by_assign_license(tenant):
    made = tenant.create(1, usageLocation=None)
    tenant.graph.request("PATCH", f"/users/{made['id']}", {"usageLocation": "GB"})
    error = refused(lambda: tenant.graph.request("POST", f"/users/{made['id']}/assignLicense", LICENCE))
    assert error.no_usage_location
    tenant.clock.advance(LAG)
    tenant.graph.request("POST", f"/users/{made['id']}/assignLicense", LICENCE)


def test_replication_lag_is_a_tenant_setting():
    quick = Tenant(replication_lag_seconds=0)
    try:
        made = quick.graph.request("POST", "/users", new_user(1))
        assert quick.graph.request("GET", f"/users/{made['id']}")["id"] == made["id"]
    finally:
        quick.close()


# -- deleted items (resources/directory.md; api/directory-deleteditems-*.md) -----------------------------

def test_a_deleted_user_waits_in_deleted_items_and_comes_back_on_restore(tenant):
    made = tenant.create(1)
    tenant.graph.request("POST", f"/users/{made['id']}/assignLicense", LICENCE)
    tenant.graph.request("DELETE", f"/users/{made['id']}")
    refused(lambda: tenant.graph.request("GET", f"/users/{made['id']}"), errors.NotFound)
    listed = list(tenant.graph.pages("/directory/deletedItems/microsoft.graph.user"))
    assert [u["id"] for u in listed] == [made["id"]] and listed[0]["deletedDateTime"]
    # Shown with its object id before its UPN (Get-EntraDeletedUser's example); the restore gives it back.
    assert tenant.graph.request("GET", f"/directory/deletedItems/{made['id']}")["userPrincipalName"] == \
        f"{made['id']}user1@{DOMAIN}"
    restored = tenant.graph.request("POST", f"/directory/deletedItems/{made['id']}/restore")
    assert restored["userPrincipalName"] == f"user1@{DOMAIN}"
    assert restored["id"] == made["id"]  # the same object: its mailbox and OneDrive come back with it
    tenant.clock.advance(LAG)
    assert tenant.graph.request("GET", f"/users/{made['id']}")["onPremisesImmutableId"] == made["onPremisesImmutableId"]
    assert list(tenant.graph.pages("/directory/deletedItems/microsoft.graph.user")) == []
    assert tenant.fake.licence_part_numbers(f"user1@{DOMAIN}") == set()  # the seat was freed on delete


def test_deleted_users_are_not_filtered_by_immutable_id_but_listed_with_it(tenant):
    """No Microsoft page says deleted items take a $filter on onPremisesImmutableId (and a deleted
    user's UPN carries its object id): the fake refuses the filter, the listing with $select serves."""
    made = tenant.create(1)
    tenant.graph.request("DELETE", f"/users/{made['id']}")
    immutable = made["onPremisesImmutableId"]
    path = f"/directory/deletedItems/microsoft.graph.user?$filter=onPremisesImmutableId%20eq%20'{immutable}'"
    assert refused(lambda: list(tenant.graph.pages(path))).code == "Request_UnsupportedQuery"
    assert list(tenant.graph.pages(f"/users?$filter=onPremisesImmutableId%20eq%20'{immutable}'")) == []
    by_upn = f"/directory/deletedItems/microsoft.graph.user?$filter=userPrincipalName%20eq%20'user1@{DOMAIN}'"
    assert list(tenant.graph.pages(by_upn)) == []
    listed = list(tenant.graph.pages("/directory/deletedItems/microsoft.graph.user"
                                     "?$select=id,onPremisesImmutableId&$top=999"))
    assert listed == [{"id": made["id"], "onPremisesImmutableId": immutable}]


def test_deleted_items_are_kept_thirty_days_then_gone(tenant):
    made = tenant.create(1)
    tenant.graph.request("DELETE", f"/users/{made['id']}")
    tenant.clock.advance(29 * 86400)
    assert tenant.graph.request("GET", f"/directory/deletedItems/{made['id']}")["id"] == made["id"]
    tenant.clock.advance(86400)
    refused(lambda: tenant.graph.request("GET", f"/directory/deletedItems/{made['id']}"), errors.NotFound)
    refused(lambda: tenant.graph.request("POST", f"/directory/deletedItems/{made['id']}/restore"), errors.NotFound)


def test_a_deleted_users_upn_may_be_taken_and_its_restore_then_needs_a_new_one(tenant):
    made = tenant.create(1)
    tenant.graph.request("DELETE", f"/users/{made['id']}")
    tenant.create(2, userPrincipalName=f"user1@{DOMAIN}")
    path = f"/directory/deletedItems/{made['id']}/restore"
    assert "userPrincipalName already exists" in refused(lambda: tenant.graph.request("POST", path)).message
    restored = tenant.graph.request("POST", path, {"newUserPrincipalName": f"user1.old@{DOMAIN}"})
    assert restored["userPrincipalName"] == f"user1.old@{DOMAIN}"


# -- throttling (concepts/throttling.md, concepts/throttling-limits.md) ----------------------------------

@pytest.mark.parametrize(("status", "kind"), [(429, errors.Throttled), (503, errors.Unavailable)])
def test_a_whole_batch_refused_carries_retry_after_and_goes_through_after_it(tenant, status, kind):
    tenant.fake.refuse_next_batches(status, 1, retry_after="3")
    error = refused(lambda: tenant.graph.send_batch([create(1)]), kind)
    assert error.status == status and error.retry_after == 3.0 and tenant.fake.users == {}
    tenant.fake.refuse_next_batches(status, 1, retry_after="3")
    started = tenant.clock()
    answers = tenant.graph.batch([create(2)])
    assert answers["create2"].status == 201 and tenant.clock() - started >= 3.0


def test_whole_batch_refusals_come_at_the_configured_rates():
    busy = Tenant(batch_throttle_rate=0.5, batch_unavailable_rate=0.5, retry_after="1")
    try:
        outcomes = []
        for n in range(12):
            try:
                busy.graph.send_batch([create(n)])
                outcomes.append(200)
            except (errors.Throttled, errors.Unavailable) as exc:
                outcomes.append(exc.status)
        assert {429, 503} <= set(outcomes)
    finally:
        busy.close()


def test_a_request_over_the_app_write_budget_is_429_inside_the_batch_with_retry_after():
    tight = Tenant(app_writes=(5, 150.0))
    try:
        answers = tight.graph.send_batch([create(n) for n in range(8)])
        statuses = sorted(a.status for a in answers.values())
        assert statuses == [201] * 5 + [429] * 3
        throttled = next(a for a in answers.values() if a.status == 429)
        assert 0 < float(throttled.headers["Retry-After"]) <= 150.01
        assert throttled.headers["x-ms-throttle-information"] == "WriteLimitExceeded"
        assert throttled.headers["x-ms-throttle-scope"].startswith("Tenant_Application/Write/")
        tight.clock.advance(float(throttled.headers["Retry-After"]))
        assert tight.graph.send_batch([create(9)])["create9"].status == 201
    finally:
        tight.close()


def test_the_tenant_write_budget_binds_across_the_app_budget():
    tight = Tenant(tenant_writes=(2, 300.0))
    try:
        answers = tight.graph.send_batch([create(n) for n in range(3)])
        throttled = [a for a in answers.values() if a.status == 429]
        assert len(throttled) == 1 and throttled[0].headers["x-ms-throttle-scope"].startswith("Tenant/Write/")
    finally:
        tight.close()


def test_resource_units_are_spent_by_the_documented_costs_and_their_budget_throttles():
    tight = Tenant(resource_units=5)
    try:
        answers = tight.graph.send_batch([Step("list", "GET", "/users"), Step("skus", "GET", "/subscribedSkus")])
        assert answers["list"].headers["x-ms-resource-unit"] == "2"  # GET users: 2
        assert answers["skus"].headers["x-ms-resource-unit"] == "3"  # GET subscribedSkus: 3
        answers = tight.graph.send_batch([Step("cheap", "GET", "/users?$select=id&$top=10")])
        assert answers["cheap"].status == 429  # 5 spent in this window
        assert answers["cheap"].headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
        tight.clock.advance(10)
        answers = tight.graph.send_batch([Step("cheap", "GET", "/users?$select=id&$top=10")])
        assert answers["cheap"].headers["x-ms-resource-unit"] == "1"  # $select -1, $top < 20 -1, never below 1
    finally:
        tight.close()


def test_the_budgets_are_the_documented_ones(tenant):
    settings = FakeTenantSettings()
    assert settings.app_writes == (3000, 150.0) and settings.tenant_writes == (18000, 300.0)
    assert tenant.fake.resource_unit_quota() == 3500  # S: under 50 users
    for n in range(50):
        tenant.fake.add_existing_user(f"existing{n}@{DOMAIN}")
    assert tenant.fake.resource_unit_quota() == 5000  # M: 50 to 500
    for n in range(50, 501):
        tenant.fake.add_existing_user(f"existing{n}@{DOMAIN}")
    assert tenant.fake.resource_unit_quota() == 8000  # L: above 500


def test_injected_429s_inside_a_batch_are_per_request():
    flaky = Tenant(throttle_rate=0.5, retry_after="0.5", seed=5)
    try:
        answers = flaky.graph.send_batch([create(n) for n in range(10)])
        statuses = {a.status for a in answers.values()}
        assert statuses == {201, 429}
        assert all(a.headers.get("Retry-After") == "0.5" for a in answers.values() if a.status == 429)
    finally:
        flaky.close()


# -- adoption: $filter on users (resources/user.md; concepts/aad-advanced-queries.md) -----------------------

def test_an_existing_user_is_found_by_user_principal_name_or_immutable_id(tenant):
    existing = tenant.fake.add_existing_user(f"Ffion.Jones@{DOMAIN}", immutable_id="abc-123")
    found = list(tenant.graph.pages(f"/users?$filter=userPrincipalName eq 'ffion.jones@{DOMAIN}'"))
    assert [u["id"] for u in found] == [existing["id"]]
    found = list(tenant.graph.pages("/users?$filter=onPremisesImmutableId eq 'abc-123'"))
    assert [u["id"] for u in found] == [existing["id"]]
    found = list(tenant.graph.pages(f"/users?$filter=userPrincipalName in ('nobody@{DOMAIN}', "
                                    f"'Ffion.Jones@{DOMAIN}')"))
    assert [u["id"] for u in found] == [existing["id"]]
    assert list(tenant.graph.pages("/users?$filter=onPremisesImmutableId eq 'other'")) == []


@pytest.mark.parametrize("expression", [
    "endswith(onPremisesImmutableId,'123')", "startswith(onPremisesImmutableId,'abc')",
    f"endswith(userPrincipalName,'{DOMAIN}')", "onPremisesImmutableId ne 'abc'", "passwordProfile eq 'x'"],
    ids=["endswith immutable id", "startswith immutable id", "endswith without eventual", "ne without eventual",
         "unfilterable property"])
def test_a_filter_graph_does_not_support_on_that_property_is_400(tenant, expression):
    error = refused(lambda: tenant.graph.request("GET", f"/users?$filter={expression}"))
    assert error.code == "Request_UnsupportedQuery"


def test_a_filtered_list_pages_with_its_filter(tenant):
    for n in range(5):
        tenant.fake.add_existing_user(f"pupil{n}@{DOMAIN}")
    tenant.fake.add_existing_user(f"teacher@{DOMAIN}")
    found = list(tenant.graph.pages("/users?$filter=startswith(userPrincipalName,'pupil')&$top=2"))
    assert len(found) == 5 and len({u["id"] for u in found}) == 5
