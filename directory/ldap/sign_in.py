"""Password checks for the identity provider, on reused connections: the one ``authenticate``.

A sign-in is one indexed search for the account (only the attributes the
IdP needs, SIGN_IN_FIELDS) and one simple bind as the account, in which slapd
verifies the Argon2 hash, applies the ppolicy lockout and, through the lastbind
overlay, records the time of the sign-in (S-2, for L-3) without a further write.
Each thread keeps two python-ldap connections open (connections.ThreadConnection):
one bound as Porth for the look-ups and one that is re-bound as each person
signing in and used for nothing else, so no TCP connection is opened per sign-in.

Wrong username, wrong password, an account slapd has locked and a deleted
account all give the same InvalidCredentials; a username that does not exist
still costs an Argon2 verification, so the time taken does not tell whether it
exists (S-3).

A badge sign-in binds no one, so no overlay records it: ``record_badge_sign_in`` writes
its time, at the precision lastbind keeps a password sign-in's (S-2).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from directory import errors
from directory.ldap import filters
from directory.ldap.config import DirectoryConfig
from directory.ldap.connections import ThreadConnection
from directory.ldap.mapping import (
    ACCOUNTS,
    SIGN_IN_FIELDS,
    A,
    DirectoryTree,
    account_attributes,
    account_from,
    generalized_time,
)
from directory.ldap.passwords import spend_an_argon2_verification
from directory.model import Account, AccountState
from directory.rules import usernames
from directory.rules.lifecycle import sign_in_time_to_record

log = logging.getLogger(__name__)
# After a badge sign-in's time could not be written (every provider down behind a consumer), this
# process stops trying for this long: each try would hold a child's sign-in up for a timeout.
BADGE_WRITE_PAUSE_SECONDS = 300
_READ = account_attributes(SIGN_IN_FIELDS)


class SignInDirectory:
    def __init__(self, config: DirectoryConfig):
        self.config = config
        self._tree = DirectoryTree(config.base_dn)
        # The read URLs (a nearby replica first): its slapd forwards the sign-in's lastbind time and
        # any lock-out to a provider (docs/deployment.md, "Replication").
        reads = config.for_reads()
        self._lookup = ThreadConnection(reads, reads.timeout_seconds)
        self._binder = ThreadConnection(reads, reads.timeout_seconds, bind_as_porth=False)
        self._badge_writes_paused_until = 0.0  # time.monotonic(); see BADGE_WRITE_PAUSE_SECONDS

    def account(self, username: str) -> Account | None:
        """The live account with this username or alias (any case, with or without @domain)."""
        name = usernames.username_in(username, self.config.mail_domain)
        return None if name is None else self._live_account(filters.equals(A["names"], name))

    def account_by_id(self, account_id: str) -> Account | None:
        """The account behind a live single sign-on session: re-read each time, so a
        deactivation or a consent change takes effect at the next service."""
        return self._live_account(filters.equals(A["id"], account_id))

    def _live_account(self, condition: str) -> Account | None:
        found = self._lookup.search_one_level(self._tree.people, filters.all_of(ACCOUNTS, condition), _READ,
                                              "looking up an account to sign in")
        live = [account for account in map(account_from, found) if account.state is not AccountState.DELETED]
        if len(live) > 1:
            raise errors.MultipleMatches(f"{len(live)} accounts answer to one username")
        return live[0] if live else None

    def password_matches(self, account_id: str, password: str) -> bool:
        """A bind as the account: slapd checks the hash, the lockout, and records the sign-in."""
        return self._binder.password_matches(self._tree.account(account_id), password)

    def authenticate(self, username: str, password: str) -> Account:
        """The account, if the password is right; InvalidCredentials, the same for every failure."""
        account = self.account(username) if password else None
        if account is None:
            spend_an_argon2_verification(password)
            raise errors.InvalidCredentials("wrong username or password")
        if not self.password_matches(account.id, password):
            raise errors.InvalidCredentials("wrong username or password", account_id=account.id)
        return account

    def record_badge_sign_in(self, account: Account, now: datetime) -> None:
        """S-2 for a sign-in without a bind. A directory that cannot take the write does not undo a
        sign-in already checked, as slapd's lastbind does not fail a bind: it is logged, in one line."""
        if not sign_in_time_to_record(account.last_sign_in, now) or time.monotonic() < self._badge_writes_paused_until:
            return
        try:
            self._lookup.replace(self._tree.account(account.id), A["last_sign_in"], [generalized_time(now)],
                                 "recording a badge sign-in")
        except errors.DirectoryError as exc:
            self._badge_writes_paused_until = time.monotonic() + BADGE_WRITE_PAUSE_SECONDS
            log.warning("the time of account %s's badge sign-in was not recorded: %s; badge sign-in times are not "
                        "written for %d s", account.id, exc, BADGE_WRITE_PAUSE_SECONDS)

    def close(self) -> None:
        self._lookup.drop()
        self._binder.drop()
