"""The demo's MIS exports written to a folder, as a school's MIS would leave them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from demo import exports as demo_exports


def write_demo_exports(out: Path, specs: list[demo_exports.SchoolSpec], seed: int,
                       echo: Callable[[str], object] = print) -> tuple[int, int, int]:
    """Write schools.csv and one folder per school; returns (schools, learners, staff)."""
    out.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).date()
    learners = staff = 0
    for index, (spec, files) in enumerate(demo_exports.iter_school_files(specs, seed, today), start=1):
        folder = out / spec.dfes
        folder.mkdir(exist_ok=True)
        for name, data in files.items():
            _write_atomically(folder / name, data)
        learners += spec.learners
        staff += spec.staff
        if index % 100 == 0 or index == len(specs):
            echo(f"  {index}/{len(specs)} schools written")
    # Written last: a folder with schools.csv is a complete set of exports.
    _write_atomically(out / "schools.csv", demo_exports.schools_csv(specs))
    return len(specs), learners, staff


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    temporary.replace(path)
