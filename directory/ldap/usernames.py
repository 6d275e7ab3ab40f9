"""Claiming usernames (SPEC A-2, A-5), safely between processes and directory servers.

``uid`` holds an account's current username and every former one (its aliases);
``porthUsername`` says which is current. The directory's unique overlay on ``uid``
(serialised, config/ldap/slapd-config.ldif.in) makes a name, once used, never given
to anyone else, and makes allocation safe between processes writing to one server:
the first free candidate is written and the server refuses it if another process was
faster. The overlay knows only its own server: where several providers are written
(issue 17 point 2), each candidate is first claimed in the deployment's shared claims
(directory/claims.py) and written only by the account that won it.
Which names are candidates is a pure rule (directory/rules/usernames.py).
"""

from __future__ import annotations

from collections.abc import Callable

from directory import errors
from directory.claims import ClaimKind, DirectoryClaims, NullClaims, claimed_form
from directory.ldap import filters
from directory.ldap.connections import Connections
from directory.ldap.mapping import A, DirectoryTree, one, values
from directory.rules import usernames

_ATTEMPTS = 25


class UsernameClaims:
    def __init__(self, connections: Connections, tree: DirectoryTree, claims: DirectoryClaims | None = None):
        self._ldap = connections
        self._tree = tree
        self._claims: DirectoryClaims = claims or NullClaims()
        self._next_free_number: dict[str, int] = {}  # username base (casefolded) -> number to try next

    def claim(self, base: str, write: Callable[[str], None], holder: str) -> str:
        """Write with the first free name for `base`, claimed for the account `holder`; if
        another account claimed it first (the shared claims say so, or this server's unique
        overlay refuses the write), take the next one. A refusal that is not about the name
        (`write` raises UpnHashTaken, or the name is still free) is raised as it is, never
        retried under another name.

        Names are never freed (A-2), so once this store has given `base`+n, every
        number up to n is taken and n+1 is the first free one unless another
        process took it: that name is tried first, and only if it is taken are all
        the base's names read (with thousands of Joneses that read grows with the
        directory and slowed a national load, bench/README.md).
        """
        key = base.casefold()
        hint = self._next_free_number.get(key)
        if hint is not None:
            username = usernames.candidate(base, hint)
            if self._written(username, write, holder):
                self._next_free_number[key] = hint + 1
                return username
        taken_here: set[str] = set()
        for _ in range(_ATTEMPTS):
            username = usernames.next_free_username(base, self._names_starting(base) | taken_here)
            if self._written(username, write, holder):
                suffix = username[len(base):]
                self._next_free_number[key] = (int(suffix) if suffix else 1) + 1
                return username
            taken_here.add(username)
        raise errors.UsernameUnavailable(f"no free username for {base} after {_ATTEMPTS} attempts")

    def _written(self, username: str, write: Callable[[str], None], holder: str) -> bool:
        """Claim `username` for `holder` and write it: True once written, False if another account
        has it. The claim is given up when the directory definitely refused the write for another
        reason; not after a DirectoryFailure, which may come after the entry was written (a lost
        answer): giving it up then could let another server give the name out a second time."""
        claimed = claimed_form(ClaimKind.USERNAME, username)
        if self._claims.claim(ClaimKind.USERNAME, claimed, holder) != holder:
            return False
        try:
            write(username)
        except errors.UpnHashTaken:
            self._claims.release(ClaimKind.USERNAME, claimed, holder)
            raise  # the account itself is refused: no other name would be accepted
        except errors.ConstraintViolation:
            owner = self._owner(username)
            self._claims.release(ClaimKind.USERNAME, claimed, holder)
            if owner is None:
                raise
            # Written before the claims were kept (or by a Porth without them): the claim is its
            # owner's, so no other server gives it out either.
            self._claims.claim(ClaimKind.USERNAME, claimed, owner)
            return False
        except (errors.InvalidEntry, errors.EntryAlreadyExists, errors.EntryNotFound, errors.DirectoryMisconfigured):
            self._claims.release(ClaimKind.USERNAME, claimed, holder)
            raise
        return True

    def _names_starting(self, base: str) -> set[str]:
        found = self._ldap.search(self._tree.people, filters.starts_with(A["names"], base), [A["names"]],
                                  "looking up taken usernames")
        here = {name for attributes in found for name in values(attributes, A["names"])}
        return here | self._claims.claimed_starting(ClaimKind.USERNAME, claimed_form(ClaimKind.USERNAME, base))

    def _owner(self, name: str) -> str | None:
        """The id of the account in this directory that has `name`, if any."""
        found = self._ldap.search(self._tree.people, filters.equals(A["names"], name), [A["id"]],
                                  "checking a username")
        return next((owner for attributes in found if (owner := one(attributes, A["id"])) is not None), None)
