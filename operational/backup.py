"""A consistent copy of the operational database, and putting one back.

SQLite: the sqlite3 online backup API, which copies the database page by page inside one read
transaction while the web and the scheduler go on writing (in WAL mode a writer does not restart
it), so the copy is the database as of one moment, committed writes in the WAL included; a file
copy of porth.sqlite3 would miss the WAL or catch a half-written page.

PostgreSQL: pg_dump in its custom format (one snapshot, consistent while in use; pg_restore
puts it back, tables, sequences and the alembic revision alike). A dump of the tables through
SQLAlchemy would have to redo what pg_dump does (sequences, constraints, one snapshot) and is not
what a PostgreSQL administrator restores with. pg_dump and pg_restore come with Debian's
postgresql-client; the password goes in PGPASSWORD, never on a command line others can read.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from operational.db import OperationalStoreError


def dump_file_name(database_url: str) -> str:
    """The name of the dump in a backup: what kind of file it is shows in its name."""
    return "operational.sqlite3" if _is_sqlite(database_url) else "operational.pgdump"


def dump_database(database_url: str, target: Path) -> None:
    """Write a consistent copy of the database to `target`."""
    url = make_url(database_url)
    if _is_sqlite(database_url):
        source_path = Path(url.database or "")
        if not source_path.is_file():
            raise OperationalStoreError(f"there is no operational database at {source_path} to back up "
                                        "(`porth db upgrade` creates it)")
        _copy_sqlite(source_path, target)
        return
    _run_pg(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"], url)


def database_holds_data(database_url: str) -> str | None:
    """What a restore would replace: a line naming the database when it has tables, else None."""
    url = make_url(database_url)
    if _is_sqlite(database_url):
        path = Path(url.database or "")
        return f"the operational database {path}" if path.exists() else None
    engine = create_engine(database_url)
    try:
        tables = inspect(engine).get_table_names()
    except SQLAlchemyError as exc:
        raise OperationalStoreError(f"cannot reach the operational database "
                                    f"{url.render_as_string(hide_password=True)}: {exc.__class__.__name__}") from None
    finally:
        engine.dispose()
    return f"the operational database {url.database} on {url.host} ({len(tables)} tables)" if tables else None


def remove_database(database_url: str) -> None:
    """Make room for a restore (the caller has said what it replaces): SQLite's file and its WAL;
    a PostgreSQL database is emptied by pg_restore --clean itself."""
    if _is_sqlite(database_url):
        path = Path(make_url(database_url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def load_database(database_url: str, dump: Path) -> None:
    """Put a dump made by dump_database back into the database the settings name."""
    url = make_url(database_url)
    if _is_sqlite(database_url):
        target = Path(url.database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_sqlite(dump, target)
        target.chmod(0o600)
        return
    _run_pg(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
             f"--dbname={url.database}", str(dump)], url, with_database=False)


def _copy_sqlite(source_path: Path, target: Path) -> None:
    with closing(sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)) as source, \
            closing(sqlite3.connect(target)) as copy:
        try:
            source.backup(copy)
        except sqlite3.Error as exc:  # "database or disk is full", a damaged file
            raise OperationalStoreError(f"cannot copy the SQLite database {source_path} to {target}: {exc}") from None


def _is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def _run_pg(command: list[str], url: URL, with_database: bool = True) -> None:
    program = shutil.which(command[0])
    if program is None:
        raise OperationalStoreError(f"{command[0]} is not installed: install Debian's postgresql-client")
    environment = {**os.environ, "PGHOST": url.host or "localhost", "PGPORT": str(url.port or 5432),
                   "PGUSER": url.username or "", "PGPASSWORD": url.password or ""}
    if with_database:
        environment["PGDATABASE"] = url.database or ""
    result = subprocess.run([program, *command[1:]], capture_output=True, text=True, env=environment,
                            timeout=3600, check=False)  # its exit status is read below
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise OperationalStoreError(f"{command[0]} failed: {lines[-1] if lines else result.returncode}")
