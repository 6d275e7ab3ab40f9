"""The directory's own structure: the base, the containers under it and the password policy
(initialise), and whether the directory is usable at all (check). Part of DirectoryStore."""

from __future__ import annotations

from directory import errors
from directory.ldap.config import DirectoryConfig
from directory.ldap.connections import Connections
from directory.ldap.mapping import (
    ANY_ENTRY,
    OBJECT_CLASS,
    DirectoryTree,
    lockout_attributes,
    one,
    password_policy_entry,
)
from directory.rules import passwords


class Structure:
    _ldap: Connections
    tree: DirectoryTree
    config: DirectoryConfig

    def check(self) -> None:
        """Bind and read the base entry: raises one clear DirectoryError if not usable."""
        try:
            found = self._ldap.search(self.tree.base, ANY_ENTRY, [OBJECT_CLASS], "checking the directory",
                                      base_only=True)
        except errors.EntryNotFound:
            found = []
        if not found:
            raise errors.DirectoryMisconfigured(
                f"the directory at {self.config.url} has no base entry {self.config.base_dn} "
                "(check PORTH_LDAP__BASE_DN)"
            )

    def initialise(self) -> bool:
        """Create the DIT (base, ou=people/schools/organisations/groups/policies, the default
        password policy) where missing, and bring the policy's lockout in line with the
        settings (S-3, config.Lockout). True if anything was added or changed."""
        wanted = [*self.tree.skeleton(),
                  (self.tree.default_policy, password_policy_entry(self.config.lockout, passwords.MIN_LENGTH))]
        changed = False
        for dn, attributes in wanted:
            try:
                self._ldap.add(dn, attributes, f"creating {dn}")
                changed = True
            except errors.EntryAlreadyExists:
                pass
        return self._align_lockout() or changed

    def _align_lockout(self) -> bool:
        wanted = lockout_attributes(self.config.lockout)
        [policy] = self._ldap.search(self.tree.default_policy, ANY_ENTRY, list(wanted),
                                     "reading the password policy", base_only=True)
        differing = {name: [value] for name, value in wanted.items() if one(policy, name) != value}
        if differing:
            self._ldap.modify(self.tree.default_policy, "bringing the password policy's lockout in line",
                              replace=differing)
        return bool(differing)
