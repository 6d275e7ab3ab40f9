"""Engine creation and migrations of the operational store."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import ClauseElement, Dialect, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.compiler import SQLCompiler

T = TypeVar("T")
log = logging.getLogger("porth.database")

MIGRATION_LOCK = "porth db upgrade"  # the advisory lock's name (PostgreSQL)


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


# A PostgreSQL server that does not answer (a host gone, packets dropped) fails a connection in
# this many seconds instead of the operating system's minutes, so a request or the readiness check
# says so while the load balancer is still asking. The URL's own `?connect_timeout=` wins.
CONNECT_TIMEOUT_SECONDS = 5


def _engine(url: str, **options) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        options.setdefault("connect_args", {}).setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    engine = create_engine(url, future=True, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _redacted(url: str) -> str:
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
        self.engine: Engine = _engine(url, echo=echo, pool_pre_ping=not url.startswith("sqlite"))
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    @staticmethod
    def serialise(session: Session, key: str, table: str) -> None:
        """Within the session's transaction, wait for and hold a lock named `key`, so that a
        read-check-write (a quota) cannot interleave with another worker's. PostgreSQL: an
        advisory transaction lock. SQLite: its one write lock, taken by a write that changes
        nothing (pysqlite starts the transaction only at the first write, after the reads)."""
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        elif dialect == "sqlite":
            # `table` is one of Porth's own table names (a __tablename__), never outside input.
            session.execute(text(f"UPDATE {table} SET id = id WHERE 0"))  # noqa: S608 - see above

    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(files("operational").joinpath("migrations")))
        return config

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        config = self._alembic_config()
        try:
            with self._migration_lock(), self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Held to the end of this transaction, which is alembic's: a second process waits
                    # here, then finds the schema at head and does nothing.
                    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                       {"key": MIGRATION_LOCK})
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise OperationalStoreError(
                f"cannot use the operational database {_redacted(self.url)}: {str(exc.orig).strip().splitlines()[0]}"
            ) from None
        except SQLAlchemyError as exc:
            raise OperationalStoreError(f"migrating {_redacted(self.url)} failed: {exc}") from None

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Several processes starting at once (web nodes, the scheduler) each run `porth db
        upgrade`: without a lock two of them created the same tables and one failed (issue 17:
        2 of 3 trials). PostgreSQL takes an advisory lock in migrate(); a SQLite file is locked
        with flock on a file beside it (SQLite's own write lock is taken only at the first write,
        after alembic has read the revision)."""
        path = self._sqlite_path()
        if path is None:
            yield
            return
        with path.with_name(path.name + ".migrating").open("a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            yield

    def _sqlite_path(self) -> Path | None:
        if not self.url.startswith("sqlite"):
            return None
        path = self.url.split("///", 1)[-1]
        return Path(path) if path and path != ":memory:" and self.url != "sqlite://" else None

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def dispose(self) -> None:
        self.engine.dispose()


class DirectStatement:
    """A Core statement compiled once for one engine, run on the database driver's own
    cursor; its parameters and result columns go through the columns' SQLAlchemy types
    (UtcDateTime and the like), so values read and written match the ORM's exactly."""

    def __init__(self, statement: ClauseElement, dialect: Dialect):
        compiled = statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):  # DDL compiles otherwise, and is never run this way
            raise TypeError(f"not a statement to run directly: {statement}")
        self.sql = compiled.string
        self._order = list(compiled.positiontup or ()) if compiled.positional else None
        self._binds = {name: parameter.type.dialect_impl(dialect).bind_processor(dialect)
                       for name, parameter in compiled.binds.items()}
        columns = getattr(statement, "selected_columns", None) or ()
        self._results = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]

    def execute(self, cursor, values: dict[str, Any]) -> None:
        converted = {name: (process(value) if (process := self._binds.get(name)) else value)
                     for name, value in values.items()}
        cursor.execute(self.sql, tuple(converted[name] for name in self._order) if self._order is not None
                       else converted)

    def rows(self, cursor) -> list[tuple[Any, ...]]:
        processors = self._results
        return [tuple(process(value) if process else value for process, value in zip(processors, row, strict=True))
                for row in cursor.fetchall()]


class KeptConnections:
    """A database connection per thread, kept open between requests, for the few small
    single statements every sign-in runs (the replay ledger, the failure counters). Checking a
    connection out of the pool for each, PostgreSQL's liveness ping before it, and
    SQLAlchemy's execution machinery cost several times the statements themselves
    (bench/login_profile.py). A connection the server dropped is replaced and the work
    run once more; driver errors come out as SQLAlchemy's exceptions (IntegrityError...)."""

    def __init__(self, db: Database):
        # Outside the engine's pool: held connections must not starve it, however many
        # threads a web server runs. (An in-memory SQLite database exists only in its one pool.)
        # Each statement is its own transaction (autocommit): on PostgreSQL a separate BEGIN
        # and COMMIT were two more round trips, and server work, per statement.
        self.engine = db.engine if db.url in ("sqlite://", "sqlite:///:memory:") else _engine(
            db.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._driver_error = self.engine.dialect.loaded_dbapi.Error
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    def prepare(self, statement: ClauseElement) -> DirectStatement:
        return DirectStatement(statement, self.engine.dialect)

    def run(self, work: Callable[[Any], T]) -> T:
        """`work(cursor)`, each of its statements committed as it runs (keep to statements
        that stand alone); a driver error is passed on as SQLAlchemy's."""
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._local.connection = self.engine.raw_connection()
                with self._lock:
                    self._opened.append(connection)
            cursor = None
            try:
                cursor = connection.cursor()
                result = work(cursor)
                connection.commit()
                return result
            except self._driver_error as exc:
                lost = self.engine.dialect.is_disconnect(exc, connection, cursor)
                self._roll_back(connection, lost)
                if lost and attempt == 1:
                    # Handled: one line, not a traceback (issue 17 point 5: a restart of the
                    # database server is news for an operator, not an error of Porth's).
                    log.warning("the operational database dropped a connection (%s); reconnecting",
                                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
                    continue
                raise DBAPIError.instance(None, None, exc, self._driver_error,
                                          ismulti=False, connection_invalidated=lost) from None
            except BaseException:
                self._roll_back(connection, False)
                raise
            finally:
                if cursor is not None:
                    with contextlib.suppress(self._driver_error):
                        cursor.close()
        raise AssertionError("unreachable")

    def close(self) -> None:
        """At shutdown: every thread's connection (a database being dropped must have none)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            with contextlib.suppress(self._driver_error):
                connection.close()

    def _roll_back(self, connection, lost: bool) -> None:
        if not lost:
            try:
                connection.rollback()
                return
            except self._driver_error:
                pass
        self._local.connection = None
        with self._lock:
            self._opened = [c for c in self._opened if c is not connection]
        # invalidate(), not close(): closing hands a dead connection back to the pool, which
        # rolls it back, fails, and logs that failure as an ERROR with two tracebacks.
        with contextlib.suppress(self._driver_error):
            connection.invalidate()
