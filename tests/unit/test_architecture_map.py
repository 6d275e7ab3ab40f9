"""docs/architecture.md stays true: every SPEC rule names the function that decides it, every
named function exists, and the folder map lists each top-level package of the project.

The rule table's rows look like ``| M-6 | `connectors.provisioning.planner.plan_learner` | ... |``;
a rule decided in two steps may name two functions in its cell.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# CI and every work tree have the shared folder beside the repository (DEVELOPERS.md).
SPEC = ROOT.parent / "shared" / "SPEC.md"
RULE_ID = re.compile(r"\b([A-Z])-(\d{1,2})\b")
NAMED = re.compile(r"`([a-z_][\w]*(?:\.[A-Za-z_]\w*)+)`")


def _section(title: str) -> str:
    text = ARCHITECTURE.read_text("utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def _rule_cells() -> dict[str, list[str]]:
    cells_of: dict[str, list[str]] = {}
    for line in _section("Rule map").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"[A-Z]-\d{1,2}", cells[0]):
            cells_of[cells[0]] = cells[1:]
    return cells_of


def rule_rows() -> dict[str, list[str]]:
    """Rule id -> the dotted names of its "decided by" cell."""
    return {rule: NAMED.findall(cells[0]) for rule, cells in _rule_cells().items()}


def noted_names() -> dict[str, list[str]]:
    """Rule id -> the dotted names of its notes (where the decision is applied)."""
    return {rule: NAMED.findall(" ".join(cells[1:])) for rule, cells in _rule_cells().items()}


def spec_rule_ids() -> set[str]:
    ids = set()
    for line in SPEC.read_text("utf-8").splitlines():
        match = re.match(r"- ([A-Z]-\d{1,2}) ", line)
        if match:
            ids.add(match.group(1))
    return ids


def resolve(dotted: str) -> object:
    """The object a dotted name means: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


def test_every_spec_rule_has_a_row():
    if not SPEC.exists():
        pytest.fail(f"{SPEC} is missing: the rule map is checked against the SPEC beside the repository")
    missing = sorted(spec_rule_ids() - set(rule_rows()), key=lambda i: (i[0], int(i[2:])))
    assert not missing, f"SPEC rules without a row in docs/architecture.md: {', '.join(missing)}"


def test_every_row_names_a_function_that_exists():
    rows = rule_rows()
    assert rows, "no rule map found in docs/architecture.md"
    unnamed = [rule for rule, names in rows.items() if not names]
    assert not unnamed, f"rows naming no function: {', '.join(unnamed)}"
    broken = []
    for rule, names in rows.items():
        for name in names:
            try:
                target = resolve(name)
            except (ModuleNotFoundError, AttributeError) as exc:
                broken.append(f"{rule}: {name} ({exc})")
                continue
            if not callable(target):
                broken.append(f"{rule}: {name} is not a function or class")
    assert not broken, "the rule map names what no longer exists:\n" + "\n".join(broken)


def test_every_name_in_the_notes_exists():
    broken = []
    for rule, names in noted_names().items():
        for name in names:
            try:
                resolve(name)
            except (ModuleNotFoundError, AttributeError) as exc:
                broken.append(f"{rule}: {name} ({exc})")
    assert not broken, "the rule map's notes name what no longer exists:\n" + "\n".join(broken)


def test_the_map_catches_a_renamed_function(monkeypatch):
    """A function the map names that is gone (removed for this test only) no longer resolves."""
    rows = rule_rows()
    names = next(names for names in rows.values() if names)
    module_name, _, function = names[0].rpartition(".")
    module = resolve(module_name)
    monkeypatch.delattr(module, function)
    with pytest.raises(AttributeError):
        resolve(names[0])


def test_the_folder_map_lists_every_top_level_package():
    folders = set(re.findall(r"^\| `([a-z_]+)/` \|", _section("Folder map"), re.MULTILINE))
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert packages - folders == set(), f"packages missing from the folder map: {sorted(packages - folders)}"
    assert folders - packages - {"tests", "bench", "docs", "scripts"} == set(), \
        f"the folder map lists folders that are not packages: {sorted(folders - packages)}"
