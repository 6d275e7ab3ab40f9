"""`porth directory start|stop|status|run` (the private slapd) and `porth db upgrade`."""

from __future__ import annotations

import signal
import threading

import click

from config.settings import Settings
from directory.errors import DirectoryUnavailable
from entrypoints.cli.context import (
    EXIT_FAILURE,
    EXIT_NOT_RUNNING,
    settings_of,
    stopped_directory_line,
    unreachable_directory_line,
)

# -- the directory ------------------------------------------------------------
SLAPD_WATCH_SECONDS = 1.0  # `directory run` notices slapd's death within this
@click.group()
def directory() -> None:
    """Manage the embedded private slapd (only when PORTH_LDAP__URL is not set)."""


def _embedded_slapd(settings: Settings):
    from directory.slapd import private_slapd_for

    if not settings.ldap.embedded:
        raise click.ClickException(
            f"the directory is external ({settings.ldap.url}); there is no private slapd to manage"
        )
    return private_slapd_for(settings)


def _initialise(settings: Settings) -> bool:
    from entrypoints.runtime import build_runtime, check_upn_key

    with build_runtime(settings) as runtime:
        changed = runtime.store.initialise()
        check_upn_key(runtime)  # a new directory records its key now that ou=people exists
        return changed


@directory.command("start")
@click.pass_context
def directory_start(ctx: click.Context) -> None:
    """Start the private slapd in the background and create the DIT."""
    settings = settings_of(ctx)
    slapd = _embedded_slapd(settings)
    started = slapd.start()
    _initialise(settings)
    click.echo(f"slapd {'started' if started else 'already running'} on {slapd.url} (pid {slapd.pid()})")


@directory.command("stop")
@click.pass_context
def directory_stop(ctx: click.Context) -> None:
    """Stop the private slapd."""
    slapd = _embedded_slapd(settings_of(ctx))
    click.echo("slapd stopped" if slapd.stop() else "slapd was not running")


@directory.command("status")
@click.pass_context
def directory_status(ctx: click.Context) -> None:
    """Say whether the directory answers: exit status 0 if it does, 3 if it is stopped (as `status`
    commands answer), 1 if it runs but cannot be reached."""
    from entrypoints.runtime import build_runtime

    settings = settings_of(ctx)
    stopped = stopped_directory_line(settings)
    if stopped is not None:
        click.echo(stopped)  # an answer, not a failure of the command: on stdout
        ctx.exit(EXIT_NOT_RUNNING)
    try:
        with build_runtime(settings) as runtime:
            runtime.store.check()
    except DirectoryUnavailable as exc:
        click.echo(f"porth: {unreachable_directory_line(settings, exc)}", err=True)
        ctx.exit(EXIT_FAILURE)
    click.echo(f"directory at {settings.ldap.effective_url} answers as {settings.ldap.effective_bind_dn}")


@directory.command("duplicates")
@click.pass_context
def directory_duplicates(ctx: click.Context) -> None:
    """List accounts that belong to one learner (the same UPN), made before the directory refused
    a second account; exit status 1 if there are any."""
    from entrypoints.runtime import build_runtime, directory_running

    settings = settings_of(ctx)
    with directory_running(settings), build_runtime(settings) as runtime:
        groups = runtime.store.accounts_sharing_upn_hash()
    for group in groups:
        # Never the UPN or its hash (M-3): the accounts, by username, school and state.
        click.echo(f"one learner, {len(group)} accounts: " + ", ".join(
            f"{a.username} (school {a.school or '-'}, {a.state.value})" for a in group))
    if groups:
        click.echo(f"{len(groups)} learners have more than one account: keep one account of each and delete "
                   "the others; until then no write of their UPN is accepted", err=True)
        ctx.exit(EXIT_FAILURE)
    click.echo("no two accounts share a UPN")


@directory.command("run")
@click.pass_context
def directory_run(ctx: click.Context) -> None:
    """Run the private slapd in the foreground until SIGTERM/Ctrl-C (for containers); exit with
    status 1 if slapd exits on its own, so that the container is restarted (issue 17 point 4)."""
    settings = settings_of(ctx)
    slapd = _embedded_slapd(settings)
    slapd.start()
    pid = slapd.pid()
    try:
        _initialise(settings)
        click.echo(f"slapd running on {slapd.url} (pid {pid}); SIGTERM or Ctrl-C stops it")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
        signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
        # slapd forks into the background (it is not this process's child), so no signal says it
        # died: look every SLAPD_WATCH_SECONDS. signal.pause() alone waited for ever after it died.
        while not stop.wait(SLAPD_WATCH_SECONDS):
            if not slapd.is_running:
                click.echo(f"porth: slapd (pid {pid}) on {slapd.url} exited; stopping so that it is restarted",
                           err=True)
                ctx.exit(EXIT_FAILURE)
    finally:
        slapd.stop()


# -- the operational database ---------------------------------------------------
@click.group()
def db() -> None:
    """The operational database (audit log, workflow runs)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the database migrations (idempotent)."""
    from operational.db import Database

    settings = settings_of(ctx)
    database = Database(settings.database_url)
    try:
        database.migrate()
        click.echo(f"operational database at revision {database.current_revision()}")
    finally:
        database.dispose()
