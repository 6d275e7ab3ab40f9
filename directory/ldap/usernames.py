"""Claiming usernames (SPEC A-2, A-5), safely between processes.

``uid`` holds an account's current username and every former one (its aliases);
``porthUsername`` says which is current. The directory's unique overlay on ``uid``
(serialised, config/ldap/slapd-config.ldif.in) makes a name, once used, never given
to anyone else, and makes allocation safe between processes: the first free
candidate is written and the server refuses it if another process was faster.
Which names are candidates is a pure rule (directory/rules/usernames.py).
"""

from __future__ import annotations

from collections.abc import Callable

from directory import errors
from directory.ldap import filters
from directory.ldap.connections import Connections
from directory.ldap.mapping import A, DirectoryTree, values
from directory.rules import usernames

_ATTEMPTS = 25


class UsernameClaims:
    def __init__(self, connections: Connections, tree: DirectoryTree):
        self._ldap = connections
        self._tree = tree
        self._next_free_number: dict[str, int] = {}  # username base (casefolded) -> number to try next

    def claim(self, base: str, write: Callable[[str], None]) -> str:
        """Write with the first free name for `base`; if another process claimed
        it first (the unique overlay refuses the write), take the next one. A refusal
        that is not about the name (`write` raises UpnHashTaken, or the name is still
        free) is raised as it is, never retried under another name.

        Names are never freed (A-2), so once this store has given `base`+n, every
        number up to n is taken and n+1 is the first free one unless another
        process took it: that name is tried first, and only if the overlay
        refuses it are all the base's names read (with thousands of Joneses that
        read grows with the directory and slowed a national load, bench/README.md).
        """
        key = base.casefold()
        hint = self._next_free_number.get(key)
        if hint is not None:
            username = usernames.candidate(base, hint)
            try:
                write(username)
            except errors.UpnHashTaken:
                raise  # the account itself is refused: no other name would be accepted
            except errors.ConstraintViolation:
                if not self._taken(username):
                    raise
            else:
                self._next_free_number[key] = hint + 1
                return username
        for _ in range(_ATTEMPTS):
            username = usernames.next_free_username(base, self._names_starting(base))
            try:
                write(username)
            except errors.UpnHashTaken:
                raise
            except errors.ConstraintViolation:
                if self._taken(username):
                    continue
                raise
            suffix = username[len(base):]
            self._next_free_number[key] = (int(suffix) if suffix else 1) + 1
            return username
        raise errors.UsernameUnavailable(f"no free username for {base} after {_ATTEMPTS} attempts")

    def _names_starting(self, base: str) -> set[str]:
        found = self._ldap.search(self._tree.people, filters.starts_with(A["names"], base), [A["names"]],
                                  "looking up taken usernames")
        return {name for attributes in found for name in values(attributes, A["names"])}

    def _taken(self, name: str) -> bool:
        return bool(self._ldap.search(self._tree.people, filters.equals(A["names"], name), [A["id"]],
                                      "checking a username"))
