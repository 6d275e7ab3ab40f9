"""What axe-core finds wrong with a page that would stop someone using it, and the screenshots a
person looks at: one definition for every browser test."""

from __future__ import annotations

import shutil
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
BLOCKING = ("serious", "critical")  # axe-core's impacts that keep someone from using the page


def serious_problems(page, where: str) -> list[str]:
    """axe-core's serious and critical violations of the page as it is now, each naming `where`
    and the first three elements at fault; [] when there are none."""
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state("load")
    return [f"{where}: {violation['id']} ({violation['impact']}) {[n['target'] for n in violation['nodes']][:3]}"
            for violation in Axe().run(page).response["violations"] if violation["impact"] in BLOCKING]


def keep_screenshot(page, tmp_path: Path, name: str, *, full_page: bool = True) -> Path:
    """The page as it looks now, in var/screenshots/<name>.png for a person to look at."""
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=full_page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    return shot
