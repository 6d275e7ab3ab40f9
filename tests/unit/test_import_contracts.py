"""The import contracts (pyproject.toml): the pure modules import no I/O library, each layer
imports only the layers below it, no module is part of an import cycle and no module imports
another's underscore names (issue 12). import-linter checks all four; the last two are our own
contract types (tests/import_contracts.py)."""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from tests.import_contracts import import_cycles, private_name_imports

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
    (tmp_path / "tests").mkdir()
    for name in ("__init__.py", "import_contracts.py"):  # the contract types of our own
        shutil.copy(ROOT / "tests" / name, tmp_path / "tests" / name)
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


def test_the_cycle_contract_catches_a_cycle(tmp_path):
    """The portal's page helpers read the user lists; the lists importing the helpers back is a cycle."""
    result = _lint_a_copy_where(tmp_path, "webui/portal/lists.py", "import webui.portal.menu  # noqa")
    assert result.returncode != 0
    assert "No import cycles among the project's modules BROKEN" in result.stdout
    # The cycle is named through the import added (menu now reaches lists through dashboard too).
    assert "webui.portal.lists -> webui.portal.menu -> " in result.stdout


def test_the_private_names_contract_catches_an_underscore_import(tmp_path):
    """A view borrowing another view's underscore helper breaks the contract, named with its line."""
    result = _lint_a_copy_where(tmp_path, "webui/portal/nonmis.py",
                                "from webui.portal.audit_view import _day  # noqa")
    assert result.returncode != 0
    assert "No module imports another module's underscore names BROKEN" in result.stdout
    assert "webui.portal.nonmis:1 imports _day from webui.portal.audit_view" in result.stdout


def test_every_module_of_a_cycle_is_reported_once():
    graph = grimp.ImportGraph()
    for importer, imported in (("a.one", "a.two"), ("a.two", "a.three"), ("a.three", "a.one"),
                               ("a.three", "a.four"), ("a.four", "a.five"), ("a.five", "a.four"), ("a.six", "a.one")):
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph, set(graph.modules)) == [["a.five", "a.four"], ["a.one", "a.three", "a.two"]]


def test_only_our_own_underscore_names_count(tmp_path, monkeypatch):
    """gettext imported as `_`, `from __future__`, dunders and other projects' names are not private names."""
    package = tmp_path / "school"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rules.py").write_text("_limit = 1\n__version__ = '1'\n")
    (package / "views.py").write_text(
        "from __future__ import annotations\n"
        "from flask_babel import gettext as _\n"
        "from os import _exit\n"
        "from school.rules import __version__\n"
        "from school.rules import _limit\n"
        "from .rules import _limit as limit\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert private_name_imports(["school"]) == [("school.views", 5, "school.rules", "_limit"),
                                                ("school.views", 6, "school.rules", "_limit")]
