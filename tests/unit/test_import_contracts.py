"""The import contracts (pyproject.toml): the pure modules import no I/O library, and each layer
imports only the layers below it. import-linter checks both."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_contracts_hold():
    result = subprocess.run([str(LINT_IMPORTS)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken." in result.stdout and "KEPT" in result.stdout


PACKAGES = ("config", "directory", "operational", "connectors", "idp", "webui", "jobs", "demo", "entrypoints")


def _lint_a_copy_where(tmp_path, module: str, prepended: str) -> subprocess.CompletedProcess:
    """lint-imports on a copy of the project in which `module` (a path) starts with `prepended`."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    source = tmp_path / module
    source.write_text(prepended + "\n" + source.read_text())
    return subprocess.run([str(LINT_IMPORTS)], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=False)


def test_the_contract_catches_an_io_import(tmp_path):
    """A copy of the project where a rule imports ldap3 must break the contract."""
    result = _lint_a_copy_where(tmp_path, "directory/rules/lifecycle.py", "import ldap3")
    assert result.returncode != 0
    assert "directory.rules.lifecycle -> ldap3" in result.stdout


def test_the_layers_catch_an_upward_import(tmp_path):
    """The directory adapter importing the web UI is a layer imported upward: the contract breaks."""
    result = _lint_a_copy_where(tmp_path, "directory/store.py", "import webui.app  # noqa")
    assert result.returncode != 0
    assert "Layers" in result.stdout and "BROKEN" in result.stdout
    assert "directory.store -> webui.app" in result.stdout
