"""`porth serve`: the web server (gunicorn), with the private slapd when the directory is embedded."""

from __future__ import annotations

import click

from config.settings import ConfigError
from entrypoints.cli.context import settings_of


@click.command()
@click.option("--host", help="Address to listen on (default: web.host).")
@click.option("--port", type=int, help="Port to listen on (default: web.port).")
@click.option("--workers", type=int, help="Gunicorn worker processes (default: web.workers).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the web server (gunicorn). With the embedded directory, also runs
    the private slapd for as long as the server runs (Ctrl-C stops both)."""
    from entrypoints.gunicorn import prepare_metrics_folder, run_gunicorn

    settings = settings_of(ctx)
    bind_host = host or settings.web.host
    bind_port = port or settings.web.port
    # Before the imports below, which reach the modules that define Porth's metrics.
    metrics = prepare_metrics_folder(settings, bind_port)

    from entrypoints.runtime import build_runtime, directory_running
    from idp.provider import signing_files
    from idp.signing import SignatureRefused, load_signing_key

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
        run_gunicorn(settings, bind_host, bind_port, workers or settings.web.effective_workers, metrics)
