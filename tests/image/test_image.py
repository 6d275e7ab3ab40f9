"""The image builds and runs (issue 17 point 3): `make image-test`.

The image is built with scripts/image-build (buildah; cached layers after the first build), then
its processes are started as a deployment would: one `porth directory run`, two `porth serve`
nodes on the same directory and PostgreSQL database, every process reading the one set of
secrets that `porth secrets create` wrote, mounted read-only at /run/secrets as compose mounts
its secrets. Where this machine allows containers they run in podman containers; where it does
not (it refuses a container its cgroups and rlimits) they run in a chroot of the image's own file
system, as the image's user, with the image's environment and working folder.

Marked slow: about a minute with cached layers, several the first time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, free_port
from tests.integration.test_operational_store import _postgres_database

pytestmark = pytest.mark.slow

IMAGE = os.environ.get("PORTH_IMAGE", "localhost/porth:latest")
PORTH_USER = "10001:10001"
SECRETS_IN_IMAGE = "/run/secrets"  # where the operator's `porth secrets create` writes the set
SERVICE_SECRETS = "/run/service-secrets"  # each service's own, what compose would mount at /run/secrets
HAPROXY_CONFIG = ROOT / "scripts" / "image-haproxy.cfg"
BUILD_TIMEOUT = 1800  # the first build downloads the Debian packages and Porth's wheels


def _podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def image() -> str:
    if not all(shutil.which(tool) for tool in ("buildah", "podman", "haproxy")):
        pytest.fail("buildah, podman or haproxy is missing: run `make image-debs`")
    built = subprocess.run([str(ROOT / "scripts" / "image-build"), IMAGE], capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT, check=False)
    assert built.returncode == 0, f"the image did not build:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    return IMAGE


@dataclass
class ImageRoot:
    """How this test runs the image's processes: podman containers where the machine allows them,
    else a chroot of the image's root file system (a podman container's, mounted) with what the
    container runtime would give: the image's user, environment and working folder, and the
    folders bound in."""

    image: str
    path: Path  # the mounted root file system
    env: dict[str, str]
    user: str
    workdir: str
    containers: bool
    binds: dict[str, tuple[Path, bool]] = field(default_factory=dict)  # target: (source, read-only)
    mounts: list[Path] = field(default_factory=list)  # what the chroot mounted, to undo

    def command(self, args: list[str], env: dict[str, str], as_root: bool = False) -> list[str]:
        """`args` run as the image's user (or root), with only the image's environment and `env`."""
        user = "0:0" if as_root else self.user
        if self.containers:
            volumes = [f"--volume={source}:{target}{':ro' if read_only else ''}"
                       for target, (source, read_only) in self.binds.items()]
            variables = [f"--env={name}={value}" for name, value in env.items()]
            return ["podman", "run", "--rm", "--network=host", f"--user={user}", *volumes, *variables,
                    self.image, *args]
        pairs = [f"{name}={value}" for name, value in {**self.env, **env}.items()]
        return ["chroot", f"--userspec={user}", str(self.path), "env", "-i", "-C", self.workdir, *pairs, *args]

    def bind(self, source: Path, target: str) -> None:
        self.binds[target] = (source, False)
        if not self.containers:
            inside = self.path / target.lstrip("/")
            inside.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", str(source), str(inside)], check=True)
            self.mounts.append(inside)

    def make_read_only(self, target: str) -> None:
        """From now on the processes see `target` read-only, as compose mounts its secrets."""
        self.binds[target] = (self.binds[target][0], True)
        if not self.containers:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(self.path / target.lstrip("/"))], check=True)


def _containers_refused(image: str) -> str | None:
    """Why podman cannot run a container here (None if it can)."""
    tried = _podman("run", "--rm", "--network=host", image, "true", timeout=120)
    return None if tried.returncode == 0 else (tried.stderr.strip().splitlines() or ["?"])[-1]


@pytest.fixture(scope="module")
def image_root(image: str) -> Iterator[ImageRoot]:
    refused = _containers_refused(image)
    if refused is not None:
        print(f"no containers here ({refused}): the image's processes run in a chroot of it")  # noqa: T201
    created = _podman("create", image)
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    mounts: list[Path] = []
    try:
        mounted = _podman("mount", container)
        assert mounted.returncode == 0, mounted.stderr
        config = json.loads(_podman("image", "inspect", image).stdout)[0]["Config"]
        root = ImageRoot(image=image, path=Path(mounted.stdout.strip()),
                         env=dict(item.split("=", 1) for item in config.get("Env", [])),
                         user=config.get("User", "0:0"), workdir=config.get("WorkingDir") or "/",
                         containers=refused is None, mounts=mounts)
        if not root.containers:
            subprocess.run(["mount", "-t", "proc", "proc", str(root.path / "proc")], check=True)
            mounts.append(root.path / "proc")
        yield root
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", "--lazy", str(mount)], check=False)
        _podman("umount", container)
        _podman("rm", "--force", container)


def test_the_image_runs_as_its_own_user_without_the_build_tools(image_root):
    """Multi-stage: the compiler and headers stayed in the builder, python-ldap (compiled there)
    works in the slim runtime, the processes run as porth (10001), and nothing of the build's pip
    settings (the CA bundle, an index) reached the image."""
    assert image_root.user == PORTH_USER
    for built_only in ("usr/bin/gcc", "usr/include/ldap.h", "usr/include/python3.11/Python.h"):
        assert not (image_root.path / built_only).exists(), f"/{built_only} is in the runtime image"
    assert not any(name.startswith("PIP_") for name in image_root.env)
    assert not (image_root.path / "run/secrets/pip-ca").exists()
    who = subprocess.run(image_root.command(
        ["python3", "-c", "import os, ldap, lxml, xmlsec, psycopg; print(os.getuid(), os.getgid(), ldap.__version__)"],
        {}), capture_output=True, text=True, timeout=60, check=False)
    assert who.returncode == 0, who.stderr
    uid, gid, _version = who.stdout.split()
    assert (uid, gid) == ("10001", "10001")


@dataclass
class Started:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-3000:]


def _start(root: ImageRoot, name: str, args: list[str], env: dict[str, str], logs: Path) -> Started:
    log = logs / f"{name}.log"
    with log.open("w") as handle:
        process = subprocess.Popen(root.command(args, env), stdout=handle, stderr=subprocess.STDOUT)
    return Started(name, process, log)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")
    except OSError:
        return 0, ""


def _poll(what: str, check, started: list[Started], timeout: float = 90) -> None:
    """Wait (bounded) until check() holds; fail early if a process died, with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for one in started:
            if one.process.poll() is not None:
                pytest.fail(f"{one.name} exited with {one.process.returncode} while waiting for {what}\n{one.tail()}")
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s\n" + "\n".join(one.tail() for one in started))


def _certificates(metadata: str) -> set[str]:
    return {re.sub(r"\s+", "", found) for found in re.findall(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>",
                                                            metadata)}


def _pem_certificate(pem: Path) -> str:
    body = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem.read_text(), re.DOTALL)
    assert body is not None
    return re.sub(r"\s+", "", body.group(1))


def _proxy(tmp_path: Path, web_ports: list[int], logs: Path) -> tuple[Started, int]:
    """HAProxy on this machine with the compose deployment's own configuration (scripts/image-haproxy.cfg),
    its addresses changed to this test's: TLS on a free port, the two web nodes as its servers."""
    from idp.signing import generate_signing_pair

    tls = tmp_path / "tls.pem"
    generate_signing_pair(tls, "porth.example.org")  # a key and a self-signed certificate, one PEM
    https, http = free_port(), free_port()
    config = HAPROXY_CONFIG.read_text()
    config = config.replace("bind :8443 ssl crt /run/secrets/tls.pem", f"bind 127.0.0.1:{https} ssl crt {tls}")
    config = config.replace("bind :8080", f"bind 127.0.0.1:{http}")
    config = config.replace(" resolvers compose", "")  # compose's DNS is not here: addresses are given
    for number, port in enumerate(web_ports, start=1):
        config = config.replace(f"server web-{number} web-{number}:5000 check",
                                f"server web-{number} 127.0.0.1:{port} check")
    (tmp_path / "haproxy.cfg").write_text(config)
    log = logs / "proxy.log"
    with log.open("w") as handle:
        process = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=handle,
                                   stderr=subprocess.STDOUT)
    return Started("proxy", process, log), https


def _get_tls(url: str) -> tuple[int, str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def _compose_secrets() -> dict[str, set[str]]:
    """The secrets docker-compose.yml gives the services this test runs (YAML merge keys resolved)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {name: set(services[name]["secrets"]) for name in ("directory-1", "web-1", "scheduler")}


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from _postgres_database()


def test_a_directory_and_two_web_nodes_from_the_image_share_one_set_of_secrets(image_root, tmp_path, database_url):
    """`porth directory run` and two `porth serve` nodes, every one reading /run/secrets (read-only,
    written once by `porth secrets create`): both nodes are ready, HAProxy with the deployment's
    configuration sends requests to both, and both publish the same IdP signing certificate and the
    same portal SP certificate, the ones in the secrets; nothing is generated anywhere; SIGTERM
    stops each with status 0."""
    secrets, var = tmp_path / "secrets", tmp_path / "var"
    secrets.mkdir()
    var.mkdir()
    os.chown(var, 10001, 10001)  # the data volume, the image's user's (as its /var/lib/porth is)
    image_root.bind(secrets, SECRETS_IN_IMAGE)
    image_root.bind(var, "/var/lib/porth")
    created = subprocess.run(image_root.command(["porth", "secrets", "create", SECRETS_IN_IMAGE, "--owner", "10001",
                                                 "--database-user", "porth"],
                                                {}, as_root=True),
                             capture_output=True, text=True, timeout=120, check=False)
    assert created.returncode == 0, created.stderr
    image_root.make_read_only(SECRETS_IN_IMAGE)
    written = sorted(path.name for path in secrets.iterdir())
    owners = {path.name: (path.stat().st_uid, path.stat().st_mode & 0o777) for path in secrets.iterdir()}
    assert owners.pop("database_password") == (999, 0o600)  # the postgres image's user reads it
    assert set(owners.values()) == {(10001, 0o600)}
    # Each process gets only the secrets docker-compose.yml gives its service, as compose mounts them.
    given = tmp_path / "given"
    for service, names in _compose_secrets().items():
        (given / service).mkdir(parents=True)
        for name in names - {"tls.pem"}:
            shutil.copy2(secrets / name, given / service / name)
            os.chown(given / service / name, 10001, 10001)
    image_root.bind(given, SERVICE_SECRETS)
    image_root.make_read_only(SERVICE_SECRETS)

    ldap_port, web_ports = free_port(), [free_port(), free_port()]
    directory_env = {"PORTH_SECRETS__DIR": f"{SERVICE_SECRETS}/directory-1", "PORTH_LDAP__BASE_DN": "dc=porth",
                     "PORTH_LDAP__EMBEDDED_HOST": "127.0.0.1", "PORTH_LDAP__EMBEDDED_PORT": str(ldap_port),
                     "PORTH_VAR_DIR": "/var/lib/porth/directory"}
    web_env = {"PORTH_SECRETS__DIR": f"{SERVICE_SECRETS}/web-1", "PORTH_LDAP__BASE_DN": "dc=porth",
               "PORTH_LDAP__URL": f"ldap://127.0.0.1:{ldap_port}", "PORTH_LDAP__BIND_DN": "cn=porth,dc=porth",
               "PORTH_DATABASE__URL": database_url, "PORTH_IDP__BASE_URL": "https://porth.example.org"}
    scheduler_env = {**web_env, "PORTH_SECRETS__DIR": f"{SERVICE_SECRETS}/scheduler",
                     "PORTH_CONFIG": f"{SERVICE_SECRETS}/scheduler/graph.toml",
                     "PORTH_VAR_DIR": "/var/lib/porth/scheduler"}
    logs = tmp_path / "logs"
    logs.mkdir()
    started = [_start(image_root, "directory", ["porth", "directory", "run"], directory_env, logs)]
    try:
        _poll("the directory answering", lambda: subprocess.run(
            image_root.command(["porth", "directory", "status"], directory_env),
            capture_output=True, timeout=30, check=False).returncode == 0, started)
        for number, port in enumerate(web_ports, start=1):
            started.append(_start(image_root, f"web-{number}",
                                  ["porth", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                  {**web_env, "PORTH_VAR_DIR": f"/var/lib/porth/web-{number}"}, logs))
        for port in web_ports:
            _poll(f"web node on {port} ready", lambda port=port: _get(f"http://127.0.0.1:{port}/readyz")[0] == 200,
                  started)
        proxy, https = _proxy(tmp_path, web_ports, logs)
        started.append(proxy)
        # Through the proxy, round robin: once it has seen both nodes ready, requests reach both.
        _poll("the proxy answering", lambda: _get_tls(f"https://127.0.0.1:{https}/readyz")[0] == 200, started)
        _poll("the proxy sending to both nodes", lambda: (
            _get_tls(f"https://127.0.0.1:{https}/idp/metadata")[0] == 200
            and all("GET /idp/metadata" in one.log.read_text(errors="replace") for one in started[1:3])), started)

        started.append(_start(image_root, "scheduler", ["porth", "scheduler"], scheduler_env, logs))
        _poll("the scheduler running", lambda: "Scheduler running" in started[-1].log.read_text(), started)
        jobs = subprocess.run(image_root.command(["porth", "jobs", "list"], scheduler_env),  # its health check
                              capture_output=True, text=True, timeout=60, check=False)
        assert jobs.returncode == 0 and "username-changes" in jobs.stdout, jobs.stderr

        idp_certificate = _pem_certificate(secrets / "idp-signing.pem")
        portal_certificate = _pem_certificate(secrets / "portal-sp.pem")
        for port in web_ports:
            status, metadata = _get(f"http://127.0.0.1:{port}/idp/metadata")
            assert status == 200 and _certificates(metadata) == {idp_certificate}
            status, metadata = _get(f"http://127.0.0.1:{port}/portal/saml/metadata")
            assert status == 200 and _certificates(metadata) == {portal_certificate}

        assert sorted(path.name for path in secrets.iterdir()) == written  # read, never written
        assert not any((var / node / "secrets").exists() for node in ("directory", "web-1", "web-2", "scheduler"))
        assert {path.stat().st_uid for path in (var / "directory").rglob("*")} == {10001}
    finally:
        for one in started:
            if one.process.poll() is None:
                one.process.send_signal(signal.SIGTERM)
        outcomes = {}
        for one in started:
            try:
                outcomes[one.name] = one.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                one.process.kill()
                outcomes[one.name] = "still running 30 s after SIGTERM"
    outcomes.pop("proxy", None)  # HAProxy's own exit status is not Porth's
    assert outcomes == {"directory": 0, "web-1": 0, "web-2": 0, "scheduler": 0}, \
        "\n".join(one.tail() for one in started)
    # No process wanted a secret its service is not given.
    assert not any("is not set" in one.log.read_text() for one in started), "\n".join(one.tail() for one in started)
