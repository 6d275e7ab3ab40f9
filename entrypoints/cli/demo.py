"""`porth demo-data` (realistic MIS exports), `porth load-demo` (the demo local authority) and
`porth demo` (serve it, as a new user should see it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from demo import exports as demo_exports
from demo.files import write_demo_exports
from entrypoints.cli.context import settings_of, utc_now


@click.command("demo")
@click.option("--host", help="Address to listen on (default: web.host).")
@click.option("--port", type=int, help="Port of the web server (default: web.port).")
@click.option("--graph-port", type=int, default=8765, show_default=True, help="Port of the fake Microsoft Graph.")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None, graph_port: int) -> None:
    """Serve the demo: the web server, the scheduler, and a fake Microsoft Graph (the real
    one cannot be reached from a demo), so licences and usernames are seen being applied."""
    from demo.fake_graph import FakeGraph
    from entrypoints.runtime import directory_running

    settings = settings_of(ctx)
    fake = FakeGraph().start(graph_port)
    env = {**os.environ, "PORTH_GRAPH__ENABLED": "true", "PORTH_GRAPH__TENANT_ID": fake.settings.tenant,
           "PORTH_GRAPH__CLIENT_ID": fake.settings.client_id, "PORTH_GRAPH__CLIENT_SECRET": fake.settings.client_secret,
           "PORTH_GRAPH__AUTHORITY": fake.authority, "PORTH_GRAPH__AUTHORITY_SERVER": fake.url,
           "PORTH_GRAPH__GRAPH_URL": fake.graph_url,
           # A demo shows changes within a minute, not within the production hour.
           "PORTH_GRAPH__SYNC_MINUTES": "1", "PORTH_GRAPH__CONSENT_MINUTES": "1",
           "PORTH_JOBS__USERNAME_CHANGE_MINUTES": "1"}
    click.echo(f"Fake Microsoft Graph at {fake.graph_url} (tenant {fake.settings.tenant}); the scheduler syncs "
               "every minute")
    serve = [sys.executable, "-m", "entrypoints.cli", "serve"] + (["--host", host] if host else []) + \
        (["--port", str(port)] if port else [])
    # The directory is started here, so the scheduler and the web server both find it running.
    with directory_running(settings):
        scheduler = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "scheduler"], env=env)
        try:
            subprocess.run(serve, env=env, check=False)  # ended by Ctrl-C, so its exit status says nothing
        except KeyboardInterrupt:
            pass
        finally:
            scheduler.send_signal(signal.SIGINT)  # as Ctrl-C would: the scheduler stops between jobs
            try:
                scheduler.wait(timeout=15)
            except subprocess.TimeoutExpired:
                scheduler.kill()
            fake.stop()


@click.command("load-demo")
@click.pass_context
def load_demo_command(ctx: click.Context) -> None:
    """Load the demo local authority: generated MIS exports, provisioned (again: changes nothing)."""
    from demo.loader import load_demo
    from entrypoints.runtime import build_runtime, directory_running

    settings = settings_of(ctx)
    with directory_running(settings), build_runtime(settings) as runtime:
        runtime.db.migrate()
        report = load_demo(runtime, utc_now(), echo=click.echo)
    click.echo(
        f"Demo authority: {report.schools_added} schools added, {report.accounts_created} accounts created, "
        f"{report.record_errors} MIS record errors in the workflow logs."
    )
    base = settings.idp.base_url
    for who, username, password in report.sign_ins:
        click.echo(f"User management ({base}/portal/) as the {who}: {username} / {password}")


@click.command("demo-data")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Folder to write into.")
@click.option("--schools", "count", type=click.IntRange(1, 5000), default=6, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--wales", is_flag=True, help="National scale: ~1,470 schools, ~470,000 learners, ~40,000 staff.")
@click.option("--format", "fmt", type=click.Choice(["all", *demo_exports.FORMATS]), default="all", show_default=True,
              help="Every school in one format, or the three formats in turn.")
@click.option("--la", "la_code", default="661", show_default=True, help="LA code of the schools (not with --wales).")
def demo_data(out: Path, count: int, seed: int, wales: bool, fmt: str, la_code: str) -> None:
    """Generate realistic MIS exports (CTF, OneRoster, Porth CSV) and a schools.csv register."""
    specs = demo_exports.wales_specs(seed, fmt) if wales else demo_exports.school_specs(count, seed, fmt, (la_code,))
    schools, learners, staff = write_demo_exports(out, specs, seed, echo=click.echo)
    click.echo(f"Wrote exports of {schools} schools ({learners} learners, {staff} staff) to {out}")
    click.echo(f"Next: porth schools import {out / 'schools.csv'} && porth provision {out}")
