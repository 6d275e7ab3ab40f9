"""The `porth` command line: one group, the commands of entrypoints/cli/*.

Every operator error (bad setting, unreachable directory or database) ends
the command with one line on stderr saying what to fix, never a traceback.
"""

from __future__ import annotations

import sys

import click

from config.settings import ConfigError, settings_from_environment
from directory.errors import DirectoryError, DirectoryUnavailable
from entrypoints.cli import (
    administrators,
    backup,
    claims,
    demo,
    directory,
    jobs,
    m365,
    provisioning,
    schools,
    secrets,
    serve,
)
from entrypoints.cli.context import (
    EXIT_CONFIGURATION,
    EXIT_FAILURE,
    configure_logging,
    settings_of,
    unreachable_directory_line,
)
from operational.db import OperationalStoreError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Porth: accounts for a nation's schools."""
    ctx.ensure_object(dict)


@cli.command("settings")
@click.pass_context
def show_settings(ctx: click.Context) -> None:
    """Print the effective settings (secrets are never shown)."""
    settings = settings_of(ctx)
    click.echo(settings.model_dump_json(indent=2))


for _command in (serve.serve, demo.load_demo_command, demo.demo, demo.demo_data, directory.directory, directory.db,
                 provisioning.provision, provisioning.status, schools.schools, jobs.scheduler, jobs.jobs, m365.m365,
                 backup.backup, backup.restore, claims.claims, secrets.secrets, administrators.administrators):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    configure_logging("INFO", "text")  # until a command reads PORTH_LOG_LEVEL and PORTH_LOG_FORMAT
    try:
        cli.main(args=argv, prog_name="porth", standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"porth: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIGURATION)
    except DirectoryUnavailable as exc:
        # "invalid server address" says nothing to whoever stopped the private slapd: say it is stopped.
        click.echo(f"porth: {_unreachable_directory(exc)}", err=True)
        sys.exit(EXIT_FAILURE)
    except (DirectoryError, OperationalStoreError) as exc:
        click.echo(f"porth: {exc}", err=True)
        sys.exit(EXIT_FAILURE)


def _unreachable_directory(error: DirectoryUnavailable) -> str:
    try:
        return unreachable_directory_line(settings_from_environment(), error)
    except ConfigError:  # the settings were readable a moment ago; if not now, the error's own line stands
        return str(error)

