"""What a running Porth process holds: settings, the directory store, the operational DB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from config.settings import Settings, secret_value
from directory.slapd import PrivateSlapd, private_slapd_for
from directory.store import DirectoryStore, store_for
from operational.db import Database


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


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(
        settings=settings,
        store=store_for(settings),
        db=Database(settings.database_url, echo=settings.database.echo),
    )


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
