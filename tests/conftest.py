"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

import pytest

UTC = timezone.utc


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_porth_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the embedded defaults whatever the developer's shell exports."""
    for name in list(os.environ):
        if name.startswith("PORTH_"):
            monkeypatch.delenv(name)
