"""gunicorn's logger with a lighter access-log line, without query strings.

gunicorn's own `access()` builds, for every request, a dictionary of every
request header, response header and WSGI environ entry so that any format can
be asked for; that was 0.13 ms of a web worker's CPU per request, a seventh of
a sign-in's (bench/login.py). This line has the fields of gunicorn's default
(Apache combined) format, written through the same `gunicorn.access` logger,
so --access-logfile, syslog and log reopening work as before.

Query strings are left out of the request line and the referrer: on this
server they carry SAML messages, RelayStates and sign-in tokens, which have no
place in a log.
"""

from __future__ import annotations

import time

from gunicorn.glogging import Logger

from webui import logs


def _without_query(target: str) -> str:
    return target.split("?", 1)[0]


def _quoted(text: str) -> str:
    """A header value inside the line's double quotes: no quote or control character can
    end the field or start a forged line."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in text)


HEALTH_CHECKS = frozenset({"/healthz", "/livez", "/readyz"})  # webui/health.py


def _request_id_of(resp) -> str | None:
    """The id the app gave the request (its X-Request-ID response header, set by webui/logs.py)."""
    for name, value in getattr(resp, "headers", None) or ():
        if name.lower() == "x-request-id":
            return _quoted(value)
    return None


class AccessLogger(Logger):
    def setup(self, cfg) -> None:
        """gunicorn's own lines (its error log and this access log) as JSON too when
        PORTH_LOG_FORMAT=json, so a collector reads every line of the process the same way."""
        super().setup(cfg)
        if logs.chosen_format == "json":
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(logs.JsonFormatter())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        if environ.get("PATH_INFO") in HEALTH_CHECKS and str(status) == "200":
            return  # a load balancer's (or `porth demo`'s) health checks every few seconds; a failing one is logged
        sent = getattr(resp, "sent", None)
        remote = environ.get("REMOTE_ADDR", "-")
        stamp = time.strftime("[%d/%b/%Y:%H:%M:%S %z]")
        method, protocol = environ["REQUEST_METHOD"], environ["SERVER_PROTOCOL"]
        path = _quoted(_without_query(environ.get("RAW_URI", "")))
        referer = _quoted(_without_query(environ.get("HTTP_REFERER", "-")))
        agent = _quoted(environ.get("HTTP_USER_AGENT", "-"))
        size = sent if sent is not None else "-"
        request_id = _request_id_of(resp)
        # The request id last (webui/logs.py): the fields before it are Apache's combined format's.
        line = (f'{remote} - - {stamp} "{method} {path} {protocol}" {status} {size} "{referer}" "{agent}" '
                f"{request_time.seconds:d}.{request_time.microseconds:06d} {request_id or '-'}")
        try:
            self.access_log.info(line, extra={"request_id": request_id})
        except Exception:  # noqa: BLE001 - as gunicorn's own: a logging failure never fails the request
            self.exception("writing the access log failed")
