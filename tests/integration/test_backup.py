"""`porth backup` and `porth restore` (issue 17 point 6) as an LA's IT team runs them: a loaded
instance with its own private slapd is backed up, restored into a fresh data folder, and then
signs the same person in with the same persistent NameID and provisions the same exports with no
change (SPEC M-3: learners are matched by the UPN hash, whose key is in the backup)."""

from __future__ import annotations

import json
import resource
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
import pytest

from config.settings import load_settings, with_secrets
from directory.model import AccountKind
from entrypoints.runtime import build_runtime
from tests.conftest import ROOT, free_port, porth_env, run_porth
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.test_operational_store import _postgres_database
from tests.integration.test_provision_cli import write_export
from tests.integration.test_provisioning import learner_row, staff_row
from tests.saml_services import OneLoginService, path_of, posted_form
from webui.app import create_app

BASE = "dc=porth-backup"
SCHOOL = "6612345"
SECRET_NAMES = {"upn_hash_key", "persistent_id_key", "password_vault_key", "flask_secret_key",
                "idp-signing.pem", "portal-sp.pem", "ldap_bind_password"}


@dataclass
class Instance:
    """One Porth data folder with its own private slapd, driven by the `porth` command."""

    var_dir: Path
    services_dir: Path
    port: int = field(default_factory=free_port)
    database_url: str | None = None  # None: SQLite under var_dir

    @property
    def env(self) -> dict[str, str]:
        database = {"PORTH_DATABASE__URL": self.database_url} if self.database_url else {}
        return porth_env(self.var_dir, PORTH_LDAP__BASE_DN=BASE, PORTH_LDAP__EMBEDDED_PORT=str(self.port),
                         PORTH_LDAP__EMBEDDED_NO_SYNC="true", PORTH_IDP__BASE_URL="http://localhost",
                         PORTH_IDP__SERVICES_DIR=str(self.services_dir), **database)

    def porth(self, *args: str) -> subprocess.CompletedProcess:
        return run_porth(list(args), self.env)

    def settings(self):
        return with_secrets(load_settings(
            var_dir=self.var_dir,
            ldap={"base_dn": BASE, "embedded_port": self.port, "embedded_no_sync": True},
            idp={"base_url": "http://localhost", "services_dir": self.services_dir}))

    def name_id(self, service: OneLoginService, username: str) -> str:
        """Sign in once through this instance's IdP; the persistent NameID the service receives."""
        runtime = build_runtime(self.settings())
        app = create_app(runtime)
        try:
            client = app.test_client()
            url, request_id = service.login_url()
            page = client.get(path_of(url))
            text = page.get_data(as_text=True)
            pending = text.split('name="pending" value="', 1)[1].split('"', 1)[0]
            csrf = text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            answer = client.post("/idp/sign-in", data={"csrf_token": csrf, "pending": pending,
                                                       "username": username, "password": PASSWORD})
            auth = service.accept(posted_form(answer.get_data(as_text=True)), request_id)
            assert auth.is_authenticated(), auth.get_last_error_reason()
            return auth.get_nameid()
        finally:
            app.extensions["porth.idp"].close()
            runtime.close()


@pytest.fixture
def instances(tmp_path):
    made: list[Instance] = []

    def make(name: str, database_url: str | None = None) -> Instance:
        instance = Instance(var_dir=tmp_path / name, services_dir=tmp_path / "services", database_url=database_url)
        instance.services_dir.mkdir(exist_ok=True)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.porth("directory", "stop")


def provisioned(instance: Instance, tmp_path: Path) -> Path:
    """Start the instance's directory, register its school and provision five learners and a
    teacher from a folder of exports (returned, to be provisioned again)."""
    assert instance.porth("directory", "start").returncode == 0
    register = tmp_path / "schools.csv"
    register.write_text(f"dfes,name,type,la_code\n{SCHOOL},Ysgol y Backup,primary,661\n", encoding="utf-8")
    assert instance.porth("schools", "import", str(register)).returncode == 0
    exports = tmp_path / "exports"
    write_export(exports / SCHOOL, [learner_row(n, school=SCHOOL) for n in range(1, 6)],
                 [staff_row("S1", "Evans", "Ann", school=SCHOOL)])
    first = instance.porth("provision", str(exports))
    assert f"{SCHOOL}: succeeded, 6 created" in first.stdout, first.stdout + first.stderr
    return exports


@pytest.fixture
def loaded(instances, tmp_path):
    """A provisioned instance whose teacher has signed in once to a registered service."""
    original = instances("var")
    exports = provisioned(original, tmp_path)
    runtime = build_runtime(original.settings())
    try:
        teacher = next(runtime.store.iter_accounts(school=SCHOOL, kind=AccountKind.STAFF))
        runtime.store.set_password(teacher.id, PASSWORD)
        metadata = runtime_metadata(original)
    finally:
        runtime.close()
    service = OneLoginService(entity_id="https://records.example/sp", idp_metadata=metadata)
    (original.services_dir / "records.xml").write_bytes(service.metadata())
    (original.services_dir / "records.toml").write_text('category = "core"\nrelease = ["mail", "username"]\n')
    name_id = original.name_id(service, teacher.username)
    return original, exports, service, teacher.username, name_id


def runtime_metadata(instance: Instance) -> str:
    runtime = build_runtime(instance.settings())
    app = create_app(runtime)
    try:
        return app.test_client().get("/idp/metadata").get_data(as_text=True)
    finally:
        app.extensions["porth.idp"].close()
        runtime.close()


def test_a_restored_instance_signs_people_in_with_the_same_name_id_and_provisions_no_change(
        loaded, instances, tmp_path):
    original, exports, service, username, name_id = loaded
    backup_dir = tmp_path / "backup"
    made = original.porth("backup", str(backup_dir))  # while the private slapd runs
    assert made.returncode == 0, made.stderr
    assert f"to {backup_dir}" in made.stdout

    # What was written: a manifest naming every file with its SHA-256, owner-only permissions.
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert {name.removeprefix("secrets/") for name in manifest["files"]} == (
        SECRET_NAMES | {"directory.ldif", "operational.sqlite3"})
    assert manifest["porth_version"] and manifest["created"]
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    for path in backup_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert "Evans" in (backup_dir / "directory.ldif").read_text()
    assert not (tmp_path / "backup.partial").exists()

    assert original.porth("directory", "stop").returncode == 0
    fresh = instances("restored")
    restored = fresh.porth("restore", str(backup_dir))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "restored from" in restored.stdout and "secret persistent_id_key" in restored.stdout
    for name in SECRET_NAMES:
        assert (fresh.var_dir / "secrets" / name).read_bytes() == (original.var_dir / "secrets" / name).read_bytes()
    assert fresh.porth("directory", "start").returncode == 0

    # The same person, the same identifier at the service (and the service still trusts the
    # IdP's signature: the signing key came back too).
    assert fresh.name_id(service, username) == name_id
    again = fresh.porth("provision", str(exports))
    assert f"{SCHOOL}: succeeded, no change" in again.stdout, again.stdout + again.stderr

    # Restoring over data it would replace is refused, and --force says what it replaces.
    assert fresh.porth("directory", "stop").returncode == 0
    over = fresh.porth("restore", str(backup_dir))
    assert over.returncode == 1 and "already holds data" in over.stderr and "--force" in over.stderr
    forced = fresh.porth("restore", "--force", str(backup_dir))
    assert forced.returncode == 0, forced.stderr
    assert "replaced (--force): the secrets in" in forced.stdout
    assert "replaced (--force): the private directory in" in forced.stdout
    assert "replaced (--force): the operational database" in forced.stdout


def test_a_damaged_backup_or_one_without_a_secret_is_refused_and_nothing_is_restored(loaded, instances, tmp_path):
    original, _exports, _service, _username, _name_id = loaded
    backup_dir = tmp_path / "backup"
    assert original.porth("backup", str(backup_dir)).returncode == 0
    assert original.porth("directory", "stop").returncode == 0
    fresh = instances("restored")

    elsewhere = run_porth(["restore", str(backup_dir)], {**fresh.env, "PORTH_LDAP__BASE_DN": "dc=elsewhere"})
    assert elsewhere.returncode == 1 and f"set PORTH_LDAP__BASE_DN={BASE}; nothing was restored" in elsewhere.stderr

    ldif = backup_dir / "directory.ldif"
    good = ldif.read_bytes()
    ldif.write_bytes(good.replace(b"Evans", b"Evanz"))
    tampered = fresh.porth("restore", str(backup_dir))
    assert tampered.returncode == 1
    assert tampered.stderr.strip().splitlines() == [
        f"porth: {ldif} does not match its SHA-256 in the manifest (damaged or changed): nothing was restored"]
    assert not fresh.var_dir.exists()
    ldif.write_bytes(good)

    # A backup made without the UPN-hash key (deleted, and dropped from the manifest) is refused:
    # restored without it, the next provisioning run would have created every learner again.
    manifest_path = backup_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]["secrets/upn_hash_key"]
    manifest_path.write_text(json.dumps(manifest))
    (backup_dir / "secrets" / "upn_hash_key").unlink()
    lacking = fresh.porth("restore", str(backup_dir))
    assert lacking.returncode == 1
    assert "the backup lacks secrets/upn_hash_key" in lacking.stderr
    assert "the next provisioning run would create every learner again" in lacking.stderr
    assert not fresh.var_dir.exists()


def test_without_the_upn_hash_key_provisioning_stops_instead_of_duplicating_every_learner(loaded, instances,
                                                                                           tmp_path):
    """What happens when a restore's secrets are lost afterwards: a new key is generated, and the
    directory's recorded key fingerprint stops provisioning before a single duplicate is made."""
    original, exports, _service, _username, _name_id = loaded
    backup_dir = tmp_path / "backup"
    assert original.porth("backup", str(backup_dir)).returncode == 0
    assert original.porth("directory", "stop").returncode == 0
    fresh = instances("restored")
    assert fresh.porth("restore", str(backup_dir)).returncode == 0
    (fresh.var_dir / "secrets" / "upn_hash_key").unlink()
    started = fresh.porth("directory", "start")  # slapd starts; Porth refuses the new key it generated
    assert started.returncode == 2 and "is not the key this directory's accounts were made with" in started.stderr
    run = fresh.porth("provision", str(exports))
    assert run.returncode == 2
    assert "restore var/secrets from the backup; nothing was changed" in run.stderr
    password = (fresh.var_dir / "secrets" / "ldap_bind_password").read_text().strip()
    with ldap3.Connection(f"ldap://127.0.0.1:{fresh.port}", f"cn=porth,{BASE}", password, auto_bind=True) as conn:
        conn.search(f"ou=people,{BASE}", "(objectClass=porthAccount)", attributes=[])
        assert len(conn.entries) == 6  # the five learners and the teacher, no second account for anyone


def test_a_backup_refuses_a_folder_in_use_and_a_full_disk_leaves_no_backup(loaded, tmp_path):
    original = loaded[0]
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("keep")
    refused = original.porth("backup", str(used))
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"porth: {used} is not an empty folder: a backup is written only into a new one"

    # A disk that fills up mid-way (here: a 64 KiB limit on any file the command writes).
    target = tmp_path / "full"
    limited = subprocess.run([sys.executable, "-m", "entrypoints.cli", "backup", str(target)], cwd=ROOT,
                             env=original.env, capture_output=True, text=True, timeout=120, check=False,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024)))
    assert limited.returncode == 1
    lines = limited.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"porth: backup failed, nothing was kept at {target}: "), lines
    assert not target.exists() and not (tmp_path / "full.partial").exists()


def test_with_postgresql_the_backup_holds_a_pg_dump_that_restores_into_a_fresh_database(instances, tmp_path):
    databases = _postgres_database(), _postgres_database()
    first_url, second_url = (next(database) for database in databases)
    try:
        original = instances("var", first_url)
        assert original.porth("db", "upgrade").returncode == 0
        exports = provisioned(original, tmp_path)
        runtime_metadata(original)  # served once: the web app makes the IdP's and the portal's keys
        backup_dir = tmp_path / "backup"
        made = original.porth("backup", str(backup_dir))
        assert made.returncode == 0, made.stderr
        manifest = json.loads((backup_dir / "manifest.json").read_text())
        assert "pg_dump" in manifest["files"]["operational.pgdump"]["what"]
        assert original.porth("directory", "stop").returncode == 0

        fresh = instances("restored", second_url)
        restored = fresh.porth("restore", str(backup_dir))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert fresh.porth("directory", "start").returncode == 0
        status = fresh.porth("status", "--school", SCHOOL)  # the workflow runs came back with the database
        assert "learners        succeeded" in status.stdout and "5 created" in status.stdout, status.stdout
        again = fresh.porth("provision", str(exports))
        assert f"{SCHOOL}: succeeded, no change" in again.stdout, again.stdout + again.stderr
    finally:
        for database in databases:
            database.close()


def test_a_manifest_naming_a_file_outside_the_backup_is_refused(instances, tmp_path):
    """A restore writes only what the backup holds: a manifest may not point it at other files."""
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not part of any backup")
    (crafted / "manifest.json").write_text(json.dumps({"format": 1, "files": {
        "../elsewhere.txt": {"what": "?", "sha256": "0" * 64}}}))
    fresh = instances("restored")
    refused = fresh.porth("restore", str(crafted))
    assert refused.returncode == 1
    assert "names a file outside the backup (../elsewhere.txt): nothing was restored" in refused.stderr
    assert not fresh.var_dir.exists()
