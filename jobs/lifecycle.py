"""Non-MIS expiry (L-1), inactivity (L-3) and permanent deletion (L-4).

Each reads the accounts concerned in one search, decides with the pure
rules of directory.rules.lifecycle, and writes one modify per account;
every state change names the job, the time and the reason (A-6). Deletion
holds, changing nothing, when a run would delete more than the configured
number of accounts (an operator confirms with `porth jobs run deletions
--confirm`), like the provisioning guard (M-11).
"""

from __future__ import annotations

from datetime import date

from directory import errors
from directory.model import Account, AccountKind, AccountState
from directory.rules import lifecycle
from directory.store import AccountQuery
from jobs.framework import JobContext, JobResult
from operational import audit
from operational.audit import AuditEntry
from operational.statuses import JobOutcome

ACTOR = "scheduler"
NON_MIS = (AccountKind.GOVERNOR, AccountKind.SCHOOL_NONMIS, AccountKind.LA_NONMIS, AccountKind.REC_NONMIS,
           AccountKind.STAKEHOLDER)


def _deactivate(context: JobContext, result: JobResult, account: Account, reason: str, counted: str) -> None:
    try:
        context.store.set_state(account.id, AccountState.DEACTIVATED, ACTOR, reason, context.now)
    except errors.DirectoryError as exc:
        result.error(account.username, "Deactivation failed", str(exc))
        return
    _audit(context, "deactivate", account, {"reason": reason})
    result.count(counted)


def _audit(context: JobContext, action: str, account: Account, detail: dict[str, str]) -> None:
    """The audit entry of a state change this job made to `account` (A-6, R-7)."""
    audit.record(context.db, AuditEntry(at=context.now, actor=ACTOR, action=action,
                                        target_kind=account.kind.value, target_id=account.id,
                                        target_label=account.username, school=account.school,
                                        organisation=account.organisation, detail=detail))


def expire_non_mis(context: JobContext) -> JobResult:
    """L-1: active non-MIS accounts past their expiry day are deactivated."""
    result = JobResult()
    today = context.now.date()
    for account in context.store.find_accounts(AccountQuery(kinds=NON_MIS, states=(AccountState.ACTIVE,))):
        if account.expiry is not None and lifecycle.is_expired(account.expiry.date(), today):
            _deactivate(context, result, account, "expired", "deactivated")
    return result


def deactivate_inactive(context: JobContext) -> JobResult:
    """L-3: active non-MIS accounts with no sign-in for 90 days are deactivated; their expiry is kept."""
    result = JobResult()
    for account in context.store.find_accounts(AccountQuery(kinds=NON_MIS, states=(AccountState.ACTIVE,))):
        if lifecycle.is_inactive(_last_use(account), account.created_at, context.now):
            _deactivate(context, result, account, "no sign-in for 90 days", "deactivated")
    return result


def _last_use(account: Account):
    """The later of its last sign-in and its reactivation (L-5): an administrator who
    reactivates an idle account gives it 90 days again, not one night."""
    reactivated = account.state_change.at if account.state_change and account.state_change.reason != "created" \
        else None
    moments = [m for m in (account.last_sign_in, reactivated) if m is not None]
    return max(moments) if moments else None


def deactivated_on(account: Account) -> date | None:
    """When the account stopped: the later of its deactivation and its leaving date (never earlier)."""
    days = [d for d in (account.state_change.at.date() if account.state_change else None, account.leaving_date) if d]
    return max(days) if days else None


def delete_due(context: JobContext) -> JobResult:
    """L-4: deactivated accounts not reactivated within 12 months are deleted permanently."""
    result = JobResult()
    today = context.now.date()
    due = [a for a in context.store.find_accounts(AccountQuery(states=(AccountState.DEACTIVATED,)))
           if lifecycle.is_due_for_deletion(deactivated_on(a), today)]
    limit = context.settings.max_deletions_per_run
    if len(due) > limit and not context.confirmed:
        result.outcome = JobOutcome.HELD
        result.counts = {"due": len(due)}
        result.note = (f"{len(due)} accounts are due for deletion, more than the {limit} a run may delete "
                       f"unconfirmed; nothing was deleted. Check, then run `porth jobs run deletions --confirm`.")
        return result
    for account in due:
        try:
            context.store.delete_account(account.id, ACTOR, "deactivated for 12 months", context.now)
        except errors.DirectoryError as exc:
            result.error(account.username, "Deletion failed", str(exc))
            continue
        _audit(context, "delete", account, {"deactivated_on": str(deactivated_on(account))})
        result.count("deleted")
    return result
