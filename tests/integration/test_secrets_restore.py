"""Restoring a deployment whose secrets are files it only reads (PORTH_SECRETS__DIR, compose
secrets; issue 17 point 3): `porth restore --secrets-to DIR` puts the backup's secrets into a new
folder for the operator to install, never into the read-only one, and an instance reading them
from there recognises every learner again (SPEC M-3: the UPN-hash key came back)."""

from __future__ import annotations

from tests.conftest import run_porth
from tests.integration.test_backup import SCHOOL, SECRET_NAMES, instances, provisioned, runtime_metadata  # noqa: F401


def test_restore_puts_the_secrets_into_a_new_folder_the_deployment_then_reads(instances, tmp_path):
    original = instances("var")
    exports = provisioned(original, tmp_path)
    runtime_metadata(original)  # served once: its key pairs are made
    backup_dir = tmp_path / "backup"
    assert original.porth("backup", str(backup_dir)).returncode == 0
    assert original.porth("directory", "stop").returncode == 0

    fresh = instances("restored")
    deployment = tmp_path / "run-secrets"  # what compose would mount: Porth must not write it
    env = {**fresh.env, "PORTH_SECRETS__DIR": str(deployment)}
    refused = run_porth(["restore", str(backup_dir)], env)
    assert refused.returncode == 1 and "give --secrets-to DIR" in refused.stderr
    assert not deployment.exists()

    restored = run_porth(["restore", "--secrets-to", str(deployment), str(backup_dir)], env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"install the secrets in {deployment}" in restored.stdout
    assert {path.name for path in deployment.iterdir()} == SECRET_NAMES
    for name in SECRET_NAMES:
        assert (deployment / name).read_bytes() == (original.var_dir / "secrets" / name).read_bytes()
    assert not (fresh.var_dir / "secrets").exists()

    assert run_porth(["directory", "start"], env).returncode == 0
    again = run_porth(["provision", str(exports)], env)
    assert f"{SCHOOL}: succeeded, no change" in again.stdout, again.stdout + again.stderr
    assert not (fresh.var_dir / "secrets").exists()  # read from the deployment's folder, nothing generated
