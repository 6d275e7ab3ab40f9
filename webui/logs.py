"""Log lines an operator can follow across web nodes (issue 17 point 5).

Every request carries a request id: the one a reverse proxy or load balancer sent in `X-Request-ID`
when it is sane (a short token of letters, digits and `-._:`; anything else could forge log
fields), otherwise one made here. It is in the response's `X-Request-ID` header and in every log
line written while the request is handled, so a person's complaint ("it said something went
wrong", with the id from the error page's headers or the proxy's log) finds every line of it.

Lines are text by default, or one JSON object per line with PORTH_LOG_FORMAT=json (for a log
collector): time, level, logger, message, request_id when there is one, and a traceback as one
string field, never as lines of their own.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Chosen once per process by install(); gunicorn's loggers (webui/access_log.py) follow it.
chosen_format = "text"


def init_request_ids(app: Flask) -> None:
    app.before_request(_take_request_id)
    app.after_request(_send_request_id)


def _take_request_id() -> None:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = offered if SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def _send_request_id(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = current_request_id() or "-"
    return response


def current_request_id() -> str | None:
    """The id of the request this thread is handling, if any."""
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    """Gives each record the request id (None outside a request); on the handler, so that the
    records of every logger reaching it have one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class TextFormatter(logging.Formatter):
    """The usual line, with `[request <id>]` after the logger's name while a request is handled."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            head, separator, rest = line.partition(": ")
            line = f"{head} [request {request_id}]{separator}{rest}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: a traceback is a field, its newlines escaped."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def install(level: str, log_format: str) -> None:
    """The process's one stderr handler, in the chosen format, with request ids (every porth
    command calls it with its settings; `porth serve`'s workers inherit it)."""
    global chosen_format  # noqa: PLW0603 - one choice per process, read by gunicorn's logger class
    chosen_format = log_format
    handler = PorthHandler(sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for earlier in [h for h in root.handlers if isinstance(h, PorthHandler)]:
        root.removeHandler(earlier)  # called again with a command's own settings: replaced, not doubled
    root.addHandler(handler)
    root.setLevel(level)


class PorthHandler(logging.StreamHandler):
    """Porth's own handler, told apart from those others install (pytest's, a host's)."""
