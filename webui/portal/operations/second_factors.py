"""Second factors in My Profile and their reset by a higher administrator (issue 18 points 6, 7):
each enrolment, removal, new set of recovery codes and reset is audited (R-7)."""

from __future__ import annotations

from directory.model import Account
from idp.second_factors import SecondFactorChecks
from webui.portal.operations.core import Caller, NotPermitted, Records, audit_entry, permit
from webui.portal.permissions import Action, PortalRole, account_target
from webui.portal.second_factor_policy import may_reset_second_factor


def enrol_app(records: Records, by: Caller, checks: SecondFactorChecks, label: str, secret: str,
              code: str) -> list[str] | None:
    """An authenticator app, kept once a code it made is right; None when the code is not. The
    first factor comes with recovery codes (returned, to be shown once)."""
    first = not checks.store.has_factor(by.account.id)
    factor_id = checks.enrol_totp(by.account, label, secret, code, by.at)
    if factor_id is None:
        return None
    records.audit.record(audit_entry(by, "enrol-second-factor", by.account,
                                     detail={"kind": "totp", "label": label, "factor": factor_id}))
    return new_recovery_codes(records, by, checks) if first else []


def enrol_security_key(records: Records, by: Caller, checks: SecondFactorChecks, label: str, credential_json: str,
                       challenge: str) -> list[str] | None:
    """A security key or passkey the browser made for Porth; None when its answer does not verify."""
    first = not checks.store.has_factor(by.account.id)
    factor_id = checks.enrol_security_key(by.account, label, credential_json, challenge, by.at)
    if factor_id is None:
        return None
    records.audit.record(audit_entry(by, "enrol-second-factor", by.account,
                                     detail={"kind": "webauthn", "label": label, "factor": factor_id}))
    return new_recovery_codes(records, by, checks) if first else []


def remove_factor(records: Records, by: Caller, checks: SecondFactorChecks, factor_id: int) -> bool:
    factor = checks.store.factor(by.account.id, factor_id)
    if factor is None or not checks.store.remove(by.account.id, factor_id):
        return False
    records.audit.record(audit_entry(by, "remove-second-factor", by.account,
                                     detail={"kind": factor.kind, "label": factor.label, "factor": factor_id}))
    # A factor removed is often a phone lost: the sessions it may have opened elsewhere end, as a
    # changed password's do (this browser stays signed in).
    records.sessions.end_sessions_of(by.account.id)
    return True


def new_recovery_codes(records: Records, by: Caller, checks: SecondFactorChecks) -> list[str]:
    codes = checks.new_recovery_codes(by.account, by.at)
    records.audit.record(audit_entry(by, "new-recovery-codes", by.account, detail={"count": len(codes)}))
    return codes


def reset_factors(records: Records, by: Caller, checks: SecondFactorChecks, account: Account,
                  account_role: PortalRole) -> int:
    """A lost factor reset by a higher administrator in whose scope the person is (R-5): every factor
    and recovery code goes, the person is signed out everywhere and enrols again at their next
    sign-in. How many factors went."""
    permit(by, Action.RESET_PASSWORD, account_target(account))
    if not may_reset_second_factor(by.actor.role, account_role):
        raise NotPermitted(Action.RESET_PASSWORD, account_target(account))
    gone = checks.store.reset(account.id)
    records.audit.record(audit_entry(by, "reset-second-factor", account, detail={"factors": gone}))
    records.sessions.end_sessions_of(account.id)
    return gone
