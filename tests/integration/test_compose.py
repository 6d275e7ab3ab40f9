"""docker-compose.yml describes a real deployment (issue 17 point 3): two directory providers,
PostgreSQL, two or more web nodes behind the reverse proxy sharing one set of keys, one scheduler,
secrets as files given only to the services that use them, and a health check on every service.

The file is read as Debian's docker-compose resolves it (`docker-compose config`, offline: no
Docker engine here), then parsed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from config.settings import SECRET_FILES
from entrypoints.cli.main import cli

ROOT = Path(__file__).parents[2]
PUBLIC_URL = "https://porth.example.org"
HAPROXY_CONFIG = ROOT / "scripts" / "image-haproxy.cfg"


def _compose(*args: str, **environment: str) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        pytest.fail("Debian's docker-compose is missing: `make test` installs it")
    env = {name: value for name, value in os.environ.items() if not name.startswith("PORTH_")}
    env.update(environment)
    return subprocess.run(["docker-compose", "-f", "docker-compose.yml", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def deployment() -> dict:
    resolved = _compose("config", PORTH_PUBLIC_URL=PUBLIC_URL)
    assert resolved.returncode == 0, resolved.stderr
    return yaml.safe_load(resolved.stdout)


def _running(deployment: dict, *command: str) -> dict[str, dict]:
    return {name: service for name, service in deployment["services"].items()
            if service.get("command", [])[:len(command)] == list(command)}


def _secrets_of(service: dict) -> set[str]:
    return {entry["source"] if isinstance(entry, dict) else entry for entry in service.get("secrets", [])}


def test_the_compose_file_is_valid_and_needs_the_public_address():
    assert _compose("config", "-q", PORTH_PUBLIC_URL=PUBLIC_URL).returncode == 0
    missing = _compose("config", "-q")
    assert missing.returncode != 0 and "set PORTH_PUBLIC_URL" in missing.stderr


def test_two_directory_providers_replicate_each_other(deployment):
    providers = _running(deployment, "porth", "directory", "run")
    assert len(providers) == 2
    environments = {name: service["environment"] for name, service in providers.items()}
    assert {env["PORTH_LDAP__EMBEDDED_ROLE"] for env in environments.values()} == {"provider"}
    assert len({env["PORTH_LDAP__EMBEDDED_SERVER_ID"] for env in environments.values()}) == 2
    for name, env in environments.items():
        (other,) = set(providers) - {name}
        assert env["PORTH_LDAP__REPLICATE_FROM"] == f"ldap://{other}:1389"
    volumes = [volume.split(":")[0] if isinstance(volume, str) else volume["source"]
               for service in providers.values() for volume in service["volumes"]]
    assert len(set(volumes)) == 2  # each its own data
    # Every web node and the scheduler fail over across both.
    for name in _running(deployment, "porth", "serve") | _running(deployment, "porth", "scheduler"):
        assert deployment["services"][name]["environment"]["PORTH_LDAP__URL"].split() == \
            [f"ldap://{provider}:1389" for provider in sorted(providers)]


def test_two_web_nodes_behind_the_proxy_read_the_same_secrets(deployment):
    web = _running(deployment, "porth", "serve")
    assert len(web) >= 2
    # The same environment and the same secret files on every node: the registry's whole set
    # (a portal sign-in begun on one node is then answered by any other).
    assert len({tuple(sorted(service["environment"].items())) for service in web.values()}) == 1
    assert len({frozenset(_secrets_of(service)) for service in web.values()}) == 1
    assert {secret.name for secret in SECRET_FILES} <= _secrets_of(next(iter(web.values())))
    assert {service["environment"]["PORTH_SECRETS__DIR"] for service in web.values()} == {"/run/secrets"}

    # The proxy sends to each of them, and only to those ready.
    proxy = deployment["services"]["proxy"]
    config = HAPROXY_CONFIG.read_text()
    assert any(volume.startswith(f"{HAPROXY_CONFIG}:") for volume in proxy["volumes"])
    servers = re.findall(r"^\s*server (\S+) (\S+):5000 check$", config, re.MULTILINE)
    assert sorted(servers) == [(name, name) for name in sorted(web)]
    assert re.search(r"^\s*option httpchk GET /readyz$", config, re.MULTILINE)
    assert {"published": 443, "target": 8443} in proxy["ports"]
    assert all("ports" not in service for service in web.values())  # reached only through the proxy


def test_exactly_one_scheduler(deployment):
    assert list(_running(deployment, "porth", "scheduler")) == ["scheduler"]


def test_no_secret_is_in_an_environment_value(deployment):
    allowed = {"PORTH_SECRETS__DIR", "PGPASSFILE", "POSTGRES_PASSWORD_FILE", "PORTH_CONFIG"}
    for name, service in deployment["services"].items():
        for variable, value in service.get("environment", {}).items():
            assert variable in allowed or not re.search(r"PASSWORD|SECRET|KEY|TOKEN", variable), (name, variable)
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", str(value)), (name, variable)  # no user:password@ in a URL


def test_each_service_is_given_only_the_secrets_it_uses(deployment):
    services = deployment["services"]
    signing = {"idp-signing.pem", "portal-sp.pem", "flask_secret_key", "persistent_id_key"}
    for name in _running(deployment, "porth", "directory", "run"):
        assert _secrets_of(services[name]) == {"ldap_bind_password", "upn_hash_key", "password_vault_key"}
    assert not _secrets_of(services["scheduler"]) & signing
    assert _secrets_of(services["postgres"]) == {"database_password"}
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/database_password"
    assert _secrets_of(services["proxy"]) == {"tls.pem"}


def test_porth_secrets_create_writes_every_file_the_compose_file_names(deployment, tmp_path):
    """What the deployment's operator runs once makes every secret compose mounts (but the LA's own
    TLS certificate), and they are files under ./secrets/."""
    folder = tmp_path / "secrets"
    result = CliRunner().invoke(cli, ["secrets", "create", str(folder), "--database-user", "porth"])
    assert result.exit_code == 0, result.output
    declared = deployment["secrets"]
    assert {Path(entry["file"]).parent for entry in declared.values()} == {ROOT / "secrets"}
    assert {Path(entry["file"]).name for entry in declared.values()} - {"tls.pem"} == \
        {path.name for path in folder.iterdir()}
    used = set().union(*(_secrets_of(service) for service in deployment["services"].values()))
    assert used == set(declared)


def test_every_service_has_a_health_check_and_restarts(deployment):
    for name, service in deployment["services"].items():
        assert service.get("healthcheck", {}).get("test"), name
        assert service.get("restart") == "unless-stopped", name
