"""Changes to accounts made in the portal (SPEC A-1, A-5, A-6, C-3, L-1, L-5, R-1..R-7): names,
a new username (queued), state, consent, new non-MIS accounts and their expiry."""

from __future__ import annotations

from datetime import date, datetime

from directory.model import Account, AccountKind, AccountState, Consent, Contact, NewAccount
from directory.rules.lifecycle import ExpiryChoice, expiry_date, expiry_instant, is_expired
from operational import username_changes
from webui.portal.operations.core import Caller, Records, audit_entry, permit, permit_each
from webui.portal.permissions import Action, Target, TargetKind, account_target


def edit_names(records: Records, by: Caller, account: Account, forename: str, surname: str) -> bool:
    """A-5: names change at once (the username does not); False when both were already so."""
    permit(by, Action.EDIT_NAMES, account_target(account))
    changes = {k: v for k, v in (("forename", forename), ("surname", surname)) if v != getattr(account, k)}
    if not changes:
        return False
    records.directory.update_account(account.id, changes)
    records.audit.record(audit_entry(by, "edit-names", account, detail={
        "from": f"{account.forename} {account.surname}", "to": f"{forename} {surname}"}))
    return True


def request_new_username(records: Records, by: Caller, account: Account) -> bool:
    """Generate New Username (A-5): queued for the username job; False when one is already queued."""
    permit(by, Action.EDIT_NAMES, account_target(account))
    if not username_changes.request_change(records.queue_database(), account.id, by.username, by.at):
        return False
    records.audit.record(audit_entry(by, "request-new-username", account))
    return True


def needs_new_expiry(account: Account, today: date) -> bool:
    """L-1 with L-5: a non-MIS account reactivated past its expiry would be deactivated again
    that night, so reactivating it sets a new expiry."""
    return not account.kind.is_mis and account.expiry is not None and is_expired(account.expiry.date(), today)


def change_state(records: Records, by: Caller, account: Account, wanted: AccountState, reason: str,
                 new_expiry: ExpiryChoice | None = None) -> None:
    """Deactivate or reactivate (A-6); nobody locks themselves out (the permission table, R-5).
    A reactivation that `needs_new_expiry` takes `new_expiry`."""
    reactivating = wanted is AccountState.ACTIVE
    permit(by, Action.REACTIVATE if reactivating else Action.DEACTIVATE, account_target(account))
    changes: dict[str, datetime] | None = None
    detail: dict[str, str] | None = None
    if reactivating and needs_new_expiry(account, by.at.date()):
        if new_expiry is None:
            raise ValueError("reactivating an expired account needs a new expiry (L-1)")
        changes = {"expiry": expiry_instant(expiry_date(new_expiry, by.at.date()))}
        detail = {"expiry": new_expiry.value}
    records.directory.set_state(account.id, wanted, by.username, reason, by.at, changes=changes)
    if not reactivating:
        records.sessions.end_sessions_of(account.id)  # signed out everywhere at once
    records.audit.record(audit_entry(by, "reactivate" if reactivating else "deactivate", account, detail=detail))


def set_consent(records: Records, by: Caller, accounts: list[Account], consent: Consent) -> int:
    """C-3: explicit consent confirmed or withdrawn for each learner whose consent changes; how many changed."""
    permit_each(by, Action.MANAGE_CONSENT, accounts)
    changed = [a for a in accounts if (a.consent or Consent.NOT_OBTAINED) is not consent]
    for account in changed:
        records.directory.update_account(account.id, {"consent": consent.value})
        records.audit.record(audit_entry(
            by, "confirm-consent" if consent is Consent.EXPLICIT else "withdraw-consent", account,
            detail={"from": (account.consent or Consent.NOT_OBTAINED).value, "to": consent.value}))
    return len(changed)


def create_account(records: Records, by: Caller, kind: AccountKind, *, forename: str, surname: str,
                   password: str, expiry: ExpiryChoice, school: str | None = None,
                   organisation: str | None = None, contact: Contact | None = None) -> Account:
    """A governor's, school non-MIS, LA or REC account (A-1), usable at once (no hourly wait),
    expiring as chosen (L-1)."""
    permit(by, Action.CREATE_ACCOUNT, Target(TargetKind.of_account(kind), school=school, organisation=organisation))
    new = NewAccount(kind=kind, surname=surname, forename=forename, created_by=by.username, school=school,
                     organisation=organisation, expiry=expiry_instant(expiry_date(expiry, by.at.date())),
                     password=password, contact=contact if contact and any(vars(contact).values()) else None)
    account = records.directory.add_account(new, by.at)
    records.audit.record(audit_entry(by, "create-account", account, detail={"expiry": expiry.value}))
    return account


def extend_expiry(records: Records, by: Caller, accounts: list[Account], extend_by: ExpiryChoice) -> None:
    """L-1: each account's expiry moved on by the chosen period, from today or from its expiry if later."""
    permit_each(by, Action.EXTEND_EXPIRY, accounts)
    today = by.at.date()
    for account in accounts:
        if account.expiry is None:  # only non-MIS accounts expire, and those always have a date (L-1)
            raise ValueError(f"{account.username} has no expiry to extend (L-1)")
        old_expiry = account.expiry.date()
        new_expiry = expiry_date(extend_by, max(today, old_expiry))
        records.directory.update_account(account.id, {"expiry": expiry_instant(new_expiry)})
        records.audit.record(audit_entry(by, "extend-expiry", account, detail={
            "from": old_expiry.isoformat(), "to": new_expiry.isoformat()}))
