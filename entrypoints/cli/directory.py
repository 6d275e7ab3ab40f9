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
# A replicating node waits this long to hold what its providers hold before it says it is up:
# a first refresh of a national directory (~510k entries, slapd adds ~17,000 entries/s) takes
# about 30 s; a restart after an outage only the changes it missed.
CATCH_UP_SECONDS = 120.0


@click.group()
def directory() -> None:
    """Manage the private slapd: the embedded default (PORTH_LDAP__URL not set), or a node of a
    replicated directory (PORTH_LDAP__EMBEDDED_ROLE provider or consumer)."""


def _embedded_slapd(settings: Settings):
    from directory.slapd import private_slapd_for

    if not settings.ldap.runs_private_slapd:
        raise click.ClickException(
            f"the directory is external ({settings.ldap.url}); there is no private slapd to manage "
            "(a node of a replicated directory sets PORTH_LDAP__EMBEDDED_ROLE)"
        )
    return private_slapd_for(settings)


def _role(settings: Settings) -> str:
    """`provider 1 replicating with ldap://b:389`, `consumer of ldap://a:389 ldap://b:389`."""
    ldap = settings.ldap
    peers = ldap.replicate_from or ""
    if ldap.embedded_role == "provider":
        with_whom = f" replicating with {peers}" if peers else " (no other provider)"
        return f"provider {ldap.embedded_server_id}{with_whom}"
    return f"consumer of {peers}"


def _bring_up(settings: Settings, slapd) -> str:
    """What follows slapd's start: a standalone server or a provider gets the DIT (initialise); a
    replicating node first catches up with its providers, so that a provider joining others never
    creates a second copy of entries they already have (two entries of one DN from two servers
    are a replication conflict). A consumer creates nothing: it holds what its providers hold.
    Returns what to say about replication ("" for a standalone server)."""
    role = settings.ldap.embedded_role
    if role == "standalone":
        _initialise(settings)
        return ""
    states = slapd.wait_in_step(CATCH_UP_SECONDS)
    behind = [state.url for state in states if state.behind]
    if behind:
        click.echo(f"porth: the private slapd is still behind {' '.join(behind)} after {CATCH_UP_SECONDS:.0f} s; "
                   "it goes on replicating (`porth directory status` says when it is in step)", err=True)
    elif role == "provider":
        _initialise(settings)
    return f" as {_role(settings)}" + "".join(f"; {state.describe()}" for state in states)


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
    replication = _bring_up(settings, slapd)
    click.echo(f"slapd {'started' if started else 'already running'} on {slapd.url} (pid {slapd.pid()}){replication}")


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
    if settings.ldap.embedded_role != "standalone":
        _replication_status(ctx, settings)
        return
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


def _replication_status(ctx: click.Context, settings: Settings) -> None:
    """A node of a replicated directory: its own slapd, and how it stands with each provider."""
    from directory.errors import SlapdError

    slapd = _embedded_slapd(settings)
    if not slapd.is_running:
        click.echo(f"the directory is stopped (the private slapd of {settings.var_dir}, {slapd.url}, "
                   f"{_role(settings)}): start it with `porth directory start`")
        ctx.exit(EXIT_NOT_RUNNING)
    try:
        states = slapd.peer_states()
    except SlapdError as exc:
        click.echo(f"porth: the private slapd at {slapd.url} runs but does not answer: {exc}", err=True)
        ctx.exit(EXIT_FAILURE)
    click.echo(f"directory at {slapd.url} answers, {_role(settings)}")
    for state in states:
        click.echo(f"  {state.describe()}")


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
        replication = _bring_up(settings, slapd)
        click.echo(f"slapd running on {slapd.url} (pid {pid}){replication}; SIGTERM or Ctrl-C stops it")
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
