"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

import pytest


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


# -- A whole Porth as a user runs it: `porth load-demo`, then `porth serve` ------
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).parents[1]


def porth_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTH_")}
    env.update(PORTH_VAR_DIR=str(var_dir), **extra)
    return env


def run_porth(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def wait_until_answering(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Poll until the server answers (a readiness check, bounded, not a sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"porth serve exited with {process.returncode}: {output}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@dataclass
class DemoServer:
    url: str
    env: dict[str, str]
    var_dir: Path
    process: subprocess.Popen
    load_outputs: list[str]
    services_dir: Path

    def runtime(self):
        """A runtime on the demo's own directory and database, for a test to look behind the pages."""
        from config.settings import load_settings, with_secrets
        from entrypoints.runtime import build_runtime

        settings = with_secrets(load_settings(var_dir=self.var_dir,
                                              ldap={"embedded_port": int(self.env["PORTH_LDAP__EMBEDDED_PORT"])}))
        return build_runtime(settings)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory) -> DemoServer:
    var_dir = tmp_path_factory.mktemp("demo") / "var"
    port = free_port()
    services_dir = var_dir.parent / "services"
    services_dir.mkdir()
    env = porth_env(var_dir, PORTH_LDAP__EMBEDDED_PORT=str(free_port()), PORTH_LDAP__EMBEDDED_NO_SYNC="true",
                    PORTH_IDP__BASE_URL=f"http://127.0.0.1:{port}", PORTH_IDP__SERVICES_DIR=str(services_dir),
                    PORTH_WEB__SCHOOL_COUNTS_SECONDS="1",  # the home page's counts: refreshed each second
                    # Issue 18: the demo's champions sign in with a password alone here; the
                    # second-factor browser tests start a server of their own that asks for one.
                    PORTH_MFA__REQUIRED_ROLES="[]")
    outputs = []
    for _ in range(2):  # the second run must find everything already there
        loaded = run_porth(["load-demo"], env)
        assert loaded.returncode == 0, loaded.stderr
        outputs.append(loaded.stdout)
    # A file, not a pipe: nobody reads the access log while tests run, and a full pipe would block the server.
    log = (var_dir.parent / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    server = DemoServer(f"http://127.0.0.1:{port}", env, var_dir, process, outputs, services_dir)
    try:
        wait_until_answering(server.url + "/healthz", process)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            process.wait(timeout=30)
