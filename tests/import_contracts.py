"""Two import-linter contract types of our own (pyproject.toml, [tool.importlinter] contract_types).

- `acyclic`: no import cycle among the modules of the listed packages. A cycle makes two
  modules one room in fact while they look like two: neither can be read, tested or moved
  alone, and which one loads first decides what the other sees.
- `no_private_names`: no module imports another module's underscore names
  (`from idp.views import _tokens`). An underscore says "mine, may change without
  notice"; a name another module needs is public, in the module that owns it.

Both run inside `lint-imports`, so `make test` (scripts/run-tests) fails on either.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output


def project_modules(graph: grimp.ImportGraph, packages: set[str]) -> set[str]:
    return {m for m in graph.modules if m.split(".", 1)[0] in packages and not graph.is_module_squashed(m)}


def import_cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative),
    each sorted; a module importing itself is not a cycle worth reporting."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            module, position = work.pop()
            if position == 0:
                index[module] = low[module] = len(index)
                stack.append(module)
                on_stack.add(module)
            if position < len(edges[module]):
                work.append((module, position + 1))
                nxt = edges[module][position]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[module] = min(low[module], index[nxt])
                continue
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
    return sorted(components)


class AcyclicContract(Contract):
    """No module of `packages` is reachable from itself through imports."""

    type_name = "acyclic"
    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        modules = project_modules(graph, set(self.packages))  # type: ignore[arg-type]
        cycles = []
        for component in import_cycles(graph, modules):
            # Every module of a cycle imports another of it: follow one such import and the way back.
            first = component[0]
            second = min(graph.find_modules_directly_imported_by(first) & set(component))
            there = graph.find_shortest_chain(importer=first, imported=second) or (first, second)
            back = graph.find_shortest_chain(importer=second, imported=first) or (second, first)
            cycles.append({"modules": component, "cycle": list(there) + list(back[1:])})
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"Import cycle among {len(cycle['modules'])} modules:", bold=True)
            output.print_error("    " + " -> ".join(cycle["cycle"]))
            output.new_line()


def _module_files(package: str) -> list[tuple[str, Path]]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def is_private(name: str) -> bool:
    """An underscore name that is not a dunder (`__version__`) and not `_` itself."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__")) and name != "_"


def private_name_imports(packages: list[str]) -> list[tuple[str, int, str, str]]:
    """(importer, line, module, name) for each `from <project module> import _name`."""
    found = []
    for package in packages:
        for module, path in _module_files(package):
            is_package = path.name == "__init__.py"
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom):
                    continue
                if node.level:  # relative: resolved against the importing module's package
                    base = module.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source.split(".", 1)[0] not in packages:
                    continue  # another project's names (flask_babel's gettext as _) are not ours to judge
                found.extend((module, node.lineno, source, alias.name) for alias in node.names
                             if is_private(alias.name))
    return sorted(found)


class NoPrivateNamesContract(Contract):
    """No module of `packages` imports an underscore name from a module of `packages`, but for
    the `ignore_names` listed (`importer -> module.name`), each of which warns while it is not needed."""

    type_name = "no_private_names"
    packages = fields.ListField(subfield=fields.StringField())
    ignore_names = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        ignored = set(self.ignore_names or [])  # type: ignore[arg-type]
        found, matched = [], set()
        for importer, line, source, name in private_name_imports(list(self.packages)):  # type: ignore[arg-type]
            key = f"{importer} -> {source}.{name}"
            if key in ignored:
                matched.add(key)
            else:
                found.append((importer, line, source, name))
        warnings = [f"No such import any more; remove it from ignore_names: {key}" for key in sorted(ignored - matched)]
        return ContractCheck(kept=not found, metadata={"imports": found}, warnings=warnings)

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, line, source, name in check.metadata["imports"]:
            output.print_error(f"{importer}:{line} imports {name} from {source}, a name private to it")
        output.new_line()
