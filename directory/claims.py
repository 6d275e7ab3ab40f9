"""Claims on what must be unique in the whole deployment, whichever directory server is written
(issue 17 point 2): every username and alias (`uid`, A-2) and every UPN hash (M-3, M-6).

slapd's unique overlay checks one server's own database only. Where Porth writes to several
providers (multi-provider replication, or a failover that promotes another server), two
processes each writing to their own provider were both accepted: 13 usernames ended up on two
accounts each and both learners got HTTP 500 at sign-in. So a value is first *claimed* in one
place every process shares, under a unique key, and only the winner writes it to LDAP:

- `claim` takes a value for a holder (an account's id) unless another holder has it, and says
  who holds it now. It is one INSERT under a primary key in the operational database
  (operational/directory_claims.py): atomic between processes and machines.
- A username is never given up (A-2: an address once used is never given to another person;
  the tombstone of a deleted account keeps its names), so a username claim is released only
  when the directory definitely refused the very write it was taken for.
- A UPN hash leaves an account when it is deleted (L-4); its claim is released then. A claim
  whose holder never wrote the hash (a run killed between the claim and the add) is taken over
  with `take_over` once it is older than `STALE_UPN_HASH_CLAIM` and no directory entry carries
  the hash: longer than any replication delay, shorter than a night's wait.

The directory adapter (directory/ldap/usernames.py, directory/ldap/accounts.py) calls these;
`NullClaims` stands in where one directory server is the only writer (its overlay suffices).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from directory.errors import ClaimsUnavailable
from directory.rules.uid_matching import uid_matching_form

STALE_UPN_HASH_CLAIM = timedelta(minutes=15)


class ClaimKind(StrEnum):
    USERNAME = "username"  # a current username or an alias: every value of uid
    UPN_HASH = "upn-hash"


def claimed_form(kind: ClaimKind, value: str) -> str:
    """The value as claimed: a username as slapd's uid matching compares it (case-insensitive, and
    never finer than slapd's own form: two names slapd takes for one are one claim)."""
    return uid_matching_form(value) if kind is ClaimKind.USERNAME else value


class DirectoryClaims(Protocol):
    """Shared claims; every method raises ClaimsUnavailable when the claims cannot be used."""

    def claim(self, kind: ClaimKind, value: str, holder: str) -> str:
        """Claim `value` for `holder`; the holder now (`holder` itself when it won or had it)."""
        ...

    def take_over(self, kind: ClaimKind, value: str, holder: str, older_than: timedelta) -> bool:
        """Give `value` to `holder` if its current claim was taken more than `older_than` ago;
        whether it did (False: the claim is recent, or another process took it over first)."""
        ...

    def release(self, kind: ClaimKind, value: str, holder: str) -> None:
        """Give up `value` if `holder` holds it (anyone else's claim is left alone)."""
        ...

    def claimed_starting(self, kind: ClaimKind, prefix: str) -> set[str]:
        """Every claimed value starting with `prefix` (in claimed form): the usernames another
        server's accounts hold, which this server's directory may not have yet."""
        ...


class NullClaims:
    """One directory server is the only writer: its unique overlay is the whole guard."""

    def claim(self, kind: ClaimKind, value: str, holder: str) -> str:
        return holder

    def take_over(self, kind: ClaimKind, value: str, holder: str, older_than: timedelta) -> bool:
        return True

    def release(self, kind: ClaimKind, value: str, holder: str) -> None:
        return None

    def claimed_starting(self, kind: ClaimKind, prefix: str) -> set[str]:
        return set()


class GuardedClaims:
    """Claims kept elsewhere (the operational database), whose own failures (`failures`, e.g. the
    database's error type) come out as ClaimsUnavailable: the directory code below it knows
    nothing of the store, and a run stops on it as on any directory failure (M-10)."""

    def __init__(self, claims: DirectoryClaims, failures: tuple[type[Exception], ...]):
        self._claims = claims
        self._failures = failures

    def claim(self, kind: ClaimKind, value: str, holder: str) -> str:
        try:
            return self._claims.claim(kind, value, holder)
        except self._failures as exc:
            raise ClaimsUnavailable(f"cannot claim a {kind.value}: {exc}") from None

    def take_over(self, kind: ClaimKind, value: str, holder: str, older_than: timedelta) -> bool:
        try:
            return self._claims.take_over(kind, value, holder, older_than)
        except self._failures as exc:
            raise ClaimsUnavailable(f"cannot take over a {kind.value} claim: {exc}") from None

    def release(self, kind: ClaimKind, value: str, holder: str) -> None:
        try:
            self._claims.release(kind, value, holder)
        except self._failures as exc:
            raise ClaimsUnavailable(f"cannot release a {kind.value} claim: {exc}") from None

    def claimed_starting(self, kind: ClaimKind, prefix: str) -> set[str]:
        try:
            return self._claims.claimed_starting(kind, prefix)
        except self._failures as exc:
            raise ClaimsUnavailable(f"cannot read the {kind.value} claims: {exc}") from None
