"""The second-factor page the IdP shows after the password (issue 18 points 6, 8, 9), and
the check of what it posts: a code from an authenticator app, a security key's assertion, or
a recovery code.

Each try is counted by the sign-in throttle (SPEC S-3) under the same username as the
password, before it is checked, so guessing codes slows down and locks like guessing
passwords; every refusal of a kind says the same sentence, whatever its reason (a wrong code, one
used already, a key's answer from another origin or with a counter that went back), on the field
of what was tried (a recovery code's with its section open, saying each works once), and is
audited, as is every use (R-7). Whom to ask when everything is lost follows the person's role."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import g, render_template, request, session, url_for
from flask_babel import gettext as _

from directory.model import Account, Role
from idp.intake import Pending
from idp.pages import too_many_attempts
from idp.second_factors import Used
from idp.sso_session import identity_provider, problem
from operational import audit
from operational.audit import AuditEntry
from operational.second_factors import TOTP, WEBAUTHN
from operational.statuses import AuditOutcome

log = logging.getLogger("porth.idp")

CHALLENGE_KEY = "idp_webauthn_challenge"  # the security key's challenge, in this browser's server-side session


RECOVERY_CODE = "recovery-code"  # the form's method when a recovery code is typed


def refusal_message(method: str = "code") -> str:
    """The one sentence every refused second factor of a kind gets, whatever the reason (a wrong
    code, one used already): a recovery code's says what to do next, as each works once."""
    if method == RECOVERY_CODE:
        return _("That recovery code is not right, or it has been used already: each one works once. "
                 "Try another of your recovery codes.")
    return _("That code or security key is not right. Try again.")


def who_resets(account: Account) -> str:
    """Whom to ask when every factor and recovery code is lost: someone above the person, as
    webui/portal/second_factor_policy.py lets reset it (never themselves, nor an equal)."""
    if Role.NATIONAL_ADMINISTRATOR in account.roles:
        return _("No recovery code either? Ask the team that runs Porth to reset your second factor. "
                 "You will then set up a new one.")
    if Role.REC_ADMINISTRATOR in account.roles:
        return _("No recovery code either? Ask a national administrator to reset your second factor. "
                 "You will then set up a new one.")
    if Role.LA_ADMINISTRATOR in account.roles:
        return _("No recovery code either? Ask your regional consortium’s Hwb administrator, or a national "
                 "administrator, to reset your second factor. You will then set up a new one.")
    if Role.DIGITAL_CHAMPION in account.roles:
        return _("No recovery code either? Ask your local authority’s Hwb administrator to reset your second "
                 "factor. You will then set up a new one.")
    return _("No recovery code either? Ask your local authority’s Hwb administrator, or your school’s digital "
             "champion, to reset your second factor. You will then set up a new one.")


def second_factor_form(pending: Pending, token: str, account: Account, error: str | None = None,
                       status: int = 200, failed: str | None = None):
    """The page; `failed` is the method whose try was refused, so its error is on its own field
    (a recovery code's with its section open)."""
    provider = identity_provider()
    service = provider.services.get(pending.service)
    if service is None:
        return problem(_("That service is no longer registered with Porth."))
    checks = provider.second_factors
    kinds = {factor.kind for factor in checks.store.factors_of(account.id)}
    options = None
    if WEBAUTHN in kinds:
        options, challenge = checks.authentication_options(account)
        session[CHALLENGE_KEY] = challenge
    g.language_base = url_for("idp.second_factor", pending=token)
    return render_template("idp/second_factor.html", service=service, pending=token, has_app=TOTP in kinds,
                           webauthn_options=options, error=error,
                           failed=failed or "code", who_resets=who_resets(account)), status


@dataclass(frozen=True)
class Refusal:
    message: str
    status: int
    method: str = "code"  # what was tried: code, security-key or recovery-code


def check_posted(account: Account, username: str, now: datetime) -> Used | Refusal:
    """What the page posted, checked: the factor used, or why not (for the page)."""
    provider = identity_provider()
    address = request.remote_addr or "-"
    verdict = provider.throttle.attempt(username, address, now)
    method = request.form.get("method", "code")
    if method not in ("security-key", RECOVERY_CODE):
        method = "code"
    if verdict.wait_seconds:
        log.warning("second factor refused: too many failures (%s, wait %ss)", address, verdict.wait_seconds)
        message = too_many_attempts(verdict.wait_seconds, verdict.locked)
        return Refusal(message, 429, method)
    checks = provider.second_factors
    try:
        if method == "security-key":
            used = checks.check_assertion(account, request.form.get("credential", ""),
                                          session.pop(CHALLENGE_KEY, ""), now)
        elif method == RECOVERY_CODE:
            used = checks.check_recovery_code(account, request.form.get("recovery_code", ""), now)
        else:
            used = checks.check_code(account, request.form.get("code", ""), now)
    except BaseException:
        provider.throttle.not_checked(username, address)
        raise
    if used is None:
        record(account, "second-factor-refused", now, AuditOutcome.REFUSED, {"method": method})
        return Refusal(refusal_message(method), 400, method)
    provider.throttle.succeeded(username, address)
    if used.kind == RECOVERY_CODE:
        record(account, "recovery-code-used", now, detail={"left": used.recovery_codes_left or 0})
    else:
        record(account, "second-factor-used", now, detail={"kind": used.kind, "label": used.label})
    log.info("second factor accepted: account %s (%s)", account.id, used.kind)
    return used


def record(account: Account, action: str, now: datetime, outcome: AuditOutcome = AuditOutcome.SUCCESS,
           detail: dict | None = None) -> None:
    """R-7: the person's own use of a factor, at their school, from where it came."""
    audit.record(identity_provider().second_factors.store.db, AuditEntry(
        at=now, actor=account.username, action=action, target_kind=account.kind.value, target_id=account.id,
        target_label=account.username, school=account.school, organisation=account.organisation,
        source_address=request.remote_addr, outcome=outcome, detail=detail or {}))
