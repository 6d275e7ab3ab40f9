"""`porth db upgrade` run by several processes at once (web nodes and the scheduler starting
together, issue 17 point 4): every one succeeds and the schema is migrated once."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect

from operational.db import Database
from tests.conftest import ROOT, porth_env
from tests.integration.test_operational_store import _postgres_database

PROCESSES = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'porth.sqlite3'}"
    else:
        yield from _postgres_database()


def test_concurrent_upgrades_of_an_empty_database_all_succeed(empty_database_url, tmp_path):
    env = porth_env(tmp_path / "var", PORTH_DATABASE__URL=empty_database_url)
    upgrades = [subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "db", "upgrade"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(PROCESSES)]
    results = [(process.wait(timeout=120), *process.communicate()) for process in upgrades]
    database = Database(empty_database_url)
    try:
        head = database.head_revision()
        for status, out, err in results:
            assert status == 0, err
            assert out.strip() == f"operational database at revision {head}"
        assert database.current_revision() == head
        with database.engine.connect() as connection:
            assert {"audit_events", "workflow_runs", "alembic_version"} <= set(inspect(connection).get_table_names())
    finally:
        database.dispose()
