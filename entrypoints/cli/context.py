"""What every `porth` command shares: its settings, the clock and the exit statuses.

Every operator error (bad setting, unreachable directory or database) ends
the command with one line on stderr saying what to fix, never a traceback
(entrypoints.cli.main turns them into that line).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import click

from config.settings import Settings, settings_from_environment

EXIT_FAILURE = 1
EXIT_CONFIGURATION = 2
EXIT_NOT_RUNNING = 3  # what a status command answers for a service that is stopped (as LSB's `status` does)

# Libraries that log every step at INFO: alembic a line per migration check (every command
# checks), httpx a line per Graph request (thousands in one sync), APScheduler three per job
# run. Porth logs what matters of each itself (a job's outcome, a command's result), so these
# speak only at WARNING unless PORTH_LOG_LEVEL=DEBUG asks for everything.
CHATTY_LIBRARIES = ("alembic", "httpx", "httpcore", "apscheduler")


def utc_now() -> datetime:
    return datetime.now(UTC)


def settings_of(ctx: click.Context) -> Settings:
    """The settings of this command, read from the environment once."""
    obj = ctx.find_root().ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = settings_from_environment()
        configure_logging(obj["settings"].log_level, obj["settings"].log_format)
    return obj["settings"]


def configure_logging(level: str, log_format: str) -> None:
    """The process's log level (PORTH_LOG_LEVEL) and format (PORTH_LOG_FORMAT: text, or json for a
    log collector; webui/logs.py), with the chatty libraries held at WARNING below DEBUG."""
    from webui import logs

    logs.install(level, log_format)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def unreachable_directory_line(settings: Settings, error: Exception) -> str:
    """What to tell an operator whose command could not reach the directory: that the private
    slapd is stopped and how to start it, or for an external one what to check."""
    return stopped_directory_line(settings) or (
        f"{error}: check that the directory runs and answers there (PORTH_LDAP__URL)")


def stopped_directory_line(settings: Settings) -> str | None:
    """What to tell an operator whose command found the private slapd stopped; None when the
    directory is external or the private slapd runs (then the error's own line says more)."""
    from directory.slapd import private_slapd_for

    if not settings.ldap.embedded:
        return None
    slapd = private_slapd_for(settings)
    if slapd.is_running:
        return None
    return (f"the directory is stopped (the private slapd of {settings.var_dir}, {slapd.url}): "
            "start it with `porth directory start`")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """"1 record error", "2 record errors": the command line speaks English only (the portal and
    the sign-in pages are the Welsh-speaking faces), so English plurals are all it needs."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
