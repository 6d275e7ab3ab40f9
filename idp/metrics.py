"""What the identity provider counts for Prometheus (issue 17 point 5): sign-ins by outcome, their
duration, lock-outs, and services refused to a signed-in person (docs/deployment.md, "Metrics").

The metrics are the process's own, defined once at import as prometheus_client expects: under
gunicorn each worker writes them to its files in the multiprocess folder, and a scrape of any
worker sums every worker's (webui/metrics.py). Every label takes one of a few fixed values (the
names below), never a username, an account id or a service's entity ID.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# How a person signs in: the sign-in form, or a badge (issue 18).
PASSWORD = "password"  # noqa: S105 - a method label, not a password
BADGE = "badge"

# How a sign-in attempt (the form's or the badge page's POST) ended.
SIGNED_IN = "signed_in"
WRONG_PASSWORD = "wrong_password"  # noqa: S105 - an outcome label: an account matched, the password did not
UNKNOWN_USERNAME = "unknown_username"  # no account matched what was typed
NOT_ACTIVE = "not_active"  # the right password of an account that may not sign in (S-2)
DELAYED = "delayed"  # refused by the throttle: too soon after the last failures (S-3)
LOCKED = "locked"  # refused by the throttle: the username or the address is locked (S-3)
INCOMPLETE = "incomplete"  # the username or the password left empty
UNCHECKED = "unchecked"  # the password or badge could not be checked (the directory or database did not answer)
BADGE_REFUSED = "badge_refused"  # a badge (or its PIN) that signs no one in: unknown, withdrawn, wrong PIN
PIN_ASKED = "pin_asked"  # a right badge of a school in badge + PIN mode: the PIN is asked next
OUTCOMES = {
    PASSWORD: (SIGNED_IN, WRONG_PASSWORD, UNKNOWN_USERNAME, NOT_ACTIVE, DELAYED, LOCKED, INCOMPLETE, UNCHECKED),
    BADGE: (SIGNED_IN, BADGE_REFUSED, PIN_ASKED, NOT_ACTIVE, DELAYED, LOCKED, INCOMPLETE, UNCHECKED),
}

# Why a signed-in person was not sent on to a service.
REFUSED_NOT_ACTIVE = "not_active"  # the account is no longer active
REFUSED_NO_CONSENT = "no_consent"  # a learner whose consent does not open the service's category (C-2)
REFUSED_UNNAMEABLE = "cannot_be_named"  # the account cannot be named as the service needs (S-1)

sign_ins = Counter("porth_sign_ins", "Sign-in attempts (the sign-in form's or badge page's POST), by method and "
                   "how they ended", ["method", "outcome"])
sign_in_seconds = Histogram("porth_sign_in_duration_seconds",
                            "Time to answer a sign-in attempt, throttle and password or badge check included, by "
                            "method and outcome", ["method", "outcome"],
                            buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
lockouts = Counter("porth_sign_in_lockouts", "Failed sign-ins that locked a username, a badge or a source address "
                   "(S-3)", ["kind"])
service_refusals = Counter("porth_service_refusals",
                           "Signed-in people not sent on to a service, by reason and the service's category (C-2)",
                           ["reason", "category"])


def _every_series_from_zero() -> None:
    """Every outcome shows as 0 from the first scrape, so a rate over it has a start (a series
    that appears at its first increment loses that first increment to `rate()`)."""
    for method, outcomes in OUTCOMES.items():
        for outcome in outcomes:
            sign_ins.labels(method, outcome)
    for kind in ("username", "badge", "address"):
        lockouts.labels(kind)


_every_series_from_zero()
