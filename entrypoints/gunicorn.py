"""Run the portal under gunicorn (a production WSGI server), in process."""

from __future__ import annotations

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
        "proc_name": "porth",
        # SAML's Redirect binding and Porth's signed continuation links make long URLs.
        "limit_request_line": 8190,
    }
    _PorthGunicorn(settings, options).run()
