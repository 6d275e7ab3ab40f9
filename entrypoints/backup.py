"""`porth backup DIR` and `porth restore DIR`: the directory, the operational database and every
secret, with a manifest that says what each file is and its SHA-256 (docs/deployment.md,
"Backup and restore").

A backup is only worth having whole: it is written into DIR.partial and renamed to DIR once
every file is written and synced, so a full disk or a killed run leaves no folder named DIR.
A restore checks every hash before it changes anything, and refuses a backup that lacks a
secret the data needs: the UPN-hash key above all (without it the next provisioning run
creates every learner again, issue 13) and the persistent NameID key (without it every service
sees a stranger).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import SecretStr

from config.settings import SECRET_FILES, SecretFile, Settings, secret_files_read, with_secrets
from directory.backup import dump_directory, load_directory
from directory.errors import DirectoryError
from directory.slapd import PrivateSlapd, private_slapd_for
from operational.backup import database_holds_data, dump_database, dump_file_name, load_database, remove_database
from operational.db import OperationalStoreError

MANIFEST = "manifest.json"
FORMAT = 1
DIRECTORY_LDIF = "directory.ldif"
SECRETS = "secrets"


class BackupError(Exception):
    """A backup or restore that cannot go on; str() is one line for an operator."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def porth_version() -> str:
    try:
        return version("porth")
    except PackageNotFoundError:
        return "unknown"


@contextmanager
def _private_files() -> Iterator[None]:
    """Everything created meanwhile (by slapcat and pg_dump too) is the owner's alone: 0600, 0700."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


# -- backup --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackupReport:
    target: Path
    files: dict[str, dict[str, str | int]]
    notes: list[str]


def back_up(settings: Settings, target: Path, now: datetime | None = None) -> BackupReport:
    """Write a complete backup to `target` (which must not exist or be empty). `settings` as
    load_settings gives them: which secrets they give themselves decides which are in var/secrets."""
    needed = secret_files_read(settings)
    settings = with_secrets(settings)  # a secret never generated yet is generated now, so it is in the backup
    target = target.absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not an empty folder: a backup is written only into a new one")
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        raise BackupError(f"{partial} exists (an interrupted backup?): delete it, then back up again")
    notes: list[str] = []
    try:
        with _private_files():
            partial.mkdir(mode=0o700, parents=False)
            files = _write_backup(settings, needed, partial, notes)
            manifest = {
                "format": FORMAT,
                "created": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
                "porth_version": porth_version(),
                "directory": "private" if settings.ldap.embedded else f"external: {settings.ldap.url}",
                "base_dn": settings.ldap.base_dn,
                "files": files,
                "secrets_from_settings": [secret.given_by for secret in SECRET_FILES if secret not in needed],
            }
            _write_synced(partial / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
            _sync_folder(partial / SECRETS)
            _sync_folder(partial)
            if target.exists():
                target.rmdir()  # empty (checked above): rename() then takes its place
            partial.rename(target)
            _sync_folder(target.parent)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)  # no half backup left to look complete
        if isinstance(exc, OSError):
            raise BackupError(f"backup failed, nothing was kept at {target}: {exc.strerror or exc} "
                              f"({exc.filename or partial})") from None
        if isinstance(exc, DirectoryError | OperationalStoreError):
            raise BackupError(f"backup failed, nothing was kept at {target}: {exc}") from None
        raise
    return BackupReport(target=target, files=files, notes=notes)


FileEntries = dict[str, dict[str, str | int]]


def _write_backup(settings: Settings, needed: list[SecretFile], folder: Path, notes: list[str]) -> FileEntries:
    files: FileEntries = {}

    def record(name: str, what: str) -> None:
        path = folder / name
        path.chmod(0o600)
        _fsync(path)
        files[name] = {"what": what, "sha256": sha256_of(path), "bytes": path.stat().st_size}

    if settings.ldap.embedded:
        dump_directory(private_slapd_for(settings), folder / DIRECTORY_LDIF)
        record(DIRECTORY_LDIF, f"the directory's entries ({settings.ldap.base_dn}), slapcat LDIF")
    else:
        notes.append(f"the directory is external ({settings.ldap.url}): back it up on its server with "
                     f"`slapcat -b {settings.ldap.base_dn} -l porth.ldif` (consistent while slapd runs on back-mdb) "
                     "and keep that file with this backup")
    dump_name = dump_file_name(settings.database_url)
    dump_database(settings.database_url, folder / dump_name)
    record(dump_name, "the operational database, " + ("SQLite backup API copy" if dump_name.endswith("sqlite3")
                                                        else "pg_dump custom format (pg_restore)"))
    (folder / SECRETS).mkdir(mode=0o700)
    for secret in needed:
        source = settings.secrets_dir / secret.name
        if not source.is_file():
            raise BackupError(f"{source} is missing ({secret.what}): start Porth once, or restore it, then back up")
        _write_synced(folder / SECRETS / secret.name, source.read_bytes())
        record(f"{SECRETS}/{secret.name}", secret.what)
    notes.extend(f"{secret.name} comes from the settings ({secret.given_by}), not the secrets folder: "
                 "keep it as safely as this backup, a restore needs it"
                 for secret in SECRET_FILES if secret not in needed)
    return files


def _write_synced(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(path: Path) -> None:
    if path.is_dir():
        _fsync(path)


# -- restore -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestoreReport:
    replaced: list[str]
    restored: list[str]
    notes: list[str]


def read_verified_manifest(source: Path) -> dict:
    """The manifest of a backup whose every file matches its SHA-256; else BackupError naming the file."""
    manifest_path = source / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{manifest_path} is missing: {source} is not a Porth backup (or not a whole one); "
                          "nothing was restored") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{manifest_path} cannot be read ({exc}): nothing was restored") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{manifest_path} is not a Porth backup manifest of format {FORMAT}: nothing was restored")
    for name, entry in sorted(manifest["files"].items()):
        path = source / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BackupError(f"{manifest_path} names a file outside the backup ({name}): nothing was restored")
        if not path.is_file():
            raise BackupError(f"{path} is missing from the backup: nothing was restored")
        if sha256_of(path) != entry.get("sha256"):
            raise BackupError(f"{path} does not match its SHA-256 in the manifest (damaged or changed): "
                              "nothing was restored")
    return manifest


def existing_data(settings: Settings, slapd: PrivateSlapd | None) -> list[str]:
    """What a restore into these settings would replace, one phrase each."""
    found = []
    # A read-only secrets folder (PORTH_SECRETS__DIR) is the deployment's: never replaced by a restore.
    present = [] if settings.secrets_read_only else [
        secret.name for secret in SECRET_FILES if (settings.secrets_dir / secret.name).exists()]
    if present:
        found.append(f"the secrets in {settings.secrets_dir} ({', '.join(present)})")
    if slapd is not None and (slapd.is_configured or any(slapd.data_dir.glob("*.mdb"))):
        found.append(f"the private directory in {slapd.root}")
    database = database_holds_data(settings.database_url)
    if database:
        found.append(database)
    return found


def restore(settings: Settings, source: Path, force: bool = False, secrets_to: Path | None = None) -> RestoreReport:
    """Restore a backup into the data folder the settings name (without secrets generated first:
    `settings` comes from load_settings, so the backup's own secrets are the ones used).

    The secrets go back into var/secrets, or into `secrets_to`, a new folder: the only way when
    the settings read a deployment's secrets folder (PORTH_SECRETS__DIR), which Porth never
    writes: the operator installs them there (docker-compose.yml: ./secrets/)."""
    source = source.absolute()
    if secrets_to is None and settings.secrets_read_only:
        raise BackupError(f"PORTH_SECRETS__DIR ({settings.secrets_dir}) is the deployment's secrets folder, which "
                          "Porth only reads: give --secrets-to DIR, a new folder for the backup's secrets, then "
                          "install them as the deployment's secrets; nothing was restored")
    if secrets_to is not None:
        secrets_to = secrets_to.absolute()
        if secrets_to.exists() and (not secrets_to.is_dir() or any(secrets_to.iterdir())):
            raise BackupError(f"{secrets_to} is not an empty folder: the secrets are restored only into a new one; "
                              "nothing was restored")
    manifest = read_verified_manifest(source)
    backed_up = set(manifest["files"])
    for secret in secret_files_read(settings):
        if f"{SECRETS}/{secret.name}" not in backed_up:
            raise BackupError(f"the backup lacks {SECRETS}/{secret.name}, the {secret.what}: without it "
                              f"{secret.without_it}; restore from a backup that has it (or give it as "
                              f"{secret.given_by or 'no setting: it is always a file'}); nothing was restored")
    embedded = settings.ldap.embedded
    if embedded and DIRECTORY_LDIF not in backed_up:
        raise BackupError(f"the backup has no {DIRECTORY_LDIF} (it was made of an external directory) and "
                          "these settings use the private one: set PORTH_LDAP__URL, or restore a backup "
                          "of the private directory; nothing was restored")
    dump_name = dump_file_name(settings.database_url)
    if dump_name not in backed_up:
        other = next(iter(sorted(name for name in backed_up if name.startswith("operational."))), "none")
        raise BackupError(f"the backup's operational database is {other}, but these settings need {dump_name} "
                          "(PORTH_DATABASE__URL names the other kind): nothing was restored")
    backed_up_base = manifest.get("base_dn")
    if embedded and backed_up_base != settings.ldap.base_dn:
        raise BackupError(f"the backup's directory is {backed_up_base}, these settings' base DN is "
                          f"{settings.ldap.base_dn}: set PORTH_LDAP__BASE_DN={backed_up_base}; nothing was restored")
    slapd = private_slapd_for(with_secrets_placeholder(settings)) if embedded else None
    if slapd is not None and slapd.is_running:
        raise BackupError(f"the private slapd runs (pid {slapd.pid()}): stop it with `porth directory stop` "
                          "and every Porth process using it, then restore")
    replaced = existing_data(settings, slapd)
    if replaced and not force:
        raise BackupError(f"{settings.var_dir} already holds data ({'; '.join(replaced)}): restore into a fresh "
                          "data folder, or give --force to replace it; nothing was restored")
    notes: list[str] = []
    restored: list[str] = []
    # Where the secrets go, and the settings that read them back from there for the rest.
    into = settings if secrets_to is None else settings.model_copy(
        update={"secrets": settings.secrets.model_copy(update={"dir": secrets_to})})
    try:
        with _private_files():
            if replaced:
                if not settings.secrets_read_only:
                    for secret in SECRET_FILES:
                        (settings.secrets_dir / secret.name).unlink(missing_ok=True)
                if slapd is not None:
                    shutil.rmtree(slapd.root, ignore_errors=True)
                remove_database(settings.database_url)
            into.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            for secret in SECRET_FILES:
                name = f"{SECRETS}/{secret.name}"
                if name in backed_up:
                    _write_synced(into.secrets_dir / secret.name, (source / name).read_bytes())
                    restored.append(f"secret {secret.name}" + (f" (into {secrets_to})" if secrets_to else ""))
            full = with_secrets(into)  # reads the secrets just restored
            if embedded:
                load_directory(private_slapd_for(full), source / DIRECTORY_LDIF)
                restored.append(f"the directory ({settings.ldap.base_dn})")
            else:
                notes.append(f"the directory is external ({settings.ldap.url}): load its LDIF there with slapadd "
                             "(slapd stopped) before starting Porth")
            load_database(full.database_url, source / dump_name)
            restored.append("the operational database")
    except (OSError, DirectoryError, OperationalStoreError) as exc:
        done = f" (restored so far: {', '.join(restored)})" if restored else ""
        reason = f"{exc.strerror} ({exc.filename})" if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BackupError(f"restore failed, {settings.var_dir} is incomplete{done}: {reason}; fix that and run "
                          f"`porth restore --force {source}` again") from None
    return RestoreReport(replaced=replaced, restored=restored, notes=notes)


def with_secrets_placeholder(settings: Settings) -> Settings:
    """Settings good enough to locate the private slapd's folders before any secret exists (the
    bind password only matters to a slapd that is configured, later, with the restored one)."""
    if settings.ldap.bind_password is not None:
        return settings
    return settings.model_copy(update={"ldap": settings.ldap.model_copy(update={"bind_password": SecretStr("-")})})
