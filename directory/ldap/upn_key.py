"""Which UPN-hash key made the directory's UPN hashes (issue 13, M-3, M-6).

Learners are matched across schools and runs by the HMAC of their UPN (directory.rules.upn);
run with another key (a restore without var/secrets), every learner's hash differs, none is
found, and provisioning would make a second account for each. So the directory records a
fingerprint of the key (the HMAC of a fixed label with it: it tells keys apart and reveals
nothing of the key or of any UPN) in one entry beside the accounts, cn=upn-hash-key under
ou=people, and every command compares its key with it before doing anything
(entrypoints.runtime.build_runtime). Part of DirectoryStore.
"""

from __future__ import annotations

import hashlib
import hmac

from directory import errors
from directory.ldap import filters
from directory.ldap.connections import Connections
from directory.ldap.mapping import (
    ACCOUNTS,
    ANY_ENTRY,
    OBJECT_CLASS,
    UPN_KEY_FINGERPRINT,
    UPN_KEY_RECORD_CLASS,
    A,
    DirectoryTree,
    one,
)

_LABEL = b"porth: fingerprint of the UPN-hash key, v1"


def key_fingerprint(key: bytes) -> str:
    """The key's fingerprint: 64 hex digits, the same for the same key, never the key."""
    return hmac.new(key, _LABEL, hashlib.sha256).hexdigest()


class UpnKeyRecord:
    _ldap: Connections
    tree: DirectoryTree

    def upn_key_fingerprint(self) -> str | None:
        """The fingerprint recorded in the directory, or None if none is."""
        try:
            found = self._ldap.search(self.tree.upn_key_record, ANY_ENTRY, [UPN_KEY_FINGERPRINT],
                                      "reading the UPN-hash key's fingerprint", base_only=True)
        except errors.EntryNotFound:
            return None
        return one(found[0], UPN_KEY_FINGERPRINT) if found else None

    def record_upn_key_fingerprint(self, fingerprint: str) -> str | None:
        """The fingerprint the directory holds, writing `fingerprint` if it holds none yet (so
        the first command run with a key records it, also over accounts made before Porth
        recorded keys), or if no account carries a UPN hash: a key made no hash there, so
        none can be wrong. None while there is no ou=people to keep it in (before initialise)."""
        recorded = self.upn_key_fingerprint()
        if recorded == fingerprint:
            return recorded
        if recorded is not None:
            if self._holds_upn_hashes():
                return recorded
            self._ldap.modify(self.tree.upn_key_record, "recording the UPN-hash key's fingerprint",
                              replace={UPN_KEY_FINGERPRINT: [fingerprint]})
            return fingerprint
        entry = {OBJECT_CLASS: [UPN_KEY_RECORD_CLASS], "cn": ["upn-hash-key"], UPN_KEY_FINGERPRINT: [fingerprint]}
        try:
            self._ldap.add(self.tree.upn_key_record, entry, "recording the UPN-hash key's fingerprint")
        except errors.EntryNotFound:  # no ou=people yet
            return None
        except errors.EntryAlreadyExists:  # another process recorded one first: that one holds
            return self.upn_key_fingerprint()
        return fingerprint

    def _holds_upn_hashes(self) -> bool:
        """Whether any account carries a UPN hash (the first page of the search answers it)."""
        holders = self._ldap.paged(self.tree.people, filters.all_of(ACCOUNTS, filters.present(A["upn_hash"])),
                                   [A["id"]], "looking for UPN hashes")
        return next(iter(holders), None) is not None  # the rest of the pages are never asked for
