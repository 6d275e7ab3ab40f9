"""Which LogoutRequests end a single sign-on session (issue 15 point 2; saml2int SDP-IDP26): the pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.logout_rules import Freshness, Outcome, delivery_problem, logout_verdict
from idp.messages import LogoutRequest

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
SSO = {"session_index": "_ours", "services": {"https://sp.example": [PERSISTENT, "name-at-sp", True]}}
FRESH = Freshness(clock_skew=timedelta(minutes=3), max_age=timedelta(minutes=10))
HERE = "https://porth.example/idp/slo/redirect"


def request(**changes) -> LogoutRequest:
    fields = {"id": "_r1", "issuer": "https://sp.example", "issue_instant": NOW, "name_id": "name-at-sp",
              "session_indexes": ("_ours",), "name_id_format": PERSISTENT} | changes
    return LogoutRequest(**fields)


@pytest.mark.parametrize("signed", [True, False])
def test_the_names_porth_gave_that_service_in_this_session_end_it(signed):
    assert logout_verdict(request(), SSO, signed).outcome is Outcome.END_SESSION
    assert logout_verdict(request(name_id_format=None), SSO, signed).outcome is Outcome.END_SESSION


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("changes", [
    {"issuer": "https://never-used.example"},
    {"name_id": "someone-else"},
    {"name_id": None},
    {"name_id_format": TRANSIENT},
    {"session_indexes": ("_another",)},
    {"session_indexes": ("_ours", "_another")},
])
def test_anything_else_is_refused_signed_or_not(signed, changes):
    assert logout_verdict(request(**changes), SSO, signed).outcome is Outcome.REFUSE


def test_an_unsigned_request_must_name_the_session_a_signed_one_may_leave_it_out():
    assert logout_verdict(request(session_indexes=()), SSO, False).outcome is Outcome.REFUSE
    assert logout_verdict(request(session_indexes=()), SSO, True).outcome is Outcome.END_SESSION


def test_with_no_session_in_the_browser_only_a_signed_request_is_answered_success():
    assert logout_verdict(request(), None, True).outcome is Outcome.NOTHING_TO_END
    assert logout_verdict(request(), None, False).outcome is Outcome.REFUSE


@pytest.mark.parametrize(("destination", "issued", "problem"), [
    (HERE, NOW, None),
    (HERE, NOW - timedelta(minutes=9), None),
    (HERE, NOW + timedelta(minutes=2), None),
    (None, NOW, "names no Destination"),
    ("https://porth.example/idp/slo/post", NOW, "another endpoint"),
    (HERE, datetime(2001, 1, 1, tzinfo=UTC), "expired"),
    (HERE, NOW + timedelta(minutes=4), "future"),
])
def test_a_message_is_taken_only_where_and_when_it_was_meant_for(destination, issued, problem):
    found = delivery_problem(destination=destination, arrived_at=HERE, issued=issued, now=NOW, freshness=FRESH)
    assert (found is None) if problem is None else (problem in found)


def test_a_message_id_is_kept_as_long_as_its_issue_instant_could_still_pass():
    assert FRESH.keep_until(NOW) == NOW + timedelta(minutes=13)
