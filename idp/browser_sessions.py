"""The browser's session, kept on the server (issue 15 point 1; SPEC S-1, R-6).

The cookie holds only a random 256-bit id; the session's data (the single sign-on session, the
portal's, the CSRF token, sign-ins under way) is a row of the operational store
(operational/web_sessions.py), which every web node reads. So signing out, Single Logout, a
password change and a deactivation end a session for good: a copy of the cookie taken before
opens nothing after. The id changes whenever who is signed in changes (sign-in, sign-out) and at
step-up, so an id planted in a browser before sign-in is worth nothing after it; `renew_session`
also replaces the CSRF token.

A session ends at the sooner of its lifetime (from sign-in) and its idle timeout; a request to a
session that ended meanwhile (elsewhere, by another node) never brings it back.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from flask import Flask, current_app, g, session
from flask.sessions import SecureCookieSession, SessionInterface, SessionMixin

from operational.web_sessions import SignedIn, StoredSession, WebSessionStore

CSRF_FIELD = "csrf_token"  # Flask-WTF's key for the session's CSRF token (WTF_CSRF_FIELD_NAME)
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32): 256 random bits


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


class ServerSession(SecureCookieSession):
    """The session's data, and what the interface needs to store it again: the id it was opened
    with and the row as read (None: a new session, no row yet)."""

    def __init__(self, initial: dict[str, Any] | None = None, session_id: str | None = None,
                 stored: StoredSession | None = None):
        super().__init__(initial)
        self.session_id = session_id
        self.stored = stored
        self.renew_requested = False


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: WebSessionStore, signed_in_through: Callable[[dict[str, Any]], SignedIn],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.store = store
        # Reads from a session's data who is signed in through it (the app knows where each part keeps it).
        self.signed_in_through = signed_in_through
        self.clock = clock  # the time lifetimes and idle timeouts are measured by

    def open_session(self, app: Flask, request) -> ServerSession:
        cookie = request.cookies.get(self.get_cookie_name(app), "")
        # Stylesheets, scripts and images never use the session: no read of the store for them.
        static = bool(app.static_url_path) and request.path.startswith(f"{app.static_url_path}/")
        if not static and _ID_SHAPE.fullmatch(cookie):
            stored = self.store.read(cookie, self.clock())
            if stored is not None:
                return ServerSession(stored.data, cookie, stored)
        return ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response) -> None:
        current = cast(ServerSession, session)
        now = self.clock()
        stored, session_id = current.stored, current.session_id
        if current.accessed:
            response.vary.add("Cookie")
        if stored is None or session_id is None:
            if current:  # a new session with something in it: its first row
                new_id = new_session_id()
                self.store.create(new_id, dict(current), self.signed_in_through(dict(current)), now)
                self._set_cookie(app, response, current, new_id, now)
            return
        if not current:  # emptied: nothing left to keep
            self.store.end(session_id)
            self._delete_cookie(app, response)
            return
        # A write to a session that was ended meanwhile (a sign-out or deactivation elsewhere, or
        # this browser's own sign-in in another request, which moved it to a new id) changes
        # nothing: it stays ended. Its cookie is left alone: it may already be the new id's.
        signed_in = self.signed_in_through(dict(current))
        if current.renew_requested or signed_in != stored.signed_in:
            new_id = new_session_id()
            if self.store.write(session_id, dict(current), signed_in, stored.created_at, now, new_id=new_id):
                self._set_cookie(app, response, current, new_id, now)
        elif current.modified:
            self.store.write(session_id, dict(current), signed_in, stored.created_at, now)
        elif stored.needs_touch(now):
            self.store.touch(session_id, stored.created_at, now)

    def _set_cookie(self, app: Flask, response, current: ServerSession, session_id: str, now: datetime) -> None:
        expires = now + self.store.lifetimes.lifetime if current.permanent else None
        response.set_cookie(self.get_cookie_name(app), session_id, expires=expires,
                            httponly=self.get_cookie_httponly(app), domain=self.get_cookie_domain(app),
                            path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
                            samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app))
        response.vary.add("Cookie")

    def _delete_cookie(self, app: Flask, response) -> None:
        response.delete_cookie(self.get_cookie_name(app), domain=self.get_cookie_domain(app),
                               path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
                               samesite=self.get_cookie_samesite(app), httponly=self.get_cookie_httponly(app),
                               partitioned=self.get_cookie_partitioned(app))
        response.vary.add("Cookie")


def renew_session() -> None:
    """At sign-in and step-up: this browser's session goes on under a new id (the old one, which
    someone may have planted or copied, opens nothing), with a new CSRF token."""
    session.pop(CSRF_FIELD, None)
    g.pop(CSRF_FIELD, None)  # Flask-WTF keeps the request's signed token here: the next form signs the new one
    cast(ServerSession, session).renew_requested = True


def _interface() -> ServerSessionInterface:
    interface = current_app.session_interface
    if not isinstance(interface, ServerSessionInterface):
        raise TypeError("the app keeps its sessions elsewhere: create_app installs ServerSessionInterface")
    return interface


def end_sessions_of(account_id: str, *, keep_this_browser: bool = False) -> int:
    """End every session (single sign-on and portal) of the account, on every browser and web
    node, at once: their next request is signed out. `keep_this_browser` spares the session of
    the request asking (a person changing their own password stays signed in where they did it).
    How many sessions were ended."""
    keep = cast(ServerSession, session).session_id if keep_this_browser else None
    return _interface().store.end_sessions_of(account_id, keep)
