"""The `porth` command line.

Every operator error (bad setting, unreachable directory or database) ends
the command with one line on stderr saying what to fix, never a traceback.
"""

from __future__ import annotations

import logging
import signal
import sys
from datetime import datetime, timezone

import click

from config.settings import ConfigError, Settings, settings_from_environment
from directory.errors import DirectoryError
from directory.operational.db import OperationalStoreError

EXIT_FAILURE = 1
EXIT_CONFIGURATION = 2


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _settings(ctx: click.Context) -> Settings:
    if "settings" not in ctx.obj:
        ctx.obj["settings"] = settings_from_environment()
    return ctx.obj["settings"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Porth: accounts for a nation's schools."""
    ctx.ensure_object(dict)


# -- the web server -----------------------------------------------------------
@cli.command()
@click.option("--host", help="Address to listen on (default: web.host).")
@click.option("--port", type=int, help="Port to listen on (default: web.port).")
@click.option("--workers", type=int, help="Gunicorn worker processes (default: web.workers).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the web server (gunicorn). With the embedded directory, also runs
    the private slapd for as long as the server runs (Ctrl-C stops both)."""
    from webui.runtime import build_runtime, directory_running
    from webui.wsgi_server import run_gunicorn

    from idp.provider import signing_files
    from idp.signing import SignatureRefused, load_signing_key

    settings = _settings(ctx)
    bind_host = host or settings.web.host
    bind_port = port or settings.web.port
    try:  # made here, before the workers start: they all load the same pair
        load_signing_key(*signing_files(settings))
    except SignatureRefused as exc:
        raise ConfigError(f"PORTH_IDP__SIGNING_KEY_FILE: {exc}") from None
    with directory_running(settings) as slapd:
        with build_runtime(settings) as runtime:
            if slapd is not None:
                runtime.store.initialise()  # a fresh private directory gets its DIT
            runtime.store.check()
            runtime.db.migrate()
        if slapd is not None:
            click.echo(f"Directory: private slapd on {slapd.url} (data in {slapd.root})")
        click.echo(f"Porth is at http://{bind_host}:{bind_port}/  (Ctrl-C stops it)")
        click.echo(f"Sign-in (SAML IdP): metadata at {settings.idp.base_url}/idp/metadata, "
                   f"services from {settings.idp.services_dir}/")
        run_gunicorn(settings, bind_host, bind_port, workers or settings.web.effective_workers)


# -- demo ---------------------------------------------------------------------
@cli.command("load-demo")
@click.pass_context
def load_demo_command(ctx: click.Context) -> None:
    """Load the demo local authority: generated MIS exports, provisioned (again: changes nothing)."""
    from webui.demo import load_demo
    from webui.runtime import build_runtime, directory_running

    settings = _settings(ctx)
    with directory_running(settings):
        with build_runtime(settings) as runtime:
            runtime.db.migrate()
            report = load_demo(runtime, _now(), echo=click.echo)
    click.echo(
        f"Demo authority: {report.schools_added} schools added, {report.accounts_created} accounts created, "
        f"{report.record_errors} MIS record errors in the workflow logs."
    )
    base = settings.idp.base_url
    for who, username, password in report.sign_ins:
        click.echo(f"User management ({base}/portal/) as the {who}: {username} / {password}")


# -- the directory ------------------------------------------------------------
@cli.group()
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
    from webui.runtime import build_runtime

    with build_runtime(settings) as runtime:
        return runtime.store.initialise()


@directory.command("start")
@click.pass_context
def directory_start(ctx: click.Context) -> None:
    """Start the private slapd in the background and create the DIT."""
    settings = _settings(ctx)
    slapd = _embedded_slapd(settings)
    started = slapd.start()
    _initialise(settings)
    click.echo(f"slapd {'started' if started else 'already running'} on {slapd.url} (pid {slapd.pid()})")


@directory.command("stop")
@click.pass_context
def directory_stop(ctx: click.Context) -> None:
    """Stop the private slapd."""
    slapd = _embedded_slapd(_settings(ctx))
    click.echo("slapd stopped" if slapd.stop() else "slapd was not running")


@directory.command("status")
@click.pass_context
def directory_status(ctx: click.Context) -> None:
    """Say whether the directory answers."""
    from webui.runtime import build_runtime

    settings = _settings(ctx)
    with build_runtime(settings) as runtime:
        runtime.store.check()
    click.echo(f"directory at {settings.ldap.effective_url} answers as {settings.ldap.effective_bind_dn}")


@directory.command("run")
@click.pass_context
def directory_run(ctx: click.Context) -> None:
    """Run the private slapd in the foreground until SIGTERM/Ctrl-C (for containers)."""
    settings = _settings(ctx)
    slapd = _embedded_slapd(settings)
    slapd.start()
    try:
        _initialise(settings)
        click.echo(f"slapd running on {slapd.url}; SIGTERM or Ctrl-C stops it")
        stop = {"now": False}

        def _stop(_signum, _frame):
            stop["now"] = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop["now"] and slapd.is_running:
            signal.pause()
    finally:
        slapd.stop()


# -- the operational database ---------------------------------------------------
@cli.group()
def db() -> None:
    """The operational database (audit log, workflow runs)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the database migrations (idempotent)."""
    from directory.operational.db import Database

    settings = _settings(ctx)
    database = Database(settings.database_url)
    try:
        database.migrate()
        click.echo(f"operational database at revision {database.current_revision()}")
    finally:
        database.dispose()


# -- settings -------------------------------------------------------------------
@cli.command("settings")
@click.pass_context
def show_settings(ctx: click.Context) -> None:
    """Print the effective settings (secrets are never shown)."""
    settings = _settings(ctx)
    click.echo(settings.model_dump_json(indent=2))


def _register_commands() -> None:
    from webui.data_cli import demo_data, schools
    from webui.demo_cli import demo
    from webui.jobs_cli import jobs, scheduler
    from webui.provisioning_cli import provision, status

    for command in (provision, status, demo_data, schools, scheduler, jobs, demo):
        cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cli.main(args=argv, prog_name="porth", standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"porth: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIGURATION)
    except (DirectoryError, OperationalStoreError) as exc:
        click.echo(f"porth: {exc}", err=True)
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()
