"""Passwords set and revealed in the portal (SPEC A-3, A-4, P-1, P-2, R-1..R-7): each reset and
each password that leaves Porth (shown, printed, downloaded) is audited: one event per account
shown or printed, one per download (naming the accounts it revealed)."""

from __future__ import annotations

from directory.model import Account, AccountKind, AccountState, PasswordStatus, School
from directory.rules import passwords
from directory.store import AccountQuery
from operational.statuses import AuditOutcome
from webui.portal.operations.core import Caller, Records, audit_entry, by_name, permit, permit_each
from webui.portal.permissions import Action, Target, TargetKind, account_target

DOWNLOAD_ACTIONS = {AccountKind.LEARNER: "download-pupils", AccountKind.STAFF: "download-staff"}


def reset_password(records: Records, by: Caller, account: Account, password: str) -> None:
    """Reset Password: a typed or generated password, shown afterwards under Show password (A-4)."""
    permit(by, Action.RESET_PASSWORD, account_target(account))
    records.directory.set_password(account.id, password)
    records.sessions.end_sessions_of(account.id)  # whoever knew the old password is signed out (S-1)
    records.audit.record(audit_entry(by, "reset-password", account))


def reset_passwords(records: Records, by: Caller, accounts: list[Account],
                    learner_words: bool) -> list[tuple[Account, str]]:
    """New generated passwords for each (A-3, shown under Show password, A-4); audited one by one."""
    permit_each(by, Action.RESET_PASSWORD, accounts)
    done = []
    for account in accounts:
        password = passwords.generate_learner_password() if learner_words else passwords.generate_password()
        records.directory.set_password(account.id, password)
        records.sessions.end_sessions_of(account.id)
        records.audit.record(audit_entry(by, "reset-password", account, detail={"bulk": True}))
        done.append((account, password))
    return done


def change_own_password(records: Records, by: Caller, password: str) -> None:
    """My Profile (R-1): the person's own password, which Porth then no longer shows (A-4: User changed password)."""
    permit(by, Action.CHANGE_OWN_PASSWORD, account_target(by.account))
    records.directory.set_password(by.account.id, password, set_by_user=True)
    records.sessions.end_sessions_of(by.account.id)  # their other browsers: this one stays signed in
    records.audit.record(audit_entry(by, "change-own-password", by.account))


def show_password(records: Records, by: Caller, account: Account) -> str | None:
    """A-4: the reveal copy, only while the status is Show password (None otherwise); every reveal
    audited, a refused one too (R-7)."""
    permit(by, Action.SHOW_PASSWORD, account_target(account))
    password = records.directory.reveal_password(account.id) \
        if account.password_status is PasswordStatus.AVAILABLE else None
    outcome = AuditOutcome.SUCCESS if password else AuditOutcome.REFUSED
    records.audit.record(audit_entry(by, "show-password", account, outcome=outcome))
    return password


def print_credentials(records: Records, by: Caller, accounts: list[Account], with_passwords: bool) -> dict[str, str]:
    """Print Details or Print With Password (P-1): the passwords still available (A-4) by account id,
    an audit event for each account printed."""
    permit_each(by, Action.PRINT_CREDENTIALS, accounts)
    if not with_passwords:
        records.audit.record_many([audit_entry(by, "print-details", a) for a in accounts])
        return {}
    revealed: dict[str, str] = {}
    by_school: dict[str, list[Account]] = {}
    for account in accounts:
        if account.password_status is PasswordStatus.AVAILABLE and account.school:
            by_school.setdefault(account.school, []).append(account)
    for school, members in by_school.items():
        revealed.update(records.directory.reveal_passwords(school, [a.id for a in members]))
    records.audit.record_many([audit_entry(by, "print-with-password", a) for a in accounts if a.id in revealed])
    return revealed


def download_credentials(records: Records, by: Caller, school: School,
                         kind: AccountKind) -> list[tuple[Account, str | None]]:
    """P-2: every active account of the kind with its password where one is available, and ONE
    audit event for the download (R-7), naming how many accounts it held and how many passwords.

    One event, not one per password (issue 16 point 7): a download of 1,000 pupils is one thing
    a person did, and 1,000 rows buried every other entry. The accounts whose passwords left
    Porth are still named, by id, in the event's detail (`revealed`), so who saw whose password
    can still be answered from the log."""
    permit(by, Action.DOWNLOAD_CREDENTIALS, Target(TargetKind.of_account(kind), school=school.dfes))
    found = records.directory.accounts_with_passwords(AccountQuery(school=school.dfes, kinds=(kind,),
                                                                   states=(AccountState.ACTIVE,)))
    revealed = by_name(account for account, password in found if password)
    records.audit.record(audit_entry(by, DOWNLOAD_ACTIONS[kind], target_kind="school", target_id=school.dfes,
                                     target_label=school.name, school=school.dfes,
                                     detail={"accounts": len(found), "passwords": len(revealed),
                                             "revealed": [account.id for account in revealed]}))
    return found
