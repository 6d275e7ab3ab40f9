"""Engine creation and migrations of the operational store."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker


class OperationalStoreError(Exception):
    """The operational database cannot be used; str() is one line for an operator."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web workers read while a job writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts the database and skips the fsync per commit
    # (a power cut may lose the last commits); sign-ins write a request ID each.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One engine and a session factory for the operational store."""

    def __init__(self, url: str, echo: bool = False):
        self.url = url
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A server's connections can go stale (restarts, idle timeouts): check each before use.
        # SQLite is a file opened in process: nothing to check, and sign-ins use it on every request.
        self.engine: Engine = create_engine(url, echo=echo, pool_pre_ping=not url.startswith("sqlite"), future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    @staticmethod
    def serialise(session: Session, key: str, table: str) -> None:
        """Within the session's transaction, wait for and hold a lock named `key`, so that a
        read-check-write (a quota) cannot interleave with another worker's. PostgreSQL: an
        advisory transaction lock. SQLite: its one write lock, taken by a write that changes
        nothing (pysqlite starts the transaction only at the first write, after the reads)."""
        from sqlalchemy import text

        if session.bind.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        elif session.bind.dialect.name == "sqlite":
            session.execute(text(f"UPDATE {table} SET id = id WHERE 0"))

    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(files("directory.operational").joinpath("migrations")))
        return config

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        config = self._alembic_config()
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise OperationalStoreError(
                f"cannot use the operational database {_redacted(self.url)}: {str(exc.orig).strip().splitlines()[0]}"
            ) from None
        except SQLAlchemyError as exc:
            raise OperationalStoreError(f"migrating {_redacted(self.url)} failed: {exc}") from None

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def dispose(self) -> None:
        self.engine.dispose()
