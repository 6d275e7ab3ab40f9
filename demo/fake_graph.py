"""A faithful fake of Microsoft Graph v1.0 and the Entra token endpoint, for tests,
benchmarks and the demo (issues 6 and 14; ../shared/FORMATS.md "Microsoft Graph").

An HTTP server on 127.0.0.1 that keeps a tenant in memory and refuses what Graph
documents it refuses. Every rule it enforces names the Microsoft page it comes
from in a comment beside it, and docs/graph-fake.md lists them all; where
Microsoft is silent the fake takes the stricter side and says so. In short:

- `$batch`: at most 20 requests, ids unique, `dependsOn` naming earlier requests
  of the batch, and a batch either fully parallel or one sequential chain (a mix
  is a whole-batch 400); a whole batch may be refused 429 or 503 with
  `Retry-After`, a request inside it 429 on its own.
- users: the required properties, `userPrincipalName` (characters, lengths, a
  verified domain) on create and update, `onPremisesImmutableId` (characters,
  length, unique in the tenant, deleted users included), read-only properties.
- eventual consistency: a user created (or restored) is not addressable by id or
  UPN, nor listed, for `replication_lag_seconds`; a licence assigned to it in
  that window is 404, and a usage location just set is not yet seen by
  assignLicense.
- deleted items: DELETE /users/{id} keeps the user 30 days in
  /directory/deletedItems, from where it can be listed, read and restored.
- throttling: the identity service's resource-unit budget (by tenant size, with
  the documented request costs) and write budgets (per app and tenant, per
  tenant), 429 with `Retry-After` and the `x-ms-throttle-*` headers.
- `$filter` on users with the operators each property supports, 400 otherwise.

Time is read from a clock that tests replace with FakeClock and advance, so
replication lag, budgets and the 30 days of deleted items need no sleeps.

    python -m demo.fake_graph --port 8765        # for the demo
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import random
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

STUDENT_SKU = ("314c4481-f395-4525-be8b-2ec4bb1e9d91", "STANDARDWOFFPACK_STUDENT")
FACULTY_SKU = ("94763226-9b3c-4e75-a931-5c89701abe66", "STANDARDWOFFPACK_FACULTY")

# Microsoft Entra "Password policies and account restrictions" (concept-sspr-policy),
# Username policies: the characters a userPrincipalName may hold, no "." right before
# the "@", at most 64 characters before it, 48 after it and 113 in all. Graph's user
# resource (resources/user.md): "domain must be present in the tenant's collection of
# verified domains"; "This property cannot contain accent characters".
UPN_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~")
UPN_MAX_LOCAL, UPN_MAX_DOMAIN, UPN_MAX = 64, 48, 113

# Graph's user resource (resources/user.md), onPremisesImmutableId: "The $ and _
# characters cannot be used when specifying this property." Microsoft states no length
# for it there; the stricter documented one is Entra Connect's for the same value
# ("Microsoft Entra Connect: Design concepts", plan-connect-design-concepts, sourceAnchor):
# "Fewer than 60 characters in length", a character that is not a-z, A-Z or 0-9
# "encoded and counted as 3 characters", and none of its special characters.
IMMUTABLE_ID_FORBIDDEN = frozenset("$_")
IMMUTABLE_ID_SPECIAL = frozenset("\\!#$%&*+/=?^`{}|~<>()';:,[]\"@_")
IMMUTABLE_ID_MAX_ENCODED = 59
ALPHANUMERIC = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

# resources/user.md: "Maximum length is 256 characters" (displayName), 64 (mailNickname,
# givenName, surname); usageLocation "A two letter country code (ISO standard 3166)".
MAX_LENGTHS = {"displayName": 256, "mailNickname": 64, "givenName": 64, "surname": 64}
# resources/user.md: id, proxyAddresses, createdDateTime, deletedDateTime,
# onPremisesSyncEnabled are read-only; assignedLicenses changes only through assignLicense
# (api/user-assignlicense.md).
READ_ONLY = frozenset({"id", "assignedLicenses", "proxyAddresses", "createdDateTime", "deletedDateTime",
                       "onPremisesSyncEnabled"})
# api/user-post-users.md: the properties required to create a user.
REQUIRED_ON_CREATE = ("accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName")

# concepts/json-batching.md, "Batch size limitations": "JSON batch requests are currently
# limited to 20 individual requests."
MAX_BATCH = 20
# resources/directory.md: "Deleted items remain available to restore for up to 30 days.
# After 30 days, the items are permanently deleted."
DELETED_ITEMS_KEPT = timedelta(days=30).total_seconds()
# api/user-list.md: $top takes 1 to 999 for users.
MAX_PAGE = 999

# concepts/throttling-limits.md, "Identity and access service limits": resource units per
# application+tenant pair per 10 seconds by tenant size ("S - under 50 users, M - between
# 50 and 500 users, and L - above 500 users"); writes: 3,000 per 2 minutes 30 seconds per
# application+tenant pair and 18,000 per 5 minutes per tenant. The per-application limits
# across all tenants (150,000 resource units per 20 s, 70,000 writes per 5 min) are looser
# than these for a one-tenant app, so they never bind first and are not kept.
RESOURCE_UNITS = ((50, 3500), (501, 5000), (None, 8000))
RESOURCE_UNIT_WINDOW = 10.0
# The same page's cost table: base costs (any identity request not listed costs 1
# resource unit, and a POST, PATCH, PUT or DELETE 1 write), "$select decreases cost by
# 1", "$expand increases cost by 1", "$top with a value of less than 20 decreases cost
# by 1", "A request cost can never be lower than 1", and a cost for `me/...` applies to
# `users/{id | userPrincipalName}/...`.
GET_COSTS = {("users",): 2, ("subscribedSkus",): 3, ("users", "*", "licenseDetails"): 2,
             ("users", "*", "memberOf"): 2, ("users", "*", "ownedObjects"): 2,
             ("users", "*", "transitiveMemberOf"): 2}

# api/user-list.md and resources/user.md ("Supports $filter (...)"): the operators each
# property takes. `ne`, `NOT` and `endsWith` are advanced queries (concepts/aad-advanced-
# queries.md): only with the ConsistencyLevel: eventual header and $count=true.
FILTERS: dict[str, frozenset[str]] = {
    "id": frozenset({"eq", "ne", "in"}),
    "userPrincipalName": frozenset({"eq", "ne", "in", "ge", "le", "startswith", "endswith"}),
    "onPremisesImmutableId": frozenset({"eq", "ne", "in", "ge", "le"}),
    "mailNickname": frozenset({"eq", "ne", "in", "ge", "le", "startswith"}),
    "displayName": frozenset({"eq", "ne", "in", "ge", "le", "startswith"}),
    "mail": frozenset({"eq", "ne", "in", "ge", "le", "startswith", "endswith"}),
    "accountEnabled": frozenset({"eq", "ne", "in"}),
}
ADVANCED_OPERATORS = frozenset({"ne", "endswith"})
# api/directory-deleteditems-list.md: the listing takes "the query parameters that are supported
# by the resource", yet its own table narrows what deleted users support ($orderBy on three
# properties of the user's many), and no page says that a deleted user can be found by its
# onPremisesImmutableId. The fake refuses that filter (the stricter side: a sync that relies on
# it would fail on a tenant that refuses it); the listing itself, with $select and $top, is
# documented, so that is what a client uses to find a deleted user by its immutable id.
DELETED_FILTERS = {name: ops for name, ops in FILTERS.items() if name != "onPremisesImmutableId"}


class FakeClock:
    """Seconds that pass only when a test says so: `advance` them, or hand `advance` to the
    Graph client as its `sleep`, so every wait it makes moves the tenant's time on."""

    def __init__(self, start: float = 1_000_000.0):
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


@dataclass
class Budget:
    """A sliding-window budget: at most `limit` units in any `window` seconds.

    Graph describes its identity limits as a token bucket (throttling-limits.md,
    "Pattern"); a bucket of `limit` refilled over `window` lets a client spend up to twice
    the limit in a window after a quiet spell, a sliding window never more than the limit.
    The fake keeps the stricter of the two."""

    limit: int
    window: float
    _spent: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)
    _total: int = 0

    def _forget(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.window:
            self._total -= self._spent.popleft()[1]

    def wait_needed(self, now: float, cost: int = 1) -> float:
        """Seconds until `cost` more units fit (0: they fit now)."""
        self._forget(now)
        if self._total + cost <= self.limit:
            return 0.0
        freed, excess = 0, self._total + cost - self.limit
        for at, units in self._spent:
            freed += units
            if freed >= excess:
                return at + self.window - now
        return self.window

    def spend(self, now: float, cost: int = 1) -> None:
        self._spent.append((now, cost))
        self._total += cost

    def used(self, now: float) -> int:
        self._forget(now)
        return self._total


@dataclass
class FakeTenantSettings:
    client_id: str = "porth-fake-client"
    client_secret: str = "porth-fake-secret"  # noqa: S105 - the fake tenant's, known to the demo only
    tenant: str = "porth-fake-tenant"
    # MSAL only takes an https authority: it is told this one, and a rewriting HTTP client
    # (connectors.graph.tokens.LocalAuthority) carries its requests to the fake.
    login_host: str = "login.fake-graph.test"
    domain: str = "hwbcymru.net"
    verified_domains: tuple[str, ...] = ()  # more verified domains than `domain`
    # Every tenant has its initial domain, which can never be federated; the domains federated
    # with an IdP (with Porth, once an administrator ran `porth m365 federation`).
    initial_domain: str = "porthfake.onmicrosoft.com"
    federated_domains: tuple[str, ...] = ()
    token_lifetime: int = 3600
    page_size: int = 100
    # Eventual consistency: seconds before a user created or restored can be addressed,
    # listed or licensed. Microsoft states no bound ("Designing for Eventual Consistency
    # for Microsoft Entra", Microsoft identity blog, 2026: "A newly created object to
    # return a 'Not Found'"; reports of tens of seconds to a minute or two): 2 s of the
    # tenant's clock by default, so every test meets it; 0 only where a test is about
    # something else.
    replication_lag_seconds: float = 2.0
    throttle_rate: float = 0.0  # share of requests (single or in a batch) answered 429 at random
    retry_after: str | None = "0.05"  # the header on injected 429s; None: absent
    batch_throttle_rate: float = 0.0  # share of $batch POSTs refused whole with 429
    batch_unavailable_rate: float = 0.0  # share of $batch POSTs refused whole with 503
    app_writes: tuple[int, float] = (3000, 150.0)  # documented: 3,000 writes per 2 min 30 s per app and tenant
    tenant_writes: tuple[int, float] = (18000, 300.0)  # documented: 18,000 per 5 min per tenant
    # Resource units per application+tenant pair: None takes the documented quota for the
    # tenant's size (3,500 / 5,000 / 8,000); the window is 10 s (a benchmark shortens it
    # with the write windows).
    resource_units: int | None = None
    resource_unit_window: float = RESOURCE_UNIT_WINDOW
    seats: dict[str, int] = field(default_factory=lambda: {STUDENT_SKU[0]: 1_000_000, FACULTY_SKU[0]: 100_000})
    seed: int = 7

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(d.lower() for d in (self.domain, *self.verified_domains, self.initial_domain))

    def federated(self, upn: object) -> bool:
        domain = upn.rpartition("@")[2].lower() if isinstance(upn, str) else None
        return any(domain == d.lower() for d in self.federated_domains)


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                details: list[dict[str, str]] | None = None) -> tuple:
    """Graph's error shape (concepts/errors.md): {"error": {"code", "message", "innerError"}}."""
    inner: dict[str, str] = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                             "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}
    if status == 429:
        inner["code"] = "429"  # concepts/throttling.md's sample throttled response
    error: dict[str, Any] = {"code": code, "message": message, "innerError": inner}
    if details:
        error["details"] = details
    return status, {"error": error}, headers or {}


def not_found(key: str) -> tuple:
    # The message Graph gives for a user id or UPN it does not (yet) know.
    return graph_error(404, "Request_ResourceNotFound",
                       f"Resource '{key}' does not exist or one of its queried reference-property objects "
                       "are not present.")


def invalid_value(name: str) -> tuple:
    return graph_error(400, "Request_BadRequest", f"Invalid value specified for property '{name}' of resource 'User'.")


def federated_immutable_id_refused() -> tuple:
    """A user of a federated domain without an immutable id, or one whose immutable id is set
    while it is in a federated domain. The only message reported for the rule (a create in a
    federated domain without it: microsoft/dotnetcore-console-sample issue 46); Graph gives no code
    of its own, and for the PATCH no message is reported: the same one (choice)."""
    return graph_error(400, "Request_BadRequest", "One or more properties contains invalid values.")


def conflict(name: str) -> tuple:
    # The answer to a duplicate unique property (microsoft-graph-docs issue 1508, a
    # maintainer's reproduction): 400 Request_BadRequest, details ObjectConflict.
    return graph_error(400, "Request_BadRequest", f"Another object with the same value for property {name} "
                                                  "already exists.", details=[{"target": name,
                                                                              "code": "ObjectConflict"}])


def upn_problem(upn: object, domains: tuple[str, ...]) -> bool:
    """True when Entra refuses this userPrincipalName (concept-sspr-policy, user.md)."""
    if not isinstance(upn, str) or upn.count("@") != 1:
        return True  # "Any '@' character that's not separating the username from the domain"
    local, domain = upn.split("@")
    return (not local or not domain or len(local) > UPN_MAX_LOCAL or len(domain) > UPN_MAX_DOMAIN
            or len(upn) > UPN_MAX or bool(set(local) - UPN_CHARACTERS) or local.endswith(".")
            or domain.lower() not in domains)


def immutable_id_problem(value: object) -> bool:
    """True when Graph (user.md) or Entra Connect's rules (the stricter length) refuse it."""
    if value is None:
        return False  # not set: allowed for a cloud user of a managed domain
    if not isinstance(value, str) or not value or not value.isascii():
        return True
    if IMMUTABLE_ID_FORBIDDEN & set(value) or IMMUTABLE_ID_SPECIAL & set(value):
        return True
    return sum(1 if ch in ALPHANUMERIC else 3 for ch in value) > IMMUTABLE_ID_MAX_ENCODED


def _lower(value: object) -> str:
    return str(value).lower() if value is not None else ""


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # a benchmark sends tens of thousands
        pass


class FakeGraph:
    """The tenant and its HTTP face. Thread-safe: the server answers requests on threads."""

    def __init__(self, settings: FakeTenantSettings | None = None, clock: Callable[[], float] | None = None):
        self.settings = settings or FakeTenantSettings()
        self.clock = clock or time.monotonic
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}  # every live user, replicated or not
        self.deleted: dict[str, dict[str, Any]] = {}  # /directory/deletedItems: id -> user
        self._deleted_at: dict[str, float] = {}
        self._deleted_upn: dict[str, str] = {}  # a deleted user's own UPN, given back on restore
        self._visible_at: dict[str, float] = {}  # user id -> when replicas answer for it
        self._by_upn: dict[str, str] = {}  # lower-cased UPN -> id, live users
        self._by_immutable_id: dict[str, str] = {}  # lower-cased onPremisesImmutableId -> id, live and deleted
        self._usage_location_was: dict[str, tuple[str | None, float]] = {}  # id -> (old value, changed at)
        self.licences: dict[str, set[str]] = {}  # user id -> skuIds
        self.consumed: collections.Counter[str] = collections.Counter()  # skuId -> seats in use
        self.tokens: dict[str, float] = {}  # token -> expiry (monotonic: tokens live in real time)
        self.skus = {STUDENT_SKU[0]: STUDENT_SKU[1], FACULTY_SKU[0]: FACULTY_SKU[1]}
        self.random = random.Random(self.settings.seed)
        self.app_budget = Budget(*self.settings.app_writes)
        self.tenant_budget = Budget(*self.settings.tenant_writes)
        self.unit_budget = Budget(self.resource_unit_quota(), self.settings.resource_unit_window)
        self._refusals: collections.deque[tuple[int, str | None]] = collections.deque()
        self._refused_holding: list[str] = []  # a test's: a $batch holding any of these is refused whole, 400
        self.stats: collections.Counter[str] = collections.Counter()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- the server ------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeGraph:
        server = self._server = make_server("127.0.0.1", port, self._wsgi, threaded=True,
                                            request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{server.server_port}"
        thread = self._thread = threading.Thread(target=server.serve_forever, name="fake-graph", daemon=True)
        thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            if self._thread is not None:  # set with the server, in start()
                self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    @property
    def authority(self) -> str:
        """The authority as MSAL is given it (https; see LocalAuthority)."""
        return f"https://{self.settings.login_host}/{self.settings.tenant}"

    @property
    def login_url(self) -> str:
        return f"https://{self.settings.login_host}"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        path = request.path
        try:
            if path.startswith(f"/{self.settings.tenant}/"):
                status, body, headers = self._identity(request, path[len(self.settings.tenant) + 2:])
            elif path.startswith("/v1.0/"):
                status, body, headers = self._graph(request)
            else:
                status, body, headers = graph_error(404, "NotFound", f"no route {path}")
        except json.JSONDecodeError:
            status, body, headers = graph_error(400, "BadRequest", "the body is not JSON")
        response = Response(json.dumps(body) if body is not None else b"", status=status,
                            content_type="application/json", headers=headers)
        return response(environ, start_response)

    # -- Entra: the OpenID configuration and client-credentials tokens -------------------------
    def _identity(self, request: Request, rest: str) -> tuple:
        if rest in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
            return 200, {"authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                         "token_endpoint": f"{self.authority}/oauth2/v2.0/token",
                         "issuer": f"{self.authority}/v2.0",
                         "token_endpoint_auth_methods_supported": ["client_secret_post"]}, {}
        if rest == "oauth2/v2.0/token" and request.method == "POST":
            form = request.form
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}, {}
            if form.get("client_id") != self.settings.client_id or \
                    form.get("client_secret") != self.settings.client_secret:
                return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"}, {}
            token = secrets.token_urlsafe(24)
            with self.lock:
                self.tokens[token] = time.monotonic() + self.settings.token_lifetime
                self.stats["tokens"] += 1
            return 200, {"token_type": "Bearer", "expires_in": self.settings.token_lifetime,
                         "ext_expires_in": self.settings.token_lifetime, "access_token": token}, {}
        return 404, {"error": "not_found"}, {}

    def expire_tokens(self) -> None:
        """Every token issued so far stops working now (a token expiring mid-run)."""
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    # -- Graph ---------------------------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.lock:
            return self.tokens.get(token, 0.0) > time.monotonic()

    def _graph(self, request: Request) -> tuple:
        self.stats["http_requests"] += 1
        if not self._authorised(request):
            return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        path = request.path[len("/v1.0"):]
        if path == "/$batch" and request.method == "POST":
            return self._batch(request.get_json(force=True, silent=False))
        body = request.get_json(force=True, silent=False) if request.data else None
        return self._one(request.method, path + (f"?{request.query_string.decode()}" if request.query_string else ""),
                         body, dict(request.headers))

    # -- throttling ------------------------------------------------------------------------------
    def resource_unit_quota(self) -> int:
        """The resource units per window the tenant gets now (by its size, throttling-limits.md)."""
        if self.settings.resource_units is not None:
            return self.settings.resource_units
        size = len(self.users)
        return next(quota for below, quota in RESOURCE_UNITS if below is None or size < below)

    @staticmethod
    def cost(method: str, segments: list[str], query: dict[str, str]) -> tuple[int, int]:
        """(resource units, writes) of one request, by throttling-limits.md's cost table."""
        if method == "GET":
            shape = tuple("*" if n == 1 and segments[0] == "users" else s for n, s in enumerate(segments))
            units = GET_COSTS.get(shape, 1)
        else:
            units = 1
        units -= "$select" in query
        units += "$expand" in query
        top = query.get("$top", "")
        units -= top.isdigit() and int(top) < 20
        writes = 1 if method in ("POST", "PATCH", "PUT", "DELETE") else 0
        return max(1, units), writes

    def _throttled(self, units: int, writes: int) -> tuple | None:
        settings = self.settings
        with self.lock:
            now = self.clock()
            # concepts/throttling.md ("Best practices"): "all requests accrue against your usage
            # limits" -- a request refused still spends its resource units.
            self.unit_budget.limit = self.resource_unit_quota()
            unit_wait = self.unit_budget.wait_needed(now, units)
            self.unit_budget.spend(now, units)
            self.stats["resource_units"] += units
            if settings.throttle_rate and self.random.random() < settings.throttle_rate:
                self.stats["throttled_injected"] += 1
                headers = {"Retry-After": settings.retry_after} if settings.retry_after is not None else {}
                return graph_error(429, "TooManyRequests", "Too many requests (injected).", headers)
            if unit_wait > 0:
                self.stats["throttled_units"] += 1
                return self._budget_refusal(unit_wait, "Tenant_Application/ReadWrite", "ResourceUnitLimitExceeded")
            if writes:
                app_wait = self.app_budget.wait_needed(now, writes)
                tenant_wait = self.tenant_budget.wait_needed(now, writes)
                if app_wait > 0 or tenant_wait > 0:
                    self.stats["throttled_budget"] += 1
                    scope = "Tenant/Write" if tenant_wait > app_wait else "Tenant_Application/Write"
                    return self._budget_refusal(max(app_wait, tenant_wait), scope, "WriteLimitExceeded")
                self.app_budget.spend(now, writes)
                self.tenant_budget.spend(now, writes)
                self.stats["writes"] += writes
        return None

    def _budget_refusal(self, wait: float, scope_and_limit: str, reason: str) -> tuple:
        # throttling-limits.md, "Throttled responses requests": x-ms-throttle-scope
        # (<Scope>/<Limit>/<ApplicationId>/<TenantId>) and x-ms-throttle-information; the wait
        # in Retry-After (concepts/throttling.md), rounded up so a client that waits it is let in.
        scope = f"{scope_and_limit}/{self.settings.client_id}/{self.settings.tenant}"
        return graph_error(429, "TooManyRequests", "Too many requests.",
                           {"Retry-After": f"{wait + 0.005:.2f}", "x-ms-throttle-scope": scope,
                            "x-ms-throttle-information": reason})

    def refuse_next_batches(self, status: int, count: int = 1, retry_after: str | None = "1") -> None:
        """The next `count` $batch POSTs are refused whole with `status` (429 or 503)."""
        with self.lock:
            self._refusals.extend([(status, retry_after)] * count)

    def refuse_batches_holding(self, text: str) -> None:
        """Every $batch POST whose JSON holds `text` is refused whole with 400, nothing in it run: a
        test hook standing for a request Graph cannot parse (a whole-batch 400, json-batching.md),
        so a test can see the client find the one step refused by sending the others without it."""
        with self.lock:
            self._refused_holding.append(text)

    def _batch_refusal(self) -> tuple | None:
        settings = self.settings
        with self.lock:
            if self._refusals:
                status, retry_after = self._refusals.popleft()
            elif settings.batch_throttle_rate and self.random.random() < settings.batch_throttle_rate:
                status, retry_after = 429, settings.retry_after
            elif settings.batch_unavailable_rate and self.random.random() < settings.batch_unavailable_rate:
                status, retry_after = 503, settings.retry_after
            else:
                return None
            self.stats[f"batches_refused_{status}"] += 1
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if status == 429:
            # The $batch POST is itself a request: Graph's global limit (throttling-limits.md,
            # "Any request ... per app across all tenants") and the service's load
            # (throttling.md: 429 "even when the following limits are not reached") refuse it whole.
            return graph_error(429, "TooManyRequests", "Too many requests.", headers)
        # concepts/errors.md: 503 "The service is temporarily unavailable ... You may repeat the
        # request after a delay, the length of which may be specified in a Retry-After header."
        return graph_error(503, "serviceNotAvailable", "The service is temporarily unavailable.", headers)

    # -- one request -------------------------------------------------------------------------------
    def _one(self, method: str, url: str, body: Any, headers: dict[str, str] | None = None) -> tuple:
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        units, writes = self.cost(method, segments, query)
        throttled = self._throttled(units, writes)
        if throttled:
            return throttled
        with self.lock:
            self.stats[f"{method} /{segments[0] if segments else ''}"] += 1
            self._purge()
            status, payload, answer_headers = self._route(method, segments, query, body,
                                                         {k.lower(): v for k, v in (headers or {}).items()})
        # throttling-limits.md, "Regular responses": x-ms-resource-unit, the units spent.
        return status, payload, {**answer_headers, "x-ms-resource-unit": str(units)}

    def _route(self, method: str, segments: list[str], query: dict[str, str], body: Any,
               headers: dict[str, str]) -> tuple:
        if segments == ["subscribedSkus"] and method == "GET":
            return 200, {"value": [self._sku(sku_id) for sku_id in self.skus]}, {}
        if segments == ["users"] and method == "GET":
            return self._list(self._replicated(), "/users", query, headers)
        if segments == ["users"] and method == "POST":
            return self._create_user(body if isinstance(body, dict) else {})
        if len(segments) >= 2 and segments[0] == "users":
            user = self._find(segments[1])
            if user is None:
                return not_found(segments[1])
            if len(segments) == 2 and method == "GET":
                return 200, self._public(user, query), {}
            if len(segments) == 2 and method == "PATCH":
                return self._update_user(user, body if isinstance(body, dict) else {})
            if len(segments) == 2 and method == "DELETE":
                return self._delete_user(user)
            if segments[2:] == ["assignLicense"] and method == "POST":
                return self._assign(user, body if isinstance(body, dict) else {})
            if segments[2:] == ["licenseDetails"] and method == "GET":
                return 200, {"value": [{"skuId": s, "skuPartNumber": self.skus[s]}
                                       for s in sorted(self.licences.get(user["id"], ()))]}, {}
        if segments[:2] == ["directory", "deletedItems"]:
            return self._deleted_items(method, segments[2:], query, body, headers)
        return graph_error(400, "BadRequest", f"Unsupported request {method} /{'/'.join(segments)}")

    def _sku(self, sku_id: str) -> dict:
        consumed = self.consumed[sku_id]
        return {"skuId": sku_id, "skuPartNumber": self.skus[sku_id], "consumedUnits": consumed,
                "prepaidUnits": {"enabled": self.settings.seats.get(sku_id, 0), "suspended": 0, "warning": 0}}

    # -- eventual consistency ------------------------------------------------------------------------
    def _is_replicated(self, user_id: str) -> bool:
        return self.clock() >= self._visible_at.get(user_id, 0.0)

    def _replicated(self) -> list[dict[str, Any]]:
        return [u for u in self.users.values() if self._is_replicated(u["id"])]

    def _find_any(self, key: str) -> dict | None:
        """The user with this id or UPN as the directory's writer knows it (lag or not)."""
        if key in self.users:
            return self.users[key]
        found = self._by_upn.get(key.lower())
        return self.users.get(found) if found else None

    def _index(self, user: dict, *, live: bool) -> None:
        if live:
            self._by_upn[user["userPrincipalName"].lower()] = user["id"]
        if user.get("onPremisesImmutableId"):
            self._by_immutable_id[user["onPremisesImmutableId"].lower()] = user["id"]

    def _unindex(self, user: dict, *, upn: bool = True, immutable_id: bool = True) -> None:
        if upn and self._by_upn.get(user["userPrincipalName"].lower()) == user["id"]:
            del self._by_upn[user["userPrincipalName"].lower()]
        held = _lower(user.get("onPremisesImmutableId"))
        if immutable_id and held and self._by_immutable_id.get(held) == user["id"]:
            del self._by_immutable_id[held]

    def _find(self, key: str) -> dict | None:
        """The user with this id or UPN as a replica answers for it: not before it replicated."""
        user = self._find_any(key)
        return user if user is not None and self._is_replicated(user["id"]) else None

    def _upn_taken(self, upn: object, other_than: str | None = None) -> bool:
        holder = self._by_upn.get(_lower(upn))
        return holder is not None and holder != other_than

    def _immutable_id_taken(self, value: object, other_than: str | None = None) -> bool:
        holder = self._by_immutable_id.get(_lower(value))
        return holder is not None and holder != other_than

    def _public(self, user: dict, query: dict[str, str] | None = None) -> dict:
        shown = {k: v for k, v in user.items() if k != "passwordProfile"}
        shown["assignedLicenses"] = [{"skuId": s, "disabledPlans": []}
                                     for s in sorted(self.licences.get(user["id"], ()))]
        selected = (query or {}).get("$select")
        if selected:
            names = {"id", *(n.strip() for n in selected.split(","))}
            shown = {k: v for k, v in shown.items() if k in names}
        return shown

    # -- $filter and paging ------------------------------------------------------------------------
    def _list(self, users: list[dict[str, Any]], path: str, query: dict[str, str], headers: dict[str, str],
              filters: dict[str, frozenset[str]] = FILTERS) -> tuple:
        wanted = query.get("$filter")
        if wanted:
            advanced = headers.get("consistencylevel", "").lower() == "eventual" and query.get("$count") == "true"
            matcher = self._filter(wanted, advanced, filters)
            if isinstance(matcher, tuple):
                return matcher
            users = [u for u in users if matcher(u)]
        users = sorted(users, key=lambda u: u["id"])
        raw_top = query.get("$top", str(self.settings.page_size))
        if not raw_top.isdigit() or not 1 <= int(raw_top) <= MAX_PAGE:
            return graph_error(400, "Request_BadRequest", "Invalid page size specified.")
        top = int(raw_top)
        after = query.get("$skiptoken")
        if after:
            users = [u for u in users if u["id"] > after]
        page, more = users[:top], len(users) > top
        body: dict[str, Any] = {"value": [self._public(u, query) for u in page]}
        if more:
            carried = {k: v for k, v in query.items() if k in ("$filter", "$select", "$count")}
            body["@odata.nextLink"] = (f"{self.graph_url}{path}?"
                                       + urlencode({**carried, "$top": top, "$skiptoken": page[-1]["id"]}))
        return 200, body, {}

    _CLAUSE = re.compile(r"^\s*(?:(?P<fn>startswith|endswith)\(\s*(?P<fprop>\w+)\s*,\s*'(?P<fval>(?:[^']|'')*)'\s*\)"
                         r"|(?P<prop>\w+)\s+(?P<op>eq|ne|ge|le)\s+(?P<val>'(?:[^']|'')*'|true|false|null)"
                         r"|(?P<iprop>\w+)\s+in\s+\((?P<ivals>[^)]*)\))\s*$", re.IGNORECASE)

    def _filter(self, expression: str, advanced: bool,
                filters: dict[str, frozenset[str]] = FILTERS) -> Callable[[dict], bool] | tuple:
        """A matcher for a $filter of clauses joined by `or` (or all by `and`), or Graph's 400."""
        joiner = " and " if " and " in expression.lower() and " or " not in expression.lower() else " or "
        tests = []
        for clause in re.split(joiner, expression, flags=re.IGNORECASE):
            found = self._CLAUSE.match(clause)
            if found is None:
                return graph_error(400, "BadRequest", "Invalid filter clause: the expression cannot be parsed.")
            if found["fn"]:
                name, operator, values = found["fprop"], found["fn"].lower(), [found["fval"].replace("''", "'")]
            elif found["prop"]:
                name, operator, raw = found["prop"], found["op"].lower(), found["val"]
                values = [raw[1:-1].replace("''", "'") if raw.startswith("'") else raw.lower()]
            else:
                name, operator = found["iprop"], "in"
                values = [v.strip()[1:-1].replace("''", "'") for v in found["ivals"].split(",") if v.strip()]
            if operator not in filters.get(name, frozenset()) or (operator in ADVANCED_OPERATORS and not advanced):
                # aad-advanced-queries.md: an operator a property does not support, or an advanced
                # one without ConsistencyLevel: eventual and $count, is refused.
                return graph_error(400, "Request_UnsupportedQuery",
                                   f"Unsupported or invalid query filter clause specified for property '{name}' "
                                   "of resource 'User'.")
            tests.append(_clause_test(name, operator, [v.lower() for v in values]))
        if joiner == " and ":
            return lambda user: all(test(user) for test in tests)
        return lambda user: any(test(user) for test in tests)

    # -- users ---------------------------------------------------------------------------------------
    def _validate(self, body: dict, user_id: str | None) -> tuple | None:
        """Graph's 400 for a user body it refuses (create: user_id None), else None."""
        for key in body:
            if key in READ_ONLY:
                return graph_error(400, "Request_BadRequest", f"Property '{key}' is read-only and cannot be set.")
        if "userPrincipalName" in body and upn_problem(body["userPrincipalName"], self.settings.domains):
            return invalid_value("userPrincipalName")
        if "onPremisesImmutableId" in body and immutable_id_problem(body["onPremisesImmutableId"]):
            return invalid_value("onPremisesImmutableId")
        for name, longest in MAX_LENGTHS.items():
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > longest):
                return invalid_value(name)
        # resources/user.md: displayName "cannot be cleared during updates".
        if "displayName" in body and not body["displayName"]:
            return invalid_value("displayName")
        location = body.get("usageLocation")
        if location is not None and not (isinstance(location, str) and len(location) == 2 and location.isalpha()):
            return invalid_value("usageLocation")
        upn = body.get("userPrincipalName")
        if upn and self._upn_taken(upn, other_than=user_id):
            # A UPN is unique among live users. A deleted user's UPN is free: Microsoft 365's
            # "Restore a user" describes the user name conflict of a new account that took it,
            # met when the deleted one is restored (restore, below).
            return conflict("userPrincipalName")
        immutable = body.get("onPremisesImmutableId")
        if immutable and self._immutable_id_taken(immutable, other_than=user_id):
            # One immutable id per person (user.md: it associates the on-premises account with its
            # user; plan-connect-design-concepts: "Must be globally unique"). Microsoft does not say
            # whether a user in deleted items still holds it: the fake says it does (the stricter
            # side), so a returning account must be restored, not created again.
            return conflict("onPremisesImmutableId")
        return None

    def _create_user(self, body: dict) -> tuple:
        missing = [f for f in REQUIRED_ON_CREATE if f not in body]
        if missing:
            return invalid_value(missing[0])
        refused = self._validate(body, None)
        if refused:
            return refused
        if self.settings.federated(body.get("userPrincipalName")) and not body.get("onPremisesImmutableId"):
            # user.md, onPremisesImmutableId: it "must be specified when creating a new user account
            # in the Graph if you are using a federated domain for the user's userPrincipalName".
            return federated_immutable_id_refused()
        now = self.clock()
        user = {"id": str(uuid.uuid4()), **body}
        user.setdefault("usageLocation", None)
        user.setdefault("onPremisesImmutableId", None)
        user["createdDateTime"] = _iso(now)
        self.users[user["id"]] = user
        self._index(user, live=True)
        self._visible_at[user["id"]] = now + self.settings.replication_lag_seconds
        return 201, self._public(user), {}

    def _update_user(self, user: dict, body: dict) -> tuple:
        refused = self._validate(body, user["id"]) or self._federation_refusal(user, body)
        if refused:
            return refused
        if "usageLocation" in body and body["usageLocation"] != user.get("usageLocation"):
            self._usage_location_was[user["id"]] = (user.get("usageLocation"), self.clock())
        self._unindex(user, upn="userPrincipalName" in body, immutable_id="onPremisesImmutableId" in body)
        user.update(body)
        self._index(user, live=True)
        return 204, None, {}

    def _federation_refusal(self, user: dict, body: dict) -> tuple | None:
        """A federated user's immutable id is not changed; a user moved into a federated domain
        must hold one. Microsoft's "Configure federated sign-in for Windows devices" (Windows
        education docs): "In a scenario where a user is federated and you want to change the
        ImmutableId, you must: 1. Convert the federated user to a cloud-only user (update the UPN
        to a non-federated domain) 2. Update the ImmutableId 3. Convert the user back to a federated
        user", its example setting the immutable id in the PATCH that moves the user back; community
        reports of the refusal (MicrosoftDocs/azure-docs issue 5108: "Nor can the immutableId be
        changed for an AAD account (even when not yet synced) that is in a federated domain")."""
        held = user.get("onPremisesImmutableId")
        changing = "onPremisesImmutableId" in body and body["onPremisesImmutableId"] != held
        if changing and self.settings.federated(user["userPrincipalName"]):
            return federated_immutable_id_refused()
        after = body.get("onPremisesImmutableId", held)
        if self.settings.federated(body.get("userPrincipalName", user["userPrincipalName"])) and not after:
            return federated_immutable_id_refused()
        return None

    def _delete_user(self, user: dict) -> tuple:
        # api/user-delete.md: a deleted user goes to deleted items for 30 days (resources/directory.md).
        # Its seats are freed (its licences no longer count); Microsoft does not say whether a
        # restore gives them back: the fake restores the user without them (the stricter side),
        # so the sync must assign the licence again.
        del self.users[user["id"]]
        self._unindex(user, immutable_id=False)  # the deleted user keeps its immutable id (see _validate)
        for sku_id in self.licences.pop(user["id"], set()):
            self.consumed[sku_id] -= 1
        now = self.clock()
        # A deleted user's userPrincipalName is shown with its object id before it (Microsoft's
        # example of listing deleted users, Get-EntraDeletedUser: "dddddddd-...-eeeeeeeeeeeeAveryS@
        # contoso.com"), so a filter on the UPN it had does not find it; a restore gives it back.
        self._deleted_upn[user["id"]] = user["userPrincipalName"]
        self.deleted[user["id"]] = {**user, "userPrincipalName": f"{user['id']}{user['userPrincipalName']}",
                                    "deletedDateTime": _iso(now)}
        self._deleted_at[user["id"]] = now
        return 204, None, {}

    def _purge(self) -> None:
        now = self.clock()
        for user_id in [i for i, at in self._deleted_at.items() if now >= at + DELETED_ITEMS_KEPT]:
            self._unindex(self.deleted.pop(user_id), upn=False)
            self._deleted_at.pop(user_id, None)
            self._deleted_upn.pop(user_id, None)

    def _deleted_items(self, method: str, rest: list[str], query: dict[str, str], body: Any,
                       headers: dict[str, str]) -> tuple:
        # api/directory-deleteditems-list.md, -get.md, -restore.md, -delete.md.
        if rest == ["microsoft.graph.user"] and method == "GET":
            return self._list(list(self.deleted.values()), "/directory/deletedItems/microsoft.graph.user", query,
                              headers, DELETED_FILTERS)
        if not rest or rest[0] not in self.deleted:
            return not_found(rest[0] if rest else "deletedItems")
        user = self.deleted[rest[0]]
        if len(rest) == 1 and method == "GET":
            return 200, {"@odata.type": "#microsoft.graph.user", **self._public(user, query)}, {}
        if len(rest) == 1 and method == "DELETE":
            self._unindex(self.deleted.pop(user["id"]), upn=False)
            self._deleted_at.pop(user["id"], None)
            self._deleted_upn.pop(user["id"], None)
            return 204, None, {}
        if rest[1:] == ["restore"] and method == "POST":
            return self._restore(user, body if isinstance(body, dict) else {})
        return graph_error(400, "BadRequest", f"Unsupported request {method} on a deleted item")

    def _restore(self, user: dict, body: dict) -> tuple:
        upn = body.get("newUserPrincipalName") or self._deleted_upn[user["id"]]
        if body.get("newUserPrincipalName") is not None and upn_problem(upn, self.settings.domains):
            return invalid_value("userPrincipalName")
        if self._upn_taken(upn):
            # The restore of a user whose UPN a live user took fails until it is given a new one
            # (api/directory-deleteditems-restore.md, newUserPrincipalName; Microsoft 365 "Restore a user").
            return conflict("userPrincipalName")
        restored = {k: v for k, v in user.items() if k != "deletedDateTime"}
        restored["userPrincipalName"] = upn
        del self.deleted[user["id"]]
        self._deleted_at.pop(user["id"], None)
        self._deleted_upn.pop(user["id"], None)
        self.users[user["id"]] = restored
        self._index(restored, live=True)
        # A restore is a write like any other: replicas learn of it after the same lag.
        self._visible_at[user["id"]] = self.clock() + self.settings.replication_lag_seconds
        return 200, {"@odata.type": "#microsoft.graph.user", **self._public(restored)}, {}

    def _assign(self, user: dict, body: dict) -> tuple:
        adding = [str(entry.get("skuId")) for entry in body.get("addLicenses", []) if isinstance(entry, dict)]
        removing = [str(sku_id) for sku_id in body.get("removeLicenses", [])]
        unknown = [s for s in adding + removing if s not in self.skus]
        if unknown:
            return graph_error(400, "Request_BadRequest", f"License {unknown[0]} does not correspond to a valid "
                                                          "company License.")
        if adding and not self._usage_location_seen(user):
            # api/user-assignlicense.md and resources/user.md: usageLocation is "Required for users
            # that will be assigned licenses"; a location just set may not be seen yet (FORMATS.md).
            return graph_error(400, "Request_BadRequest",
                               "License assignment cannot be done for user with invalid usage location.")
        held = self.licences.setdefault(user["id"], set())
        for sku_id in adding:
            if sku_id not in held and self.consumed[sku_id] >= self.settings.seats.get(sku_id, 0):
                return graph_error(400, "Request_BadRequest",
                                   f"Subscription with SKU {sku_id} does not have any available licenses.")
        for sku_id in set(adding) - held:
            self.consumed[sku_id] += 1
        for sku_id in set(removing) & held:
            self.consumed[sku_id] -= 1
        held.update(adding)
        held.difference_update(removing)
        return 200, self._public(user), {}

    def _usage_location_seen(self, user: dict) -> str | None:
        was = self._usage_location_was.get(user["id"])
        if was is not None and self.clock() < was[1] + self.settings.replication_lag_seconds:
            return was[0]
        return user.get("usageLocation")

    # -- $batch --------------------------------------------------------------------------------
    def _batch(self, body: Any) -> tuple:
        refused = self._batch_refusal()
        if refused:
            return refused
        requests = body.get("requests") if isinstance(body, dict) else None
        shape = batch_shape_problem(requests)
        if shape is None and any(text in json.dumps(requests) for text in self._refused_holding):
            shape = "Invalid batch payload format."
        if shape or not isinstance(requests, list):
            with self.lock:
                self.stats["batches_rejected"] += 1
            return graph_error(400, "BadRequest", shape or "Invalid batch payload format.")
        with self.lock:
            self.stats["batches"] += 1
        sequential = any(item.get("dependsOn") for item in requests)
        order = list(requests)
        if not sequential:
            self.random.shuffle(order)  # json-batching.md: a parallel batch runs "in the most efficient order"
        answered: dict[str, int] = {}
        responses = []
        for item in order:
            depends = [d.lower() for d in item.get("dependsOn") or []]
            inner_headers = item.get("headers") or {}
            if any(answered.get(d, 424) >= 400 for d in depends):
                # json-batching.md: "If an individual request fails, any request that depends on that
                # request fails with status code 424 (Failed Dependency)."
                status, payload, headers = graph_error(424, "FailedDependency", "The request depends on a request "
                                                                                "that failed.")
            elif item.get("body") is not None and "content-type" not in {k.lower() for k in inner_headers}:
                # json-batching.md: "When a body is included with the request, the headers object must
                # contain a value for Content-Type."
                status, payload, headers = graph_error(400, "BadRequest", "Content-Type header is required.")
            else:
                url = item["url"] if item["url"].startswith("/") else "/" + item["url"]
                status, payload, headers = self._one(item["method"].upper(), url, item.get("body"), inner_headers)
            answered[item["id"].lower()] = status
            response = {"id": item["id"], "status": status, "headers": headers}
            if payload is not None:
                response["body"] = payload
            responses.append(response)
        self.random.shuffle(responses)  # json-batching.md: "might appear in a different order than the requests"
        return 200, {"responses": responses}, {}

    # -- for tests -------------------------------------------------------------------------------
    def user_by_upn(self, upn: str) -> dict | None:
        """The live user with this UPN as the tenant holds it, replicated or not."""
        with self.lock:
            user = self._find_any(upn)
            return self._public(user) if user else None

    def licence_part_numbers(self, upn: str) -> set[str]:
        with self.lock:
            user = self._find_any(upn)
            return {self.skus[s] for s in self.licences.get(user["id"], ())} if user else set()

    def add_existing_user(self, upn: str, immutable_id: str | None = None, **properties: Any) -> dict:
        """A user made in the tenant before Porth (by hand or by another tool), already replicated."""
        with self.lock:
            user = {"id": str(uuid.uuid4()), "accountEnabled": True, "displayName": upn.partition("@")[0],
                    "mailNickname": upn.partition("@")[0], "userPrincipalName": upn, "usageLocation": None,
                    "onPremisesImmutableId": immutable_id, "createdDateTime": _iso(self.clock()), **properties}
            self.users[user["id"]] = user
            self._index(user, live=True)
            return self._public(user)

    def budget_used(self) -> dict[str, int]:
        """Units in the current windows: writes per app+tenant and per tenant, resource units."""
        with self.lock:
            now = self.clock()
            return {"app_writes": self.app_budget.used(now), "tenant_writes": self.tenant_budget.used(now),
                    "resource_units": self.unit_budget.used(now)}


def batch_shape_problem(requests: object) -> str | None:
    """Why Graph refuses this $batch whole (400), or None (concepts/json-batching.md)."""
    if not isinstance(requests, list) or not requests:
        return "Invalid batch payload format."  # "one required property: requests"
    if len(requests) > MAX_BATCH:
        return f"The number of batch requests exceeds the limit of {MAX_BATCH}."
    seen: list[str] = []
    for item in requests:
        # "id", "method" and "url" are required for each request.
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item.get(k)
                                                 for k in ("id", "method", "url")):
            return "Each batch request needs an id, a method and a url."
        if item["url"].lower().startswith(("http:", "https:")):
            return "The url of a batch request is relative to the version (e.g. /users)."
        # id: "Not case-sensitive. Must be unique in the batch, otherwise, the batch request fails
        # with a 400 error code."
        if item["id"].lower() in seen:
            return "Batch request ids must be unique."
        depends = item.get("dependsOn") or []
        if not isinstance(depends, list) or any(not isinstance(d, str) for d in depends):
            return "dependsOn is an array of request ids."
        for dependency in depends:
            # A request depends on requests of the same batch, earlier in it (the docs' example
            # orders them so; the stricter reading of "executed in a specified order").
            if dependency.lower() not in seen:
                return f"dependsOn names '{dependency}', not an earlier request of this batch."
        seen.append(item["id"].lower())
    if any(item.get("dependsOn") for item in requests):
        # "Batch should be either fully sequential or fully parallel" (json-batching.md); a batch
        # mixing independent requests with dependsOn chains is refused whole with 400
        # (microsoft-graph-docs issue 16280). Fully sequential: one chain in array order, each
        # request after the first depending on the one before it.
        for previous, item in itertools.pairwise(requests):
            if previous["id"].lower() not in [d.lower() for d in item.get("dependsOn") or []]:
                return "Batch should be either fully sequential or fully parallel"
        if requests[0].get("dependsOn"):
            return "Batch should be either fully sequential or fully parallel"
    return None


def _clause_test(name: str, operator: str, values: list[str]) -> Callable[[dict], bool]:
    def test(user: dict) -> bool:
        held = _lower(user.get(name)) if user.get(name) is not None else "null"
        if isinstance(user.get(name), bool):
            held = "true" if user[name] else "false"
        if operator in ("eq", "in"):
            return held in values
        if operator == "ne":
            return held not in values
        if operator == "ge":
            return held >= values[0]
        if operator == "le":
            return held <= values[0]
        if operator == "startswith":
            return held.startswith(values[0])
        return held.endswith(values[0])

    return test


def _iso(seconds: float) -> str:
    """A clock reading as Graph's DateTimeOffset: the fake's clock is monotonic, so its
    readings are laid on today's date (they only need to order and differ)."""
    return (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds % 10**8)).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Microsoft Graph and Entra token endpoint for Porth's demo")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeGraph(FakeTenantSettings(throttle_rate=args.throttle_rate)).start(args.port)
    # Run by hand (python -m demo.fake_graph): where it listens is its whole output.
    print(f"fake Graph at {fake.graph_url}, authority {fake.authority}, client id {fake.settings.client_id}")  # noqa: T201
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
