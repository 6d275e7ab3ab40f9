"""The pages a person sees when Porth cannot do what they asked (issue 16 point 3; SPEC S-4, R-5).

Every error answers with a page in the layout of where it happened (the portal's menu under
/portal, the sign-in pages' layout elsewhere), in the reader's language with the language
switch, saying what happened in words a teacher uses, what to do next and a link back. The
status code stays what it is: a 404 is still a 404 to the browser and to any tool.

R-5: an account outside the person's scope answers the very page a missing address does (the
portal's `refused` raises the same NotFound), so the page can never tell the two apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from flask import Flask, current_app, g, jsonify, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from directory.errors import DirectoryError, DirectoryFailure, DirectoryTimedOut
from webui.portal.menu import page_helpers

log = logging.getLogger("porth.web")


@dataclass(frozen=True)
class ErrorWords:
    title: object  # lazy strings: looked up in the reader's language when the page is drawn
    explanation: object
    next_step: object


ERROR_WORDS = {
    400: ErrorWords(_l("Sorry, Porth could not understand that request"),
                    _l("Something in what your browser sent was missing or not as Porth expected, so nothing "
                       "was changed."),
                    _l("Go back, reload the page and try again.")),
    403: ErrorWords(_l("You cannot do this with your account"),
                    _l("Your role in Porth does not include this. Nothing was changed."),
                    _l("If you need to do it, ask your school’s digital champion or your local authority’s "
                       "Hwb administrator.")),
    404: ErrorWords(_l("Page not found"),
                    _l("There is nothing at this address that you can see. If you typed it, check it is right; "
                       "if you followed a link, the account or page may have moved or is not one your role "
                       "covers."),
                    _l("Go back to where you were, or start again from the link below.")),
    405: ErrorWords(_l("That page cannot be used that way"),
                    _l("The page was reached in a way Porth does not accept (for example an old bookmark of a "
                       "form). Nothing was changed."),
                    _l("Start again from the link below.")),
    500: ErrorWords(_l("Sorry, there is a problem with Porth"),
                    _l("Something went wrong on our side. What you asked for may not have been done."),
                    _l("Try again in a few minutes. If it goes on, tell your local authority’s IT team, saying "
                       "what you were doing and when.")),
}

FORM_EXPIRED = ErrorWords(
    _l("This form has expired"),
    _l("The page was open for a long time, or you signed in or out in another tab, so Porth did not use "
       "what you sent. Nothing was changed."),
    _l("Open the form again and send it once more."))

# The 413 page itself names the limit (request_too_large.html); these are its words for a script.
TOO_MUCH = ErrorWords(
    _l("Too much was sent"),
    _l("Nothing in it was used."),
    _l("Go back and try again with less. If a service sent you here, tell your local authority’s IT team."))

DIRECTORY_DOWN = ErrorWords(
    _l("Sorry, the directory is not answering"),
    _l("Accounts cannot be shown right now."),
    _l("Try again in a few minutes. If it goes on, tell your local authority’s IT team."))


def init_error_pages(app: Flask) -> None:
    # Every HTTP error, the ones without words of their own too (a 401, 415 ...: the 400 or 500
    # words, with their own status), so no framework page is ever shown. Redirects are not errors:
    # Flask hands them back before looking for a handler.
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(CSRFError, form_expired)
    app.register_error_handler(RequestEntityTooLarge, request_too_large)
    app.register_error_handler(DirectoryError, directory_error)


def http_error(error: HTTPException):
    code = error.code or 500  # an unhandled exception arrives as a 500, already logged by Flask with its trace
    words = ERROR_WORDS.get(code, ERROR_WORDS[500 if code >= 500 else 400])
    body, status = error_page(words, code)
    # What the exception says to the browser beyond its body stays (a 405's Allow).
    kept = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    return body, status, kept


def form_expired(error: CSRFError):
    """A form whose CSRF token is missing, old or from another session: it says so (400)."""
    log.info("form refused: %s (%s %s)", error.description, request.method, request.path)
    again = _form_again()
    return error_page(FORM_EXPIRED, 400, back=(again, _l("Open the form again")) if again else None)


def request_too_large(_error: RequestEntityTooLarge):
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    log.warning("request refused: larger than %s bytes (endpoint %s)", limit, request.endpoint)
    return error_page(TOO_MUCH, 413, template="request_too_large.html", kilobytes=limit // 1024)


def directory_error(error: DirectoryError):
    # A directory that did not answer in time is not asked again for this page's menu and
    # signed-in person: each question would wait as long again (a 503 in 5 s, not 30).
    g.directory_timed_out = isinstance(error, DirectoryTimedOut)
    # Unreachable, or failing the work (its disk full, the claims' database down): not Porth's bug,
    # and worth trying again (503). A refused bind or a missing base is the configuration's (500).
    status = 503 if isinstance(error, DirectoryFailure) else 500
    log.error("directory error: %s", error)
    return error_page(DIRECTORY_DOWN, status)


def error_page(words: ErrorWords, status: int, *, template: str = "error.html",
               back: tuple[str, object] | None = None, **values):
    """The page in the layout of where the request was made; the portal's layout needs the
    signed-in person (from the directory), so when that fails too the sign-in pages' layout
    still says what happened."""
    if request.accept_mimetypes.best == "application/json":
        # A page's script asked (Show password): the same words, for it to show where the person looks.
        return jsonify({"status": status, "title": str(words.title),
                        "message": f"{words.explanation} {words.next_step}"}), status
    in_portal = request.path == "/portal" or request.path.startswith("/portal/")
    way_back = back or _way_back(in_portal)
    # The switch shows this page again in the other language; it never re-sends a refused form.
    g.language_base = _this_page_again() if request.method in ("GET", "HEAD") else way_back[0]
    context = {"words": words, "status": status, "back_url": way_back[0], "back_label": way_back[1], **values}
    if in_portal and not g.get("directory_timed_out"):
        try:
            # An address no view answers is in no blueprint, so the portal's page helpers (its
            # menu, the signed-in person) come with the page here, not from the blueprint.
            return render_template(template, layout="portal/layout.html", **page_helpers(), **context), status
        except DirectoryError:
            log.warning("error page drawn without the portal's menu: the directory is not answering")
            context["back_url"], context["back_label"] = _home_page()
    return render_template(template, layout="base.html", **context), status


def _home_page() -> tuple[str, object]:
    return url_for("schools"), _l("Go to the Porth home page")


def _way_back(in_portal: bool) -> tuple[str, object]:
    # A directory that timed out is not asked who is signed in (directory_error says why).
    if in_portal and not g.get("directory_timed_out"):
        try:
            signed_in = current_user.is_authenticated
        except DirectoryError:
            signed_in = False
        if signed_in:
            return url_for("portal.dashboard.dashboard"), _l("Go to your dashboard")
        return url_for("portal.session.sign_in"), _l("Sign in to the portal")
    return _home_page()


def _this_page_again() -> str:
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != "lang"]
    return request.script_root + quote(request.path) + (f"?{urlencode(kept)}" if kept else "")


def _form_again() -> str | None:
    """Where the expired form can be had again: the IdP's sign-in form from its pending request,
    else the page the form was on (the Referer, sent only from Porth's own pages)."""
    if request.endpoint == "idp.sign_in" and request.form.get("pending"):
        return url_for("idp.sign_in", pending=request.form["pending"])
    referrer = request.referrer or ""
    return referrer if referrer.startswith(request.host_url) else None
