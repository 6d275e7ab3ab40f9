"""A faithful fake of Microsoft Graph v1.0 and the Entra token endpoint, for tests,
benchmarks and the demo (issue 6; ../shared/FORMATS.md "Microsoft Graph").

An HTTP server on 127.0.0.1 that keeps a tenant in memory and answers the way
Graph documents it: users (create, read, update, delete, paging with
`@odata.nextLink`, `$filter` on userPrincipalName and onPremisesImmutableId),
`assignLicense` against `subscribedSkus` with limited seats (400 when none is
free, 400 without `usageLocation`), `$batch` of at most 20 with unique ids,
`dependsOn` and 424, each inner request answered on its own; errors in
Graph's shape; bearer tokens from a client-credentials token endpoint (with
the OpenID configuration MSAL reads) that expire; 429 injected at a
configurable rate with and without `Retry-After`; and the documented write
budgets per app (3,000 per 150 s) and per tenant (18,000 per 300 s), which
answer 429 with the seconds until the budget frees.

    python -m demo.fake_graph --port 8765        # for the demo
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

STUDENT_SKU = ("314c4481-f395-4525-be8b-2ec4bb1e9d91", "STANDARDWOFFPACK_STUDENT")
FACULTY_SKU = ("94763226-9b3c-4e75-a931-5c89701abe66", "STANDARDWOFFPACK_FACULTY")
UPN_CHARACTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~")
MAX_BATCH = 20


@dataclass
class Budget:
    """A sliding-window write budget: at most `limit` writes per `window` seconds."""

    limit: int
    window: float
    _writes: collections.deque = field(default_factory=collections.deque)

    def wait_needed(self, now: float) -> float:
        while self._writes and self._writes[0] <= now - self.window:
            self._writes.popleft()
        if len(self._writes) < self.limit:
            return 0.0
        return self._writes[0] + self.window - now

    def spend(self, now: float) -> None:
        self._writes.append(now)


@dataclass
class FakeTenantSettings:
    client_id: str = "porth-fake-client"
    client_secret: str = "porth-fake-secret"  # noqa: S105 - the fake tenant's, known to the demo only
    tenant: str = "porth-fake-tenant"
    # MSAL only takes an https authority: it is told this one, and a rewriting HTTP client
    # (connectors.graph.tokens.LocalAuthority) carries its requests to the fake.
    login_host: str = "login.fake-graph.test"
    domain: str = "hwbcymru.net"
    token_lifetime: int = 3600
    page_size: int = 100
    throttle_rate: float = 0.0  # share of requests answered 429 at random
    retry_after: str | None = "0.05"  # the header on injected 429s; None: absent
    app_writes: tuple[int, float] = (3000, 150.0)  # documented: 3,000 writes per 2 min 30 s per app and tenant
    tenant_writes: tuple[int, float] = (18000, 300.0)  # documented: 18,000 per 5 min per tenant
    seats: dict[str, int] = field(default_factory=lambda: {STUDENT_SKU[0]: 1_000_000, FACULTY_SKU[0]: 100_000})
    seed: int = 7


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> tuple:
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
                                     "client-request-id": str(uuid.uuid4())}}}
    return status, body, headers or {}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # a benchmark sends tens of thousands
        pass


class FakeGraph:
    """The tenant and its HTTP face. Thread-safe: the server answers requests on threads."""

    def __init__(self, settings: FakeTenantSettings | None = None):
        self.settings = settings or FakeTenantSettings()
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self._by_upn: dict[str, str] = {}  # lower-cased userPrincipalName -> id
        self.licences: dict[str, set[str]] = {}  # user id -> skuIds
        self.consumed: collections.Counter[str] = collections.Counter()  # skuId -> seats in use
        self.tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.skus = {STUDENT_SKU[0]: STUDENT_SKU[1], FACULTY_SKU[0]: FACULTY_SKU[1]}
        self.random = random.Random(self.settings.seed)
        self.app_budget = Budget(*self.settings.app_writes)
        self.tenant_budget = Budget(*self.settings.tenant_writes)
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
                         body)

    def _throttled(self, write: bool) -> tuple | None:
        settings = self.settings
        with self.lock:
            if settings.throttle_rate and self.random.random() < settings.throttle_rate:
                self.stats["throttled_injected"] += 1
                headers = {"Retry-After": settings.retry_after} if settings.retry_after is not None else {}
                return graph_error(429, "TooManyRequests", "Too many requests (injected).", headers)
            if write:
                now = time.monotonic()
                wait = max(self.app_budget.wait_needed(now), self.tenant_budget.wait_needed(now))
                if wait > 0:
                    self.stats["throttled_budget"] += 1
                    return graph_error(429, "TooManyRequests", "Application write budget exceeded.",
                                       {"Retry-After": f"{wait:.2f}"})
                self.app_budget.spend(now)
                self.tenant_budget.spend(now)
                self.stats["writes"] += 1
        return None

    def _one(self, method: str, url: str, body: Any) -> tuple:
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        write = method in ("POST", "PATCH", "DELETE")
        throttled = self._throttled(write)
        if throttled:
            return throttled
        self.stats[f"{method} /{segments[0] if segments else ''}"] += 1
        if segments == ["subscribedSkus"] and method == "GET":
            return 200, {"value": [self._sku(sku_id) for sku_id in self.skus]}, {}
        if segments == ["users"] and method == "GET":
            return self._list_users(query)
        if segments == ["users"] and method == "POST":
            return self._create_user(body or {})
        if len(segments) >= 2 and segments[0] == "users":
            with self.lock:
                user = self._find(segments[1])
                if user is None:
                    return graph_error(404, "Request_ResourceNotFound",
                                       f"Resource '{segments[1]}' does not exist or one of its queried reference-"
                                       "property objects are not present.")
                if len(segments) == 2 and method == "GET":
                    return 200, self._public(user), {}
                if len(segments) == 2 and method == "PATCH":
                    return self._update_user(user, body or {})
                if len(segments) == 2 and method == "DELETE":
                    del self.users[user["id"]]
                    self._by_upn.pop(user["userPrincipalName"].lower(), None)
                    for sku_id in self.licences.pop(user["id"], set()):
                        self.consumed[sku_id] -= 1
                    return 204, None, {}
                if segments[2:] == ["assignLicense"] and method == "POST":
                    return self._assign(user, body or {})
                if segments[2:] == ["licenseDetails"] and method == "GET":
                    return 200, {"value": [{"skuId": s, "skuPartNumber": self.skus[s]}
                                           for s in sorted(self.licences.get(user["id"], ()))]}, {}
        return graph_error(400, "BadRequest", f"Unsupported request {method} {parts.path}")

    def _sku(self, sku_id: str) -> dict:
        consumed = self.consumed[sku_id]
        return {"skuId": sku_id, "skuPartNumber": self.skus[sku_id], "consumedUnits": consumed,
                "prepaidUnits": {"enabled": self.settings.seats.get(sku_id, 0), "suspended": 0, "warning": 0}}

    def _find(self, key: str) -> dict | None:
        if key in self.users:
            return self.users[key]
        found = self._by_upn.get(key.lower())
        user = self.users.get(found) if found else None
        return user if user is not None and user["userPrincipalName"].lower() == key.lower() else None

    def _public(self, user: dict) -> dict:
        shown = {k: v for k, v in user.items() if k != "passwordProfile"}
        shown["assignedLicenses"] = [{"skuId": s, "disabledPlans": []}
                                     for s in sorted(self.licences.get(user["id"], ()))]
        return shown

    def _list_users(self, query: dict[str, str]) -> tuple:
        with self.lock:
            users = sorted(self.users.values(), key=lambda u: u["id"])
            wanted = query.get("$filter")
            if wanted:
                field_name, _sep, value = wanted.partition(" eq ")
                value = value.strip().strip("'").replace("''", "'")
                if field_name not in ("userPrincipalName", "onPremisesImmutableId", "mailNickname"):
                    return graph_error(400, "Request_UnsupportedQuery", f"Unsupported filter on {field_name}")
                users = [u for u in users if str(u.get(field_name) or "").lower() == value.lower()]
            top = min(int(query.get("$top", self.settings.page_size)), 999)
            after = query.get("$skiptoken")
            if after:
                users = [u for u in users if u["id"] > after]
            page, more = users[:top], len(users) > top
            body: dict[str, Any] = {"value": [self._public(u) for u in page]}
            if more:
                next_query = f"$top={top}&$skiptoken={page[-1]['id']}" + (f"&$filter={wanted}" if wanted else "")
                body["@odata.nextLink"] = f"{self.graph_url}/users?{next_query}"
            return 200, body, {}

    def _create_user(self, body: dict) -> tuple:
        missing = [f for f in ("accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName")
                   if f not in body]
        if missing:
            return graph_error(400, "Request_BadRequest",
                               f"Invalid value specified for property '{missing[0]}' of resource 'User'.")
        upn = body["userPrincipalName"]
        local, _at, domain = upn.rpartition("@")
        if not local or domain.lower() != self.settings.domain or set(local) - UPN_CHARACTERS:
            return graph_error(400, "Request_BadRequest",
                               "Property userPrincipalName is invalid.")
        with self.lock:
            if self._find(upn) is not None:
                return graph_error(400, "Request_BadRequest",
                                   "Another object with the same value for property userPrincipalName already exists.")
            user = {"id": str(uuid.uuid4()), **body}
            user.setdefault("usageLocation", None)
            user.setdefault("onPremisesImmutableId", None)
            self.users[user["id"]] = user
            self._by_upn[upn.lower()] = user["id"]
            return 201, self._public(user), {}

    def _update_user(self, user: dict, body: dict) -> tuple:
        upn = body.get("userPrincipalName")
        if upn and upn.lower() != user["userPrincipalName"].lower() and self._find(upn) is not None:
            return graph_error(400, "Request_BadRequest",
                               "Another object with the same value for property userPrincipalName already exists.")
        for key in body:
            if key in ("id", "assignedLicenses"):
                return graph_error(400, "Request_BadRequest", f"Property '{key}' is read-only.")
        if upn:
            self._by_upn.pop(user["userPrincipalName"].lower(), None)
            self._by_upn[upn.lower()] = user["id"]
        user.update(body)
        return 204, None, {}

    def _assign(self, user: dict, body: dict) -> tuple:
        adding = [entry.get("skuId") for entry in body.get("addLicenses", [])]
        removing = list(body.get("removeLicenses", []))
        unknown = [s for s in adding + removing if s not in self.skus]
        if unknown:
            return graph_error(400, "Request_BadRequest", f"License {unknown[0]} does not correspond to a valid "
                                                          "company License.")
        if adding and not user.get("usageLocation"):
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

    # -- $batch --------------------------------------------------------------------------------
    def _batch(self, body: dict) -> tuple:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return graph_error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH:
            return graph_error(400, "BadRequest", f"Number of batch request steps exceeds the maximum of {MAX_BATCH}.")
        ids = [r.get("id") for r in requests]
        if len(set(ids)) != len(ids) or None in ids:
            return graph_error(400, "BadRequest", "Batch request contains duplicate or missing ids.")
        self.stats["batches"] += 1
        answered: dict[str, int] = {}
        responses = []
        for item in requests:
            depends = item.get("dependsOn") or []
            if any(answered.get(d, 0) >= 400 or d not in answered for d in depends):
                status, payload, headers = graph_error(424, "FailedDependency", "The request depends on a request "
                                                                                "that failed.")
            elif item.get("body") is not None and "content-type" not in {k.lower() for k in item.get("headers", {})}:
                status, payload, headers = graph_error(400, "BadRequest", "Content-Type header is required.")
            else:
                status, payload, headers = self._one(item.get("method", "GET").upper(), item.get("url", "/"),
                                                     item.get("body"))
            answered[item["id"]] = status
            response = {"id": item["id"], "status": status, "headers": headers}
            if payload is not None:
                response["body"] = payload
            responses.append(response)
        self.random.shuffle(responses)  # Graph answers in any order
        return 200, {"responses": responses}, {}

    # -- for tests -------------------------------------------------------------------------------
    def user_by_upn(self, upn: str) -> dict | None:
        with self.lock:
            user = self._find(upn)
            return self._public(user) if user else None

    def licence_part_numbers(self, upn: str) -> set[str]:
        with self.lock:
            user = self._find(upn)
            return {self.skus[s] for s in self.licences.get(user["id"], ())} if user else set()


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
