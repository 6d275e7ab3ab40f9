"""What every `porth` command shares: its settings, the clock and the exit statuses.

Every operator error (bad setting, unreachable directory or database) ends
the command with one line on stderr saying what to fix, never a traceback
(entrypoints.cli.main turns them into that line).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from config.settings import Settings, settings_from_environment

EXIT_FAILURE = 1
EXIT_CONFIGURATION = 2


def utc_now() -> datetime:
    return datetime.now(UTC)


def settings_of(ctx: click.Context) -> Settings:
    """The settings of this command, read from the environment once."""
    obj = ctx.find_root().ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = settings_from_environment()
    return obj["settings"]
