"""Graph's answers as Porth's own exceptions (at the adapter boundary, as authentik does).
Branch on the class or on `code`, never on the message (FORMATS.md)."""

from __future__ import annotations


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, request_id: str | None = None):
        self.status, self.code, self.message, self.request_id = status, code, message, request_id
        self.retry_after: float | None = None  # seconds Graph asked to wait, when it said
        super().__init__(f"{status} {code}: {message}")

    @property
    def retryable(self) -> bool:
        return False


class Throttled(GraphError):
    """429: too many requests (after every retry the client was allowed)."""

    @property
    def retryable(self) -> bool:
        return True


class Unavailable(GraphError):
    """503 / 504 or a transport failure: Graph could not answer now."""

    @property
    def retryable(self) -> bool:
        return True


class NotFound(GraphError):
    """404: no such user (or other object)."""


class BadRequest(GraphError):
    """400: the request itself is refused (no usage location, no free licence, bad UPN...)."""

    @property
    def no_free_licence(self) -> bool:
        return "does not have any available licenses" in self.message  # the one case Graph gives no own code

    @property
    def no_usage_location(self) -> bool:
        return "invalid usage location" in self.message


class AuthenticationFailed(GraphError):
    """401 / 403 that a fresh token did not cure, or the token endpoint refusing Porth."""


class FailedDependency(GraphError):
    """424: a $batch step whose dependency failed."""


class WritesBlocked(GraphError):
    """The client is in dry-run mode: a write was about to be sent."""

    def __init__(self, method: str, url: str):
        super().__init__(0, "DryRun", f"dry run: {method} {url} not sent")


def error_for(status: int, body: object, request_id: str | None = None) -> GraphError:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    code = error.get("code") or f"HTTP{status}"
    message = error.get("message") or ""
    request_id = request_id or (error.get("innerError") or {}).get("request-id")
    kind = {400: BadRequest, 401: AuthenticationFailed, 403: AuthenticationFailed, 404: NotFound, 424: FailedDependency,
            429: Throttled, 503: Unavailable, 504: Unavailable}.get(status)
    if kind is None:
        kind = Unavailable if status >= 500 else GraphError
    return kind(status, code, message, request_id)
