"""`porth demo`: the demo as a new user should see it, in one foreground command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import click


@click.command("demo")
@click.option("--host", help="Address to listen on (default: web.host).")
@click.option("--port", type=int, help="Port of the web server (default: web.port).")
@click.option("--graph-port", type=int, default=8765, show_default=True, help="Port of the fake Microsoft Graph.")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None, graph_port: int) -> None:
    """Serve the demo: the web server, the scheduler, and a fake Microsoft Graph (the real
    one cannot be reached from a demo), so licences and usernames are seen being applied."""
    from connectors.graph.fake import FakeGraph
    from webui.cli import _settings
    from webui.runtime import directory_running

    settings = _settings(ctx)
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
    serve = [sys.executable, "-m", "webui.cli", "serve"] + (["--host", host] if host else []) + \
        (["--port", str(port)] if port else [])
    # The directory is started here, so the scheduler and the web server both find it running.
    with directory_running(settings):
        scheduler = subprocess.Popen([sys.executable, "-m", "webui.cli", "scheduler"], env=env)
        try:
            subprocess.run(serve, env=env)
        except KeyboardInterrupt:
            pass
        finally:
            scheduler.send_signal(signal.SIGINT)  # as Ctrl-C would: the scheduler stops between jobs
            try:
                scheduler.wait(timeout=15)
            except subprocess.TimeoutExpired:
                scheduler.kill()
            fake.stop()
