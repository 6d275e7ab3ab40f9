"""`porth demo-data` (realistic MIS exports), `porth load-demo` (the demo local authority) and
`porth demo` (serve it, as a new user should see it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from demo import exports as demo_exports
from demo.files import write_demo_exports
from entrypoints.cli.context import counted, settings_of, utc_now

DEFAULT_GRAPH_PORT = 8765
CLASS_APP_PORT = 8766  # demo/class_app.py
SETTLE_SECONDS = 1.0  # how long the demo's processes have to stop on a Ctrl-C of their own before they are told
STOP_SECONDS = 3  # then how long each has to stop before it is made to


@click.command("demo")
@click.option("--host", help="Address to listen on (default: web.host).")
@click.option("--port", type=int, help="Port of the web server (default: web.port).")
@click.option("--graph-port", type=int, default=DEFAULT_GRAPH_PORT, show_default=True,
              help="Port of the fake Microsoft Graph.")
@click.option("--class-app-port", type=int, default=CLASS_APP_PORT, show_default=True,
              help="Port of the demo's class app, a service that takes badges.")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None, graph_port: int, class_app_port: int) -> None:
    """Serve the demo: the web server, the scheduler, and a fake Microsoft Graph (the real
    one cannot be reached from a demo), so licences and usernames are seen being applied.
    Once the portal answers it prints where to go and whom to sign in as."""
    from demo.class_app import ClassApp
    from demo.fake_graph import FakeGraph
    from demo.loader import demo_sign_ins
    from entrypoints.runtime import build_runtime, directory_running

    settings = settings_of(ctx)
    web_host, web_port = host or settings.web.host, port or settings.web.port
    # The portal signs in through the IdP at its base URL: on another port than the default, the
    # demo's IdP is where the demo serves, unless PORTH_IDP__BASE_URL says otherwise.
    base_url = os.environ.get("PORTH_IDP__BASE_URL") or by_name(
        settings.idp.base_url if (host, port) == (None, None) else f"http://{_reachable(web_host)}:{web_port}")
    # The demo's services: those configured (Office 365), and its class app, which takes badges.
    try:
        class_app = ClassApp(class_app_port, base_url, settings.var_dir)
    except OSError as exc:
        raise click.ClickException(f"the class app cannot listen on port {class_app_port} ({exc.strerror}): "
                                   "choose another with --class-app-port") from None
    services_dir = demo_services(settings.idp.services_dir, settings.var_dir / "demo-services")
    class_app.register(services_dir)
    fake = FakeGraph().start(graph_port)
    class_app.start()
    env = {**os.environ, "PORTH_IDP__BASE_URL": base_url, "PORTH_IDP__SERVICES_DIR": str(services_dir),
           "PORTH_GRAPH__ENABLED": "true", "PORTH_GRAPH__TENANT_ID": fake.settings.tenant,
           "PORTH_GRAPH__CLIENT_ID": fake.settings.client_id, "PORTH_GRAPH__CLIENT_SECRET": fake.settings.client_secret,
           "PORTH_GRAPH__AUTHORITY": fake.authority, "PORTH_GRAPH__AUTHORITY_SERVER": fake.url,
           "PORTH_GRAPH__GRAPH_URL": fake.graph_url,
           # A demo shows changes within a minute, not within the production hour.
           "PORTH_GRAPH__SYNC_MINUTES": "1", "PORTH_GRAPH__CONSENT_MINUTES": "1",
           "PORTH_JOBS__USERNAME_CHANGE_MINUTES": "1"}
    click.echo(f"Fake Microsoft Graph at {fake.graph_url} (tenant {fake.settings.tenant}); the scheduler syncs "
               "every minute")
    serve = [sys.executable, "-m", "entrypoints.cli", "serve", "--host", web_host, "--port", str(web_port)]
    # The web server's own start-up lines (gunicorn's workers booting) would come after the block
    # below; at WARNING it still logs every request and every problem.
    serve_env = {**env, "PORTH_LOG_LEVEL": os.environ.get("PORTH_LOG_LEVEL", "WARNING")}
    # The directory is started here, so the scheduler and the web server both find it running.
    with directory_running(settings):
        with build_runtime(settings) as runtime:
            sign_ins = demo_sign_ins(runtime)
        # Each process of the demo and the signal that stops it at once: the scheduler stops on
        # SIGTERM as on Ctrl-C, gunicorn's quick stop is SIGINT (its SIGTERM waits for requests).
        processes: list[tuple[subprocess.Popen, signal.Signals]] = []
        previous_terminate = signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: as Ctrl-C
        try:
            processes.append((subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "scheduler"], env=env),
                              signal.SIGTERM))
            server = subprocess.Popen(serve, env=serve_env)
            processes.append((server, signal.SIGINT))
            if _wait_until_answering(f"http://{_reachable(web_host)}:{web_port}/healthz", server):
                click.echo(ready_block(by_name(f"http://{_reachable(web_host)}:{web_port}/"), base_url,
                                       fake.graph_url, sign_ins, second_factor_first=bool(settings.mfa.required_roles),
                                       class_app=class_app.url))
            server.wait()
            click.echo(f"porth: the web server stopped (exit status {server.returncode}); stopping the demo",
                       err=True)
        except KeyboardInterrupt:
            click.echo("\nStopping the demo: the web server, the scheduler, the fake Graph and the directory...")
        finally:
            signal.signal(signal.SIGTERM, previous_terminate)
            with contextlib.suppress(KeyboardInterrupt):  # an impatient second Ctrl-C: the stopping goes on
                _stop(processes)
                fake.stop()
                class_app.stop()
    click.echo("Demo stopped. `make demo` (or `porth demo`) starts it again with the same data.")


def demo_services(configured: Path, folder: Path) -> Path:
    """The demo's services folder, made afresh from the configured one at each start (its own
    services join it there), so the configured folder, config/services/ in the checkout, is never written."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.suffix in (".xml", ".toml"):
            old.unlink()
    if configured.resolve() != folder.resolve() and configured.is_dir():
        for source in configured.iterdir():
            if source.suffix in (".xml", ".toml"):
                shutil.copyfile(source, folder / source.name)
    return folder


def ready_block(home: str, base_url: str, graph_url: str, sign_ins, second_factor_first: bool = False,
                class_app: str | None = None) -> str:
    """What a newcomer needs once the demo answers, in one block: where to go, whom to sign in as,
    how to stop. The portal's address comes last, the line to click."""
    rule = "=" * 78
    width = max((len(who) for who, _u, _p in sign_ins), default=0)
    lines = [rule, "Porth demo is ready.",
             f"  Home page (every school and its accounts): {home}",
             f"  Microsoft 365 of the demo: a fake Graph at {graph_url}, synced every minute",
             "  Sign in to the User Management Portal as (username / password):"]
    lines += [f"    {who:{width}}  {username} / {password}" for who, username, password in sign_ins]
    if second_factor_first:  # else the champion's first sign-in seems to stop at a page nobody mentioned
        lines += ["  Digital champions and administrators set up a second factor at their first sign-in",
                  "  (an authenticator app's codes, or a security key or passkey), then the portal opens."]
    if class_app:
        lines += [f"  A service that takes badges (print them in the portal's Badges): {class_app}/"]
    lines += [f"  User Management Portal: {base_url}/portal/",
              "  Ctrl-C stops the demo.", rule]
    return "\n".join(lines)


def by_name(url: str) -> str:
    """The demo's own address with `localhost` for 127.0.0.1: a security key (WebAuthn) is made for
    a host name, never an IP address, and browsers treat http://localhost as secure, so the demo's
    second factors can be set up (docs/sign-in.md)."""
    return url.replace("://127.0.0.1:", "://localhost:", 1)


def _reachable(host: str) -> str:
    """An address to reach a server listening on `host` (0.0.0.0 and :: are not)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - recognised, not bound


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _wait_until_answering(url: str, server: subprocess.Popen, timeout: float = 120) -> bool:
    """Until the web server answers (True), or exits or never answers (False): bounded polling."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http URL
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop(processes: list[tuple[subprocess.Popen, signal.Signals]]) -> None:
    """Ctrl-C in a terminal reaches every process of the demo, but not when only this one was
    stopped (a SIGTERM, the web server ending by itself, or a shell that started the demo with
    Ctrl-C ignored): each still running after a moment is told (a moment, so that the telling
    does not land in the middle of the stopping it would repeat). Each has STOP_SECONDS more to
    end, then is ended."""
    import time

    moment = time.monotonic() + SETTLE_SECONDS
    for process, stop_signal in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, moment - time.monotonic()))
        if process.poll() is None:
            process.send_signal(stop_signal)
    for process, _signal in processes:
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
        f"Demo authority: {counted(report.schools_added, 'school')} added, "
        f"{counted(report.accounts_created, 'account')} created, "
        f"{counted(report.record_errors, 'MIS record error')} in the workflow logs."
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
