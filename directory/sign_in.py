"""Password checks for the identity provider, on reused connections.

A sign-in is one indexed search for the account (only the attributes the
IdP needs) and one simple bind as the account, in which slapd verifies the
Argon2 hash, applies the ppolicy lockout and, through the lastbind overlay
(authTimestamp), records the time of the sign-in (S-2, for L-3) without a further write.
Each thread keeps two python-ldap connections open (FACTS.md: python-ldap
decodes about six times faster than ldap3): one bound as Porth for the
look-ups and one that is re-bound as each person signing in and used for
nothing else, so no TCP connection is opened per sign-in.

Wrong username, wrong password and an account slapd has locked all give
the same InvalidCredentials; a username that does not exist still costs an
Argon2 verification, so the time taken does not tell whether it exists
(S-3).
"""

from __future__ import annotations

import threading

import ldap as python_ldap
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from directory import errors
from directory.model import Account, AccountState
from directory.password_hash import MEMORY_COST_KIB, PARALLELISM, TIME_COST
from directory.store import ACCOUNT_ATTRIBUTES as A
from directory.store import DirectoryConfig, _account_from, python_ldap_connection

# What the IdP reads about a person: state and consent (may they go there?),
# and what services may be sent (idp/attributes.py).
SIGN_IN_FIELDS = ("id", "username", "names", "kind", "state", "surname", "forename", "display_name", "mail",
                  "school", "organisation", "year_group", "registration_group", "staff_code", "consent", "roles",
                  "state_changed_at", "state_changed_by", "state_reason")
_READ = [A[field] for field in SIGN_IN_FIELDS]

# Verified against when the username does not exist, so that answer takes as
# long as a wrong password (same Argon2 cost as a real hash).
_HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)
_DECOY_HASH = _HASHER.hash("decoy password never given to anyone")


class SignInDirectory:
    def __init__(self, config: DirectoryConfig):
        self.config = config
        self._people_dn = f"ou=people,{config.base_dn}"
        self._local = threading.local()

    # -- connections ----------------------------------------------------------
    def _connection(self, name: str):
        """This thread's `lookup` connection (bound as Porth) or `binder` (re-bound per sign-in)."""
        conn = getattr(self._local, name, None)
        if conn is None:
            conn = python_ldap_connection(self.config, self.config.timeout_seconds, bind_as_porth=name == "lookup")
            setattr(self._local, name, conn)
        return conn

    def _on(self, name: str, doing: str, operation):
        """Run `operation(connection)`; a connection slapd closed (restart, idle timeout) is reopened once."""
        for attempt in (1, 2):
            try:
                return operation(self._connection(name))
            except python_ldap.SERVER_DOWN as exc:
                self._drop(name)
                if attempt == 2:
                    raise self._unavailable(doing, exc) from None
            except python_ldap.INVALID_CREDENTIALS:
                raise
            except python_ldap.LDAPError as exc:
                self._drop(name)
                raise errors.DirectoryError(f"{doing}: {exc}") from None

    def _drop(self, name: str) -> None:
        conn = getattr(self._local, name, None)
        setattr(self._local, name, None)
        if conn is not None:
            try:
                conn.unbind_s()
            except python_ldap.LDAPError:
                pass

    def _unavailable(self, doing: str, exc: Exception) -> errors.DirectoryUnavailable:
        detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        return errors.DirectoryUnavailable(
            f"cannot reach the directory at {self.config.url} while {doing}: {detail.get('desc', exc)}")

    # -- the two steps ----------------------------------------------------------
    def account(self, username: str) -> Account | None:
        """The live account with this username or alias (any case, with or without @domain)."""
        local, _, domain = username.strip().rpartition("@") if "@" in username else (username.strip(), "", "")
        if domain and domain.lower() != self.config.mail_domain.lower():
            return None
        if not local or len(local) > 256:
            return None
        return self._live_account(f"({A['names']}={escape_filter_chars(local)})")

    def account_by_id(self, account_id: str) -> Account | None:
        """The account behind a live single sign-on session: re-read each time, so a
        deactivation or a consent change takes effect at the next service."""
        return self._live_account(f"({A['id']}={escape_filter_chars(account_id)})")

    def _live_account(self, condition: str) -> Account | None:
        search = f"(&(objectClass=porthAccount){condition})"
        found = self._on("lookup", "looking up an account to sign in",
                         lambda conn: conn.search_s(self._people_dn, python_ldap.SCOPE_ONELEVEL, search, _READ))
        live = [_account_from(attributes) for _dn, attributes in found if _dn is not None]
        live = [account for account in live if account.state is not AccountState.DELETED]
        if len(live) > 1:
            raise errors.MultipleMatches(f"{len(live)} accounts answer to one username")
        return live[0] if live else None

    def password_matches(self, account_id: str, password: str) -> bool:
        """A bind as the account: slapd checks the hash, the lockout, and records the sign-in."""
        dn = f"porthId={escape_rdn(account_id)},{self._people_dn}"
        try:
            self._on("binder", "checking a password", lambda conn: conn.simple_bind_s(dn, password))
        except python_ldap.INVALID_CREDENTIALS:
            return False
        return True

    def authenticate(self, username: str, password: str) -> Account:
        """The account, if the password is right; InvalidCredentials, the same for every failure."""
        account = self.account(username) if password else None
        if account is None:
            _spend_an_argon2_verification(password)
            raise errors.InvalidCredentials("wrong username or password")
        if not self.password_matches(account.id, password):
            raise errors.InvalidCredentials("wrong username or password")
        return account

    def close(self) -> None:
        self._drop("lookup")
        self._drop("binder")


def _spend_an_argon2_verification(password: str) -> None:
    try:
        _HASHER.verify(_DECOY_HASH, password or "-")
    except VerificationError:
        pass
