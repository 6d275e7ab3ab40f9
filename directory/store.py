"""The directory store: Porth's only door to LDAP for everything but sign-in.

DirectoryStore assembles the per-concern parts of the LDAP adapter
(directory/ldap/, whose __init__ lists them): each method lives in the module
named for what it deals with, and this module only puts them together and
names what callers import. The IdP's password checks are
directory.ldap.sign_in.SignInDirectory.
"""

from __future__ import annotations

from config.settings import Settings, secret_value
from directory.claims import DirectoryClaims, NullClaims
from directory.ldap.accounts import Accounts
from directory.ldap.config import DirectoryConfig, Lockout, config_for
from directory.ldap.connections import Connections
from directory.ldap.groups import Groups
from directory.ldap.mapping import LIST_FIELDS, PLANNING_FIELDS, DirectoryTree
from directory.ldap.passwords import PasswordCopies
from directory.ldap.queries import AccountPage, AccountQuery
from directory.ldap.schools import Schools
from directory.ldap.structure import Structure
from directory.ldap.upn_key import UpnKeyRecord
from directory.ldap.usernames import UsernameClaims
from directory.rules.vault import PasswordVault

__all__ = [
    "LIST_FIELDS",
    "PLANNING_FIELDS",
    "AccountPage",
    "AccountQuery",
    "DirectoryConfig",
    "DirectoryStore",
    "Lockout",
    "store_for",
]


class DirectoryStore(Structure, Schools, Groups, Accounts, PasswordCopies, UpnKeyRecord):
    def __init__(self, config: DirectoryConfig, vault: PasswordVault, claims: DirectoryClaims | None = None):
        """`claims`: where usernames and UPN hashes are claimed before any directory server is
        written with them (directory/claims.py); None: this server's unique overlay alone."""
        self.config = config
        self.vault = vault
        self.tree = DirectoryTree(config.base_dn)
        self._ldap = Connections(config)
        self._claims: DirectoryClaims = claims or NullClaims()
        self._usernames = UsernameClaims(self._ldap, self.tree, self._claims)

    @property
    def people_dn(self) -> str:
        return self.tree.people

    def close(self) -> None:
        self._ldap.close()


def store_for(settings: Settings, claims: DirectoryClaims | None = None) -> DirectoryStore:
    """The store described by Porth's settings (with their secrets filled in), claiming
    usernames and UPN hashes in `claims` (entrypoints.runtime.build_runtime decides)."""
    vault_key = secret_value(settings.secrets.password_vault_key, "secrets.password_vault_key")
    return DirectoryStore(config_for(settings), PasswordVault(vault_key), claims)
