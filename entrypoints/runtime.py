"""What a running Porth process holds: settings, the directory store, the operational DB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from config.settings import ConfigError, Settings, secret_value
from directory.claims import DirectoryClaims, GuardedClaims
from directory.errors import DirectoryUnavailable
from directory.ldap.upn_key import key_fingerprint
from directory.slapd import PrivateSlapd, private_slapd_for
from directory.store import DirectoryStore, store_for
from operational.db import Database, OperationalStoreError
from operational.directory_claims import DatabaseClaims


@dataclass
class Runtime:
    settings: Settings
    store: DirectoryStore
    db: Database

    @property
    def upn_hash_key(self) -> bytes:
        return secret_value(self.settings.secrets.upn_hash_key, "secrets.upn_hash_key").encode("utf-8")

    def close(self) -> None:
        self.store.close()
        self.db.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc_info) -> None:
        self.close()


class UpnKeyMismatch(ConfigError):
    """The UPN-hash key is not the one the directory's UPN hashes were made with."""


def build_runtime(settings: Settings) -> Runtime:
    """What every command and the web workers run with; stops with UpnKeyMismatch, before
    anything is read or written, when the UPN-hash key is not the directory's."""
    db = Database(settings.database_url, echo=settings.database.echo)
    runtime = Runtime(settings=settings, store=store_for(settings, claims_for(settings, db)), db=db)
    try:
        check_upn_key(runtime)
    except BaseException:
        runtime.close()
        raise
    return runtime


def claims_for(settings: Settings, db: Database) -> DirectoryClaims | None:
    """Where usernames and UPN hashes are claimed before the directory is written (issue 17
    point 2): the operational database when the settings turn claims on (ClaimsSettings), its
    failures coming out as ClaimsUnavailable (a directory failure: the run or request fails)."""
    if not settings.claims_enabled:
        return None
    return GuardedClaims(DatabaseClaims(db), (OperationalStoreError,))


def check_upn_key(runtime: Runtime) -> None:
    """Compare the UPN-hash key with the fingerprint the directory records, recording it
    if the directory has none yet (directory/ldap/upn_key.py).

    With another key no learner would be recognised: every one would get a second account
    (issue 13: 151 duplicates from a restore without var/secrets). A directory that cannot
    be reached is not checked here: nothing can be written to it either, and the command's
    first read reports it (`porth directory status` says so in one line)."""
    fingerprint = key_fingerprint(runtime.upn_hash_key)
    try:
        recorded = runtime.store.record_upn_key_fingerprint(fingerprint)
    except DirectoryUnavailable:
        return
    if recorded is not None and recorded != fingerprint:
        raise UpnKeyMismatch(
            f"the UPN-hash key in {runtime.settings.secrets_dir / 'upn_hash_key'} (or PORTH_SECRETS__UPN_HASH_KEY) "
            f"is not the key this directory's accounts were made with (fingerprint {fingerprint[:16]}, "
            f"expected {recorded[:16]}): restore var/secrets from the backup; nothing was changed")


@contextmanager
def directory_running(settings: Settings, keep_running: bool = False) -> Iterator[PrivateSlapd | None]:
    """Make sure the directory answers for the duration of a command.

    With the embedded default this starts the private slapd under var/ if it
    is not running already, and stops it afterwards only if it started it
    here (unless keep_running). With an external directory it does nothing.
    """
    if not settings.ldap.embedded:
        yield None
        return
    slapd = private_slapd_for(settings)
    started = slapd.start()
    try:
        yield slapd
    finally:
        if started and not keep_running:
            slapd.stop()
