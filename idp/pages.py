"""The two pages of every sign-in, rendered once and filled in per request.

Rendering the sign-in form and the page that posts the Response through Jinja
was the largest single part of a web worker's CPU per sign-in after the RSA
signatures (bench/login_profile.py). Both pages are the same for everyone
apart from a few values: each is rendered once per language (and per service
for the form, whose name it shows), through Flask as usual, with a marker
where each per-request value goes; a request then only puts its own values,
HTML-escaped as Jinja would, in place of the markers.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Hashable
from typing import Any

from flask import current_app, render_template, request
from flask_babel import get_locale, ngettext
from markupsafe import escape

# Enough pages for every language of every registered service; a service that
# changes its name leaves an entry behind, so the whole cache is let go now and then.
MOST_PAGES = 2000


class PreparedPage:
    """A template rendered once per (language, mount point, key), with markers for `fields`."""

    def __init__(self, template_name: str, fields: tuple[str, ...]):
        self.template_name = template_name
        self.fields = fields
        # A marker no page text can hold by chance: random per process.
        self._tag = "porth" + secrets.token_hex(6)
        self._marker = re.compile(re.escape(self._tag) + r"_(\w+?)_" + re.escape(self._tag))
        self._pages: dict[Hashable, tuple[list[str], list[str]]] = {}

    def marker(self, field: str) -> str:
        return f"{self._tag}_{field}_{self._tag}"

    def render(self, key: Hashable, fixed: dict[str, Any], values: dict[str, str]) -> str:
        """The page for this request: `fixed` is the same for every request with this `key`
        (used only the first time); `values` has one string for each of `fields`."""
        page_key = (str(get_locale()), request.script_root, key)
        prepared = self._pages.get(page_key)
        if prepared is None and current_app.jinja_env.auto_reload:  # templates being edited: no keeping
            prepared = self._prepare(fixed)
        elif prepared is None:
            if len(self._pages) >= MOST_PAGES:
                self._pages.clear()
            prepared = self._pages[page_key] = self._prepare(fixed)
        texts, fields = prepared
        parts = [texts[0]]
        for field, text in zip(fields, texts[1:], strict=True):
            parts.append(escape(values[field]))
            parts.append(text)
        return "".join(parts)

    def _prepare(self, fixed: dict[str, Any]) -> tuple[list[str], list[str]]:
        # A field the template calls (csrf_token(), language_url(code)) comes in `fixed` as a
        # function returning the marker; the others are the markers themselves.
        page = render_template(self.template_name, **({f: self.marker(f) for f in self.fields} | fixed))
        pieces = self._marker.split(page)  # text, field, text, field, ..., text
        texts, fields = pieces[0::2], pieces[1::2]
        unknown = set(fields) - set(self.fields)
        if unknown:
            raise ValueError(f"{self.template_name}: markers for unknown fields {sorted(unknown)}")
        return texts, fields


def with_language(address: str, code: str) -> str:
    """The same page in another language (the language switch on every page, SPEC S-4)."""
    return f"{address}{'&' if '?' in address else '?'}lang={code}"


def too_many_attempts(wait_seconds: int, locked: bool) -> str:
    """What a throttled attempt (SPEC S-3) is told, the same for a password, a badge and a second
    factor: how long until a locked account or badge may try again, or how long a delay lasts.
    ngettext: "Wait 1 second", "Try again in 1 minute" (a delay is often a single second)."""
    if locked:
        minutes = (wait_seconds + 59) // 60
        return ngettext("Too many attempts. Try again in %(num)d minute.",
                        "Too many attempts. Try again in %(num)d minutes.", minutes)
    return ngettext("Too many attempts. Wait %(num)d second and try again.",
                    "Too many attempts. Wait %(num)d seconds and try again.", wait_seconds)
