"""Which Single Logout messages Porth acts on (issue 15 point 2): pure rules, no I/O.

A LogoutRequest ends the browser's single sign-on session only when it comes from a service of
that session and names the person exactly as Porth named them to that service. A signed request
(saml2int SDP-IDP26) proves who sent it; an unsigned one, accepted only from a service that has no
signing key or whose policy allows it, proves nothing by itself, so it must also carry the session
index Porth issued, which only the session's services ever saw (docs/sign-in.md, "Signing out").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.messages import LogoutRequest


@dataclass(frozen=True)
class Freshness:
    """How far from now a message's IssueInstant may be (the IdP's clock skew and request age)."""

    clock_skew: timedelta
    max_age: timedelta

    def keep_until(self, issued: datetime) -> datetime:
        """Until when the message's ID must be remembered: past then, its IssueInstant refuses it anyway."""
        return issued + self.max_age + self.clock_skew


def delivery_problem(*, destination: str | None, arrived_at: str, issued: datetime | None, now: datetime,
                     freshness: Freshness, destination_required: bool = True) -> str | None:
    """Why a message cannot be taken as sent to this endpoint now, or None.

    saml-bindings 3.4.5.2 and 3.5.5.2: a signed message names the endpoint it was sent to, and the
    receiver checks it. An unsigned LogoutRequest must name it too (it is accepted only session-bound).
    The reasons carry no value from the message (they are logged)."""
    if destination is None:
        if destination_required:
            return "the message names no Destination"
    elif destination != arrived_at:
        return "the message is addressed to another endpoint"
    if issued is not None:
        if issued > now + freshness.clock_skew:
            return "the message is dated in the future"
        if issued < now - freshness.max_age:
            return "the message has expired"
    return None


class Outcome(enum.Enum):
    END_SESSION = "end the session"
    NOTHING_TO_END = "no session in this browser: nothing to end"  # answered Success
    REFUSE = "refuse"  # answered RequestDenied, the session stays


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str


def logout_verdict(request: LogoutRequest, sso: dict | None, signed: bool) -> Verdict:
    """What to do with a LogoutRequest whose signature, Destination, age and ID were checked,
    against the browser's live single sign-on session `sso` (idp/views.py: `services` maps each
    service with a logout endpoint to the NameID sent to it, [format, value, qualified], and
    `session_index` is the one every assertion of the session carried)."""
    if sso is None:
        if signed:
            # The service signed it, so it is the service asking; the browser holds no session
            # (ended or expired): the state asked for already holds (saml-core 3.7.3.2).
            return Verdict(Outcome.NOTHING_TO_END, "no single sign-on session in this browser")
        return Verdict(Outcome.REFUSE, "an unsigned request, and no single sign-on session in this browser")
    sent_as = sso.get("services", {}).get(request.issuer)
    if sent_as is None:
        return Verdict(Outcome.REFUSE, "the service was not used in this browser's session")
    name_id_format, name_id = sent_as[0], sent_as[1]
    if request.name_id != name_id:
        return Verdict(Outcome.REFUSE, "the NameID is not the one Porth sent to the service in this session")
    if request.name_id_format is not None and request.name_id_format != name_id_format:
        return Verdict(Outcome.REFUSE, "the NameID's Format is not the one Porth sent to the service")
    ours = sso.get("session_index")
    if not signed and not request.session_indexes:
        return Verdict(Outcome.REFUSE, "an unsigned request must name the session (SessionIndex)")
    if any(index != ours for index in request.session_indexes):
        return Verdict(Outcome.REFUSE, "the SessionIndex is not this browser's session")
    return Verdict(Outcome.END_SESSION, "signed" if signed else "unsigned, bound to this browser's session")
