"""Finding the export bundles behind the paths given to `porth provision`.

A path is a file (a CTF .xml, or a learners.csv / staff.csv) or a folder.
A folder holding OneRoster (users.csv + orgs.csv) or Porth CSV files is one
bundle; otherwise the CTF files in it are grouped by the school their header
names (Header/SourceSchool LEA + Estab: a school whose MIS writes its CTF in
several files has one export, not one per file), and each sub-folder is
looked at the same way (a folder of per-school exports).
"""

from __future__ import annotations

import re
from pathlib import Path

from connectors.mis.records import FormatRefused
from connectors.mis.text import MAX_FILE_BYTES

BUNDLE_MARKERS = {"users.csv", "orgs.csv", "learners.csv", "staff.csv"}
# The CTF header comes first and is small; this much is read to find its school.
HEADER_PEEK_BYTES = 64 * 1024
_SOURCE_SCHOOL = re.compile(
    rb"<(?:\w+:)?SourceSchool\b[^>]*>(?P<body>.*?)</(?:\w+:)?SourceSchool\s*>", re.DOTALL)
_LEA = re.compile(rb"<(?:\w+:)?LEA\s*>\s*([0-9]{3})\s*</", re.DOTALL)
_ESTAB = re.compile(rb"<(?:\w+:)?Estab\s*>\s*([0-9]{4})\s*</", re.DOTALL)


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FormatRefused(f"{path}: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return path.read_bytes()


def find_bundles(paths: list[Path]) -> list[tuple[str, list[Path]]]:
    """Every export bundle under the paths, as (name, files), without reading them.

    CTF files named one by one are grouped by school like those of a folder."""
    found: list[tuple[str, list[Path]]] = []
    for path in paths:
        if not path.exists():
            raise FormatRefused(f"{path}: no such file or folder")
    given_ctf = [path for path in paths if path.is_file() and path.suffix.lower() == ".xml"]
    found.extend(_ctf_bundles(given_ctf))
    for path in paths:
        if path not in given_ctf:
            found.extend(_bundles(path))
    return found


def read_bundle(files: list[Path]) -> dict[str, bytes]:
    return {str(path): _read(path) for path in files}


def ctf_school(head: bytes) -> str | None:
    """The DfES number in a CTF's Header/SourceSchool, from the first bytes of the file;
    None when it is not there (the file is then a bundle of its own, and its parser says why)."""
    found = _SOURCE_SCHOOL.search(head)
    if found is None:
        return None
    lea, estab = _LEA.search(found.group("body")), _ESTAB.search(found.group("body"))
    return (lea.group(1) + estab.group(1)).decode("ascii") if lea and estab else None


def _peek(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(HEADER_PEEK_BYTES)


def _ctf_bundles(files: list[Path]) -> list[tuple[str, list[Path]]]:
    """One bundle per school named in the CTF headers; a file whose header cannot be read is
    a bundle of its own."""
    groups: dict[str, list[Path]] = {}  # school (or the file itself) -> its files, in folder order
    for path in files:
        school = ctf_school(_peek(path))
        groups.setdefault(f"school {school}" if school else str(path), []).append(path)
    return [(str(group[0]) if len(group) == 1 else f"{group[0].parent} ({key}, {len(group)} CTF files)", group)
            for key, group in groups.items()]


def _bundles(path: Path) -> list[tuple[str, list[Path]]]:
    if path.is_file():
        return [(str(path), [path])]
    children = sorted(path.iterdir())
    names = {child.name.lower() for child in children if child.is_file()}
    if names & BUNDLE_MARKERS:
        return [(str(path), [c for c in children if c.is_file() and c.suffix.lower() in (".csv", ".xml")])]
    found = _ctf_bundles([c for c in children if c.is_file() and c.suffix.lower() == ".xml"])
    for child in children:
        if child.is_dir() and not child.name.startswith("."):
            found.extend(_bundles(child))
    return found
