"""Run the portal under gunicorn (a production WSGI server), in process."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from config.settings import Settings


class _PorthGunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]):
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        # Called in each worker after the fork: LDAP and database connections
        # are opened per worker, never shared across processes.
        from entrypoints.runtime import build_runtime
        from webui.app import create_app

        return create_app(build_runtime(self._settings))


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


def run_gunicorn(settings: Settings, host: str, port: int, workers: int) -> None:
    options = {
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
    _PorthGunicorn(settings, options).run()
