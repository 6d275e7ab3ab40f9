"""The production compose file is valid for Debian's docker-compose (offline check)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SECRETS = {
    "PORTH_LDAP_BIND_PASSWORD": "bind-password",
    "PORTH_UPN_HASH_KEY": "u" * 48,
    "PORTH_PASSWORD_VAULT_KEY": "v" * 43 + "=",
    "PORTH_FLASK_SECRET_KEY": "f" * 48,
    "PORTH_POSTGRES_PASSWORD": "pg-password",
    "PORTH_PERSISTENT_ID_KEY": "p" * 48,
    "PORTH_PUBLIC_URL": "https://porth.example.org",
}


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        pytest.fail("Debian's docker-compose is missing: `make test` installs it")
    return subprocess.run(["docker-compose", "-f", "docker-compose.yml", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _env(**secrets: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTH_")}
    env.update(secrets)
    return env


def test_compose_file_is_valid():
    result = _compose("config", "-q", env=_env(**SECRETS))
    assert result.returncode == 0, result.stderr


def test_compose_describes_directory_database_web_and_one_scheduler():
    result = _compose("config", "--services", env=_env(**SECRETS))
    assert sorted(result.stdout.split()) == ["directory", "postgres", "scheduler", "web"]


def test_compose_refuses_to_run_without_its_secrets():
    missing = dict(SECRETS)
    del missing["PORTH_UPN_HASH_KEY"]
    result = _compose("config", "-q", env=_env(**missing))
    assert result.returncode != 0
    assert "set PORTH_UPN_HASH_KEY" in result.stderr
