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
    """404: no such user (or other object). Graph's code is `Request_ResourceNotFound`, and
    right after a create it may only mean the write has not replicated yet (see `lag_suspect`)."""


# Graph's assignLicense answers every refusal with 400 and the one code `Request_BadRequest`:
# its reference page (user-assignlicense) documents no error codes, and when asked for them
# (microsoft-graph-docs issue 5431) Microsoft opened a documentation work item and closed the
# issue; none was published. licenseAssignmentState's `error` values (CountViolation,
# ProhibitedInUsageLocationViolation, ...) are reported for group-based licensing only. So the
# two refusals Porth must tell apart are told by the message Graph sends, the one place this
# adapter reads a message (FORMATS.md "Microsoft Graph"); the sync checks free seats in
# subscribedSkus before it asks, so the text is only its second line of defence.
NO_FREE_LICENCE_TEXT = "does not have any available licenses"
NO_USAGE_LOCATION_TEXT = "invalid usage location"
# POST /users with a taken userPrincipalName: Request_BadRequest again, told by its message.
UPN_TAKEN_TEXT = "same value for property userPrincipalName already exists"
IMMUTABLE_ID_TAKEN_TEXT = "same value for property onPremisesImmutableId already exists"


class BadRequest(GraphError):
    """400: the request itself is refused (no usage location, no free licence, bad UPN...)."""

    @property
    def no_free_licence(self) -> bool:
        return NO_FREE_LICENCE_TEXT in self.message

    @property
    def no_usage_location(self) -> bool:
        return NO_USAGE_LOCATION_TEXT in self.message

    @property
    def upn_taken(self) -> bool:
        return UPN_TAKEN_TEXT in self.message

    @property
    def immutable_id_taken(self) -> bool:
        return IMMUTABLE_ID_TAKEN_TEXT in self.message


def lag_suspect(error: GraphError | None) -> bool:
    """An answer that, about a user created or restored moments ago, means "not replicated yet":
    Entra ID is eventually consistent (Microsoft's identity blog, "Designing for eventual
    consistency for Microsoft Entra"; the Entra architecture page: writes go to one replica and
    reach the others later), with no documented bound; reports show a 404 for 15-30 s, sometimes
    minutes (azure-powershell issue 6493, msgraph-sdk-dotnet issue 2772), and assignLicense
    saying "invalid usage location" just after usageLocation was set (partner-center-dotnet-samples
    issue 131)."""
    if isinstance(error, NotFound) or (error is not None and error.code in NOT_REPLICATED_CODES):
        return True
    return isinstance(error, BadRequest) and error.no_usage_location


# Graph's codes for "no such object" (Request_ResourceNotFound, the user resource's 404) and the
# directory's own, seen on a PATCH just after the object was made (microsoft-graph-docs issue 15839).
NOT_REPLICATED_CODES = frozenset({"Request_ResourceNotFound", "Directory_ObjectNotFound"})


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
