"""`porth backup DIR` and `porth restore DIR [--force]` (entrypoints/backup.py does the work)."""

from __future__ import annotations

from pathlib import Path

import click

from config.settings import load_settings
from entrypoints.cli.context import EXIT_FAILURE, configure_logging


@click.command("backup")
@click.argument("target", type=click.Path(path_type=Path))
@click.pass_context
def backup(ctx: click.Context, target: Path) -> None:
    """Back up the directory, the operational database and every secret into the new folder TARGET
    (files 0600 in a folder 0700, with a manifest of SHA-256s). It holds every key: keep it encrypted."""
    from entrypoints.backup import BackupError, back_up

    # As read, before the missing secrets are filled in: which ones the settings give themselves
    # decides which are in var/secrets (and so in the backup).
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        report = back_up(settings, target)
    except BackupError as exc:
        click.echo(f"porth: {exc}", err=True)
        ctx.exit(EXIT_FAILURE)
    for note in report.notes:
        click.echo(f"note: {note}")
    total = sum(int(entry["bytes"]) for entry in report.files.values())
    click.echo(f"backed up {len(report.files)} files ({total:,} bytes) to {report.target}: "
               f"{', '.join(sorted(report.files))}")


@click.command("restore")
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--force", is_flag=True, help="Replace the data already in the data folder (it says what).")
@click.option("--secrets-to", type=click.Path(path_type=Path, file_okay=False),
              help="Write the backup's secrets into this new folder instead of var/secrets (needed when "
                   "PORTH_SECRETS__DIR names the deployment's secrets, which Porth only reads).")
@click.pass_context
def restore(ctx: click.Context, source: Path, force: bool, secrets_to: Path | None) -> None:
    """Restore a backup made by `porth backup` into a fresh data folder (PORTH_VAR_DIR), after
    checking every file against the manifest. The private slapd must be stopped."""
    from entrypoints.backup import BackupError
    from entrypoints.backup import restore as restore_backup

    # Not settings_of(): that generates every missing secret, and the backup's are the ones to use.
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        report = restore_backup(settings, source, force=force, secrets_to=secrets_to)
    except BackupError as exc:
        click.echo(f"porth: {exc}", err=True)
        ctx.exit(EXIT_FAILURE)
    for replaced in report.replaced:
        click.echo(f"replaced (--force): {replaced}")
    for note in report.notes:
        click.echo(f"note: {note}")
    click.echo(f"restored from {source}: {', '.join(report.restored)}")
    if secrets_to is not None:
        click.echo(f"next: install the secrets in {secrets_to} as the deployment's (PORTH_SECRETS__DIR), readable "
                   "by the user Porth runs as only")
    click.echo("next: `porth db upgrade`, then start Porth (`porth directory start`, `porth serve`)")
