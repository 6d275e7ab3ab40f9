"""Run the portal under gunicorn (a production WSGI server), in process."""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gunicorn.app.base import BaseApplication

from config.settings import ConfigError, Settings

# prometheus_client's multiprocess mode is chosen by this variable when the library is imported
# (its values module reads it then), so it is set in the master before any import of it; the
# workers, forked from the master, inherit it and import it when they load the app.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class MetricsImportedTooEarly(ConfigError):
    """prometheus_client was imported before its multiprocess folder was set."""


class MetricsFolderInUse(ConfigError):
    """Another `porth serve` of this data folder and port is running."""


@dataclass
class MetricsFolder:
    """Where every worker of this server writes its metrics, held (locked) by this master."""

    path: Path
    _held: TextIO

    def release(self) -> None:
        self._held.close()


def prepare_metrics_folder(settings: Settings, port: int) -> MetricsFolder | None:
    """A fresh folder for this server's metrics (var/run/metrics-PORT), emptied of a previous
    server's files, and PROMETHEUS_MULTIPROC_DIR naming it: call before anything imports
    prometheus_client (the web app's modules do). None when metrics are off."""
    if not settings.metrics.enabled:
        return None
    if "prometheus_client" in sys.modules:
        raise MetricsImportedTooEarly(
            "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set, so each worker would "
            "count alone and /metrics would show one worker's counts; nothing was started (a bug of Porth's, "
            "or a sitecustomize or PYTHONSTARTUP that imports it)")
    path = settings.var_dir / "run" / f"metrics-{port}"
    path.mkdir(parents=True, exist_ok=True)
    held = (path / "serve.lock").open("w")
    try:  # the files are emptied below: never those of a server still running on this port
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        raise MetricsFolderInUse(f"another porth serve on port {port} uses {path}; stop it first") from None
    for stale in path.glob("*.db"):  # a stopped server's counts: this server counts from zero
        stale.unlink()
    os.environ[MULTIPROCESS_VARIABLE] = str(path)
    return MetricsFolder(path, held)


def _forget_worker(_arbiter, worker) -> None:
    """gunicorn's child_exit hook (in the master): the worker's live gauges go with it (its
    counters stay in the sums, as Prometheus expects of a counter)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class _PorthGunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any], metrics_dir: Path | None = None):
        self._settings = settings
        self._options = options
        self._metrics_dir = metrics_dir
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        # Called in each worker after the fork: LDAP and database connections
        # are opened per worker, never shared across processes.
        from entrypoints.runtime import build_runtime
        from webui.app import create_app

        return create_app(build_runtime(self._settings), metrics_dir=self._metrics_dir)


def _end_worker_now(_arbiter, _worker) -> None:
    """gunicorn's worker_exit hook, the worker's last step: end the process at once, with the exit
    status it was leaving with, once its log lines are written.

    Python's own finalisation of a worker (tearing down every module and the app's heap) takes
    0.5-2 s of CPU per worker; five workers on two busy cores outlast the graceful timeout, get
    SIGKILLed, and Ctrl-C took ~10 s. A worker holds nothing that needs finalising: its LDAP and
    database connections are sockets the servers see closed, and its requests are answered."""
    leaving = sys.exc_info()[1]
    status = leaving.code if isinstance(leaving, SystemExit) and isinstance(leaving.code, int) else 0
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run_gunicorn(settings: Settings, host: str, port: int, workers: int, metrics: MetricsFolder | None = None) -> None:
    """Serve until stopped; `metrics` from prepare_metrics_folder (called before the app's imports)."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": settings.web.worker_class,
        "threads": 4 if settings.web.worker_class == "gthread" else 1,
        "accesslog": "-",
        "logger_class": "webui.access_log.AccessLogger",
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "graceful_timeout": 5,
        "worker_exit": _end_worker_now,
        # gunicorn's control socket (~/.gunicorn/gunicorn.ctl, one path for every server of the
        # user) is not used by Porth, and stopping its thread held Ctrl-C up by ~3 s.
        "control_socket_disable": True,
        "proc_name": "porth",
        # SAML's Redirect binding and Porth's signed continuation links make long URLs.
        "limit_request_line": 8190,
    }
    if metrics is not None:
        options["child_exit"] = _forget_worker
    try:
        _PorthGunicorn(settings, options, metrics.path if metrics else None).run()
    finally:
        if metrics is not None:
            metrics.release()
