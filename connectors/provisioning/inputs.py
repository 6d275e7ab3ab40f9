"""Finding the export bundles behind the paths given to `porth provision`.

A path is a file (a CTF .xml, or a learners.csv / staff.csv) or a folder.
A folder holding OneRoster (users.csv + orgs.csv) or Porth CSV files is one
bundle; otherwise each CTF file in it is a bundle and each sub-folder is
looked at the same way (a folder of per-school exports).
"""

from __future__ import annotations

from pathlib import Path

from connectors.mis.records import FormatRefused
from connectors.mis.text import MAX_FILE_BYTES

BUNDLE_MARKERS = {"users.csv", "orgs.csv", "learners.csv", "staff.csv"}


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FormatRefused(f"{path}: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return path.read_bytes()


def find_bundles(paths: list[Path]) -> list[tuple[str, list[Path]]]:
    """Every export bundle under the paths, as (name, files), without reading them."""
    found: list[tuple[str, list[Path]]] = []
    for path in paths:
        if not path.exists():
            raise FormatRefused(f"{path}: no such file or folder")
        found.extend(_bundles(path))
    return found


def read_bundle(files: list[Path]) -> dict[str, bytes]:
    return {str(path): _read(path) for path in files}


def _bundles(path: Path) -> list[tuple[str, list[Path]]]:
    if path.is_file():
        return [(str(path), [path])]
    children = sorted(path.iterdir())
    names = {child.name.lower() for child in children if child.is_file()}
    if names & BUNDLE_MARKERS:
        return [(str(path), [c for c in children if c.is_file() and c.suffix.lower() in (".csv", ".xml")])]
    found: list[tuple[str, list[Path]]] = []
    for child in children:
        if child.is_file() and child.suffix.lower() == ".xml":
            found.append((str(child), [child]))
        elif child.is_dir() and not child.name.startswith("."):
            found.extend(_bundles(child))
    return found
