"""Generate New Username, done (SPEC A-5): the queued requests of the portal, oldest first.

For each: a new username from the account's names under the A-2 rules (the
old one stays as an alias, so mail and sign-in by it still reach the same
account, and it is never given to anyone else), the mail address changed,
a new generated password shown under Show password (the account's sessions
are ended, as for any new password), and the change in the audit log. A run
killed half-way is finished by the next: the old username is noted before
the directory is written, so a rerun sees the change made and does not make
a second one.
"""

from __future__ import annotations

from directory import errors
from directory.model import AccountKind, AccountState
from directory.rules import passwords
from jobs.framework import JobContext, JobResult
from operational import audit, username_changes, web_sessions
from operational.audit import AuditEntry

ACTOR = "scheduler"


def process_username_changes(context: JobContext) -> JobResult:
    result = JobResult()
    store, db = context.store, context.db
    for change in username_changes.pending(db):
        account = store.get_account(change.account_id)
        if account is None or account.state is AccountState.DELETED:
            username_changes.finish(db, change.id, context.now, error="the account no longer exists")
            result.error(change.account_id, "Account gone")
            continue
        old = change.old_username or account.username
        try:
            if change.old_username is None:
                username_changes.note_begun(db, change.id, old)
            if account.username.casefold() == old.casefold():  # not yet renamed (a rerun may find it done)
                account = store.change_username(account.id, account.surname, account.forename)
            password = (passwords.generate_learner_password() if account.kind is AccountKind.LEARNER
                        else passwords.generate_password())
            store.set_password(account.id, password)
            web_sessions.end_sessions_of(db, account.id)  # a new password: signed out everywhere (S-1)
        except errors.DirectoryFailure:
            # Not this change's fault (the directory or the shared claims are out of reach): the
            # run fails with that one line and the change stays queued for the next run.
            raise
        except errors.DirectoryError as exc:
            username_changes.finish(db, change.id, context.now, error=str(exc))
            result.error(old, "Username change failed", str(exc))
            continue
        username_changes.finish(db, change.id, context.now, new_username=account.username)
        audit.record(db, AuditEntry(at=context.now, actor=ACTOR, action="username-changed",
                                    target_kind=account.kind.value, target_id=account.id,
                                    target_label=account.username, school=account.school,
                                    organisation=account.organisation,
                                    detail={"from": old, "to": account.username, "alias_kept": old,
                                            "requested_by": change.requested_by}))
        result.count("changed")
    return result
