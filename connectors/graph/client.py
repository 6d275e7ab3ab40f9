"""A Microsoft Graph client that keeps to Graph's contract (FORMATS.md "Microsoft Graph").

- One HTTP connection pool (httpx), a bearer token from MSAL, a fresh token once
  when Graph answers 401 (a token can expire mid-run).
- 429, 503 and 504 are retried: after `Retry-After` when Graph gives it
  (seconds, possibly fractional), else after a capped exponential back-off with
  jitter; a request that stays refused raises the mapped exception.
- `$batch` of at most 20 steps, each batch either fully parallel (no `dependsOn`)
  or one sequential chain, as Graph requires (json-batching: "Batch should be
  either fully sequential or fully parallel"; a mix is refused with a whole-batch
  400, microsoft-graph-docs issue 16280): `batch` reshapes what it is given into
  such batches (`batch_shapes`). Steps answered 429/503/504 are sent again (with
  the steps of their chain that waited on them), the others are final; a whole
  batch refused with 400 is sent again step by step, so one bad step costs only
  its own answer.
- Paging follows `@odata.nextLink` until it is absent.
- Writes are paced to the documented budget (WritePacer) instead of being
  discovered by 429s, and `dry_run` blocks every write before it leaves.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.graph import metrics
from connectors.graph.errors import BadRequest, GraphError, Throttled, Unavailable, WritesBlocked, error_for
from connectors.graph.tokens import TokenSource

log = logging.getLogger("porth.graph")
MAX_BATCH = 20
RETRYABLE = (429, 503, 504)
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


class WritePacer:
    """At most `limit` writes in any `window` seconds, shared by every thread of the sync:
    Graph's documented budget (3,000 writes per 150 s per app and tenant) kept, not
    discovered by 429s. A sliding log of the writes sent, like Graph's own count; a
    little margin on both sides, since Graph counts a write when it arrives."""

    def __init__(self, limit: int = 3000, window: float = 150.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, margin: float = 0.02):
        self.limit = max(1, int(limit * (1 - margin)))
        self.window = window * (1 + margin) + 0.05
        self.clock, self.sleep = clock, sleep
        self.sent: collections.deque[float] = collections.deque()
        self.lock = threading.Lock()
        self.waited = 0.0

    def acquire(self, writes: int) -> None:
        writes = min(writes, self.limit)
        while writes > 0:
            with self.lock:
                now = self.clock()
                while self.sent and self.sent[0] <= now - self.window:
                    self.sent.popleft()
                if len(self.sent) + writes <= self.limit:
                    self.sent.extend([now] * writes)
                    return
                wait = self.sent[len(self.sent) + writes - self.limit - 1] + self.window - now
            self.waited += wait
            self.sleep(max(wait, 0.001))


@dataclass(frozen=True)
class Step:
    """One request of a $batch."""

    id: str
    method: str
    url: str  # relative to the Graph root, e.g. /users/{id}
    body: dict[str, Any] | None = None
    depends_on: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        step: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        if self.body is not None:
            step["body"] = self.body
            step["headers"] = {"Content-Type": "application/json"}
        if self.depends_on:
            step["dependsOn"] = list(self.depends_on)
        return step


@dataclass(frozen=True)
class Answer:
    """A step's final answer."""

    id: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> GraphError | None:
        return None if self.ok else error_for(self.status, self.body)


@dataclass
class ClientStats:
    requests: int = 0
    batches: int = 0
    steps: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0


def retry_after(headers: dict[str, str] | httpx.Headers) -> float | None:
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


class GraphClient:
    def __init__(self, base_url: str, tokens: TokenSource, *, dry_run: bool = False, max_attempts: int = 8,
                 backoff_base: float = 0.5, backoff_cap: float = 60.0, pacer: WritePacer | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 timeout: float = 30.0, connections: int = 8):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.dry_run = dry_run
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.pacer = pacer or WritePacer()
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter for the backoff, not a secret
        self.stats = ClientStats()
        self.http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=connections,
                                                                       max_keepalive_connections=connections))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # -- the wire ------------------------------------------------------------------------------
    def backoff(self, attempt: int, hinted: float | None) -> float:
        if hinted is not None:
            return hinted
        return min(self.backoff_cap, self.backoff_base * 2 ** attempt) * (0.5 + self.rng.random() / 2)

    def _send(self, method: str, url: str, body: Any = None) -> httpx.Response:
        """One HTTP exchange, with one token refresh on 401 and transport errors as Unavailable."""
        for refreshed in (False, True):
            headers = {"Authorization": f"Bearer {self.tokens.token()}"}
            self.stats.requests += 1
            try:
                response = self.http.request(method, url, json=body, headers=headers)
            except httpx.TransportError as exc:
                metrics.not_answered()
                raise Unavailable(0, "TransportError", str(exc)) from None
            metrics.answered(response.status_code)
            if response.status_code != 401 or refreshed:
                return response
            self.stats.token_refreshes += 1
            self.tokens.refresh()
        raise AssertionError("unreachable")

    def _url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One request, retried while throttled or unavailable; returns the JSON body (or None)."""
        method = method.upper()
        if method in WRITE_METHODS:
            if self.dry_run:
                raise WritesBlocked(method, path)
            self.pacer.acquire(1)
        for attempt in range(self.max_attempts):
            try:
                response = self._send(method, self._url(path), body)
            except Unavailable:
                if attempt + 1 == self.max_attempts:
                    raise
                self.stats.retries += 1
                self.sleep(self.backoff(attempt, None))
                continue
            if response.status_code in RETRYABLE and attempt + 1 < self.max_attempts:
                self.stats.retries += 1
                self.stats.throttled += response.status_code == 429
                self.sleep(self.backoff(attempt, retry_after(response.headers)))
                continue
            payload = response.json() if response.content else None
            if response.status_code >= 400:
                raise error_for(response.status_code, payload, response.headers.get("request-id"))
            return payload
        raise AssertionError("unreachable")

    def pages(self, path: str) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink."""
        url: str | None = path
        while url:
            page = self.request("GET", url) or {}
            yield from page.get("value", [])
            url = page.get("@odata.nextLink")

    # -- $batch --------------------------------------------------------------------------------
    def batch(self, steps: list[Step]) -> dict[str, Answer]:
        """Every step's final answer, in batches Graph accepts (`batch_shapes`)."""
        writes = sum(1 for s in steps if s.method.upper() in WRITE_METHODS)
        if writes and self.dry_run:
            first = next(s for s in steps if s.method.upper() in WRITE_METHODS)
            raise WritesBlocked(first.method, first.url)
        answers: dict[str, Answer] = {}
        for shaped in batch_shapes(steps):
            answers.update(self._shaped_batch(shaped))
        return answers

    def _shaped_batch(self, steps: list[Step]) -> dict[str, Answer]:
        try:
            return self._batch_of_twenty(steps)
        except BadRequest as refused:  # the $batch itself refused: no step of it was run
            if len(steps) > 1 and not any(s.depends_on for s in steps):
                answers: dict[str, Answer] = {}
                for step in steps:
                    answers.update(self._shaped_batch([step]))
                return answers
            body = {"error": {"code": refused.code, "message": refused.message}}
            return {s.id: Answer(s.id, refused.status, body) for s in steps}

    def send_batch(self, steps: list[Step]) -> dict[str, Answer]:
        """One $batch exchange of at most 20 steps, nothing retried: for callers that schedule
        their own retries (the tenant sync sends other work while throttled steps wait).
        A whole batch refused with 429/503/504 raises Throttled/Unavailable with `retry_after`."""
        if len(steps) > MAX_BATCH:
            raise ValueError(f"a $batch holds at most {MAX_BATCH} steps")
        if self.dry_run and any(s.method.upper() in WRITE_METHODS for s in steps):
            first = next(s for s in steps if s.method.upper() in WRITE_METHODS)
            raise WritesBlocked(first.method, first.url)
        self.pacer.acquire(sum(1 for s in steps if s.method.upper() in WRITE_METHODS))
        self.stats.batches += 1
        self.stats.steps += len(steps)
        response = self._send("POST", self.base_url + "/$batch", {"requests": [s.as_json() for s in steps]})
        if response.status_code in RETRYABLE or response.status_code >= 400:
            error = error_for(response.status_code, response.json() if response.content else None)
            error.retry_after = retry_after(response.headers)
            raise error
        answers = {r["id"]: Answer(r["id"], r["status"], r.get("body"), r.get("headers") or {})
                   for r in response.json()["responses"]}
        throttled_steps = sum(1 for a in answers.values() if a.status == 429)
        self.stats.throttled += throttled_steps
        metrics.steps_throttled(throttled_steps)
        return answers

    def _batch_of_twenty(self, steps: list[Step]) -> dict[str, Answer]:
        pending = PendingSteps(steps)
        while True:
            answers: dict[str, Answer] | None = None
            refused: GraphError | None = None
            try:
                answers = self.send_batch(pending.to_send())
            except (Throttled, Unavailable) as exc:  # the whole batch
                refused = exc
                delay = pending.take_refusal(exc)
            else:
                delay = pending.take(answers)
            if pending.done():
                return {a.id: a for a in pending.final_answers()}
            if pending.attempts >= self.max_attempts:
                if refused is not None:
                    raise refused
                return {a.id: a for a in pending.final_answers(last=answers)}
            self.stats.retries += 1
            self.sleep(delay if delay is not None else self.backoff(pending.attempts - 1, None))


def batch_shapes(steps: list[Step]) -> list[list[Step]]:
    """The steps as batches Graph accepts: each chain of dependent steps (each step depending
    on the one before it) alone in a sequential batch, the independent steps together in
    parallel batches of at most 20. Steps that depend on each other in any other way (two on
    one, one on two) cannot be sent as Graph documents batches: ValueError."""
    by_id = {s.id: s for s in steps}
    if len(by_id) != len(steps):
        raise ValueError("two steps share an id")
    followers: dict[str, list[Step]] = collections.defaultdict(list)
    for step in steps:
        if len(step.depends_on) > 1 or any(d not in by_id for d in step.depends_on):
            raise ValueError(f"step {step.id} depends on several steps, or on one not given")
        if step.depends_on:
            followers[step.depends_on[0]].append(step)
    parallel: list[Step] = []
    shaped: list[list[Step]] = []
    for step in steps:
        if step.depends_on:
            continue
        chain = [step]
        while followers.get(chain[-1].id):
            after = followers[chain[-1].id]
            if len(after) > 1:
                raise ValueError(f"steps {', '.join(s.id for s in after)} all depend on {chain[-1].id}")
            chain.append(after[0])
        if len(chain) > MAX_BATCH:
            raise ValueError(f"a chain of {len(chain)} steps is longer than a $batch ({MAX_BATCH})")
        if len(chain) == 1:
            parallel.append(step)
        else:
            shaped.append(chain)
    if sum(map(len, shaped)) + len(parallel) != len(steps):
        raise ValueError("the steps' dependencies form a cycle")
    shaped += [parallel[start:start + MAX_BATCH] for start in range(0, len(parallel), MAX_BATCH)]
    return shaped


@dataclass
class PendingSteps:
    """The steps of one $batch and their final answers so far: after a partial failure, what
    goes again (429/503/504, and a 424 caused by one of those) and how long to wait."""

    steps: list[Step]
    answers: dict[str, Answer] = field(default_factory=dict)
    attempts: int = 0

    def unanswered(self) -> list[Step]:
        return [s for s in self.steps if s.id not in self.answers]

    def to_send(self) -> list[Step]:
        """The unanswered steps; a dependency already answered is no longer in the batch."""
        waiting = {s.id for s in self.unanswered()}
        return [Step(s.id, s.method, s.url, s.body, tuple(d for d in s.depends_on if d in waiting))
                for s in self.unanswered()]

    def take(self, answers: dict[str, Answer]) -> float | None:
        """Keep the final answers; returns the wait Graph asked for when some must go again."""
        self.attempts += 1
        again = []
        for step in self.unanswered():
            answer = answers[step.id]
            retry = answer.status in RETRYABLE or (
                answer.status == 424 and any(answers.get(d) and answers[d].status in RETRYABLE
                                             for d in step.depends_on))
            if retry:
                again.append(answer)
            else:
                self.answers[step.id] = answer
        hinted = [h for h in (retry_after(a.headers) for a in again) if h is not None]
        return max(hinted) if hinted else None

    def take_refusal(self, refused: GraphError) -> float | None:
        """The whole batch was refused (429/503/504): an attempt spent, every step goes again."""
        self.attempts += 1
        return refused.retry_after

    def done(self) -> bool:
        return not self.unanswered()

    def final_answers(self, last: dict[str, Answer] | None = None) -> list[Answer]:
        return [self.answers.get(s.id) or (last or {}).get(s.id) or
                Answer(s.id, 503, {"error": {"code": "NotSent", "message": "not answered"}}) for s in self.steps]
