"""Secrets as files (issue 17 point 3): PORTH_SECRETS__DIR is the deployment's folder of secrets,
written once by `porth secrets create` and only ever read, so every web node has the same keys."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from config.settings import (
    SECRET_FILES,
    ConfigError,
    load_settings,
    secret_files_read,
    secret_value,
    with_secrets,
)
from entrypoints.cli.main import cli


def _create(folder: Path, *options: str):
    return CliRunner().invoke(cli, ["secrets", "create", str(folder), *options], catch_exceptions=False)


def _contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def one_set(tmp_path_factory) -> Path:
    """A set written by `porth secrets create` (two RSA keys take a while: made once per module)."""
    folder = tmp_path_factory.mktemp("created") / "secrets"
    assert _create(folder).exit_code == 0
    return folder


@pytest.fixture
def folder(one_set, tmp_path) -> Path:
    """A copy of that set for one test to change."""
    copy = tmp_path / "secrets"
    shutil.copytree(one_set, copy)
    return copy


def test_create_writes_every_secret_of_the_registry_once_and_private(tmp_path):
    folder = tmp_path / "secrets"
    result = _create(folder, "--database-user", "porth")
    assert result.exit_code == 0, result.output
    names = {secret.name for secret in SECRET_FILES}
    assert set(_contents(folder)) == names | {"graph.toml", "database_password", "pgpass"}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()} == {0o600}
    password = (folder / "database_password").read_text().strip()
    assert (folder / "pgpass").read_text().strip() == f"*:*:*:porth:{password}"

    before = _contents(folder)
    again = _create(folder, "--database-user", "porth")
    assert again.exit_code == 0
    assert _contents(folder) == before  # kept, never replaced: a new UPN-hash key would orphan every learner
    assert "kept (already there)" in again.output and "wrote" not in again.output


def test_create_fills_in_only_a_secret_the_set_lacks(folder, tmp_path):
    before = _contents(folder)
    (folder / "portal-sp.pem").unlink()
    result = _create(folder)
    assert result.output.startswith(f"wrote {folder}: portal-sp.pem\n")
    after = _contents(folder)
    assert {name: value for name, value in after.items() if name != "portal-sp.pem"} == \
        {name: value for name, value in before.items() if name != "portal-sp.pem"}
    assert b"BEGIN PRIVATE KEY" in after["portal-sp.pem"]


def test_a_read_only_secrets_folder_is_read_and_nothing_is_generated(folder, tmp_path):
    before = _contents(folder)
    settings = with_secrets(load_settings(var_dir=tmp_path / "var", secrets={"dir": folder}))
    assert secret_value(settings.secrets.upn_hash_key, "secrets.upn_hash_key") == \
        before["upn_hash_key"].decode().strip()
    assert secret_value(settings.ldap.bind_password, "ldap.bind_password") == \
        before["ldap_bind_password"].decode().strip()
    assert settings.secrets_dir == folder
    assert _contents(folder) == before
    assert not (tmp_path / "var" / "secrets").exists()


def test_a_secret_the_folder_lacks_is_not_generated_and_its_use_names_the_file(folder, tmp_path):
    (folder / "persistent_id_key").unlink()
    settings = with_secrets(load_settings(var_dir=tmp_path / "var", secrets={"dir": folder}))
    assert not (folder / "persistent_id_key").exists()
    with pytest.raises(ConfigError, match=r"PORTH_SECRETS__PERSISTENT_ID_KEY or as the file persistent_id_key"):
        secret_value(settings.secrets.persistent_id_key, "secrets.persistent_id_key")


def test_every_web_node_reads_the_same_key_pairs_and_none_makes_its_own(folder, tmp_path):
    """The bug issue 17 found: each web container generated its own portal SP key, so a portal
    sign-in begun on one node was refused by the next. From PORTH_SECRETS__DIR every node loads
    the pairs there; one missing stops the node with a line naming it instead of a new pair."""
    from idp.provider import signing_files
    from idp.signing import load_signing_key

    nodes = [with_secrets(load_settings(var_dir=tmp_path / f"web-{n}", secrets={"dir": folder})) for n in (1, 2)]
    keys = [load_signing_key(*signing_files(node)) for node in nodes]
    assert keys[0].certificate_base64 == keys[1].certificate_base64
    (folder / "idp-signing.pem").unlink()
    with pytest.raises(ConfigError, match=r"PORTH_SECRETS__DIR: .*idp-signing.pem is missing"):
        signing_files(nodes[0])
    assert not (folder / "idp-signing.pem").exists()


def test_a_missing_secrets_folder_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"PORTH_SECRETS__DIR: no such folder"):
        with_secrets(load_settings(secrets={"dir": tmp_path / "nowhere"}))


def test_an_external_directory_may_take_its_password_from_the_secrets_folder(folder, tmp_path):
    settings = load_settings(ldap={"url": "ldap://directory-1:1389", "bind_dn": "cn=porth,dc=porth"},
                             secrets={"dir": folder})
    assert "ldap_bind_password" in {secret.name for secret in secret_files_read(settings)}  # so in the backup
    with pytest.raises(ConfigError, match="PORTH_LDAP__BIND_PASSWORD: required"):
        load_settings(ldap={"url": "ldap://directory-1:1389", "bind_dn": "cn=porth,dc=porth"})


def test_the_backup_copies_every_secret_of_the_registry():
    """One list: a secret added to config/settings.py SECRET_FILES is in every backup."""
    from entrypoints import backup

    assert backup.SECRET_FILES is SECRET_FILES
    assert [secret.name for secret in secret_files_read(load_settings())] == [secret.name for secret in SECRET_FILES]


def test_restore_never_writes_into_the_read_only_secrets_folder(folder, tmp_path):
    from entrypoints.backup import BackupError, restore

    before = _contents(folder)
    settings = load_settings(var_dir=tmp_path / "var", secrets={"dir": folder})
    with pytest.raises(BackupError, match=r"only reads: give --secrets-to DIR"):
        restore(settings, tmp_path / "backup")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x").write_text("x")
    with pytest.raises(BackupError, match="not an empty folder"):
        restore(settings, tmp_path / "backup", secrets_to=tmp_path / "elsewhere")
    assert _contents(folder) == before
