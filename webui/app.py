"""The Flask application factory."""

from __future__ import annotations

import functools
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g, render_template, request, url_for
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_accept_header
from werkzeug.middleware.proxy_fix import ProxyFix

from config.settings import secret_value
from directory.model import AccountKind, AccountState, OrganisationKind
from directory.store import AccountQuery, DirectoryStore
from idp import logout_views as idp_logout_views
from idp import views as idp_views
from idp.browser_sessions import ServerSessionInterface
from idp.pages import with_language
from idp.provider import build_identity_provider
from idp.sso_session import SESSION_KEY as SSO_SESSION_KEY
from operational.web_sessions import Lifetimes, SignedIn, WebSessionStore
from webui import health
from webui.error_pages import init_error_pages
from webui.logs import init_request_ids
from webui.metrics import init_metrics
from webui.portal import init_portal
from webui.school_counts import SchoolCounts

if TYPE_CHECKING:  # the runtime is built by the process that serves the app (entrypoints)
    from entrypoints.runtime import Runtime

LANGUAGES = ("en", "cy")  # SPEC S-4: English and Welsh on every page
LANGUAGE_COOKIE = "porth_lang"

NON_MIS_AT_SCHOOL = (AccountKind.GOVERNOR, AccountKind.SCHOOL_NONMIS)


def create_app(runtime: Runtime, metrics_dir: Path | None = None) -> Flask:
    """The web application over one process's runtime (built per gunicorn worker, after the fork);
    `metrics_dir`: where every worker of this server writes its metrics (webui/metrics.py)."""
    settings = runtime.settings
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_value(settings.secrets.flask_secret_key, "secrets.flask_secret_key"),
        # Over https the cookies are `__Host-` cookies: Secure, Path=/ and no Domain, which the browser
        # enforces, so no sibling host (or a script on plain http) can plant or overwrite them.
        SESSION_COOKIE_NAME=cookie_name("porth_session", settings.idp.secure_cookies),
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure whenever Porth is served over https (its public URL says so).
        SESSION_COOKIE_SECURE=settings.idp.secure_cookies,
        PORTH_LANGUAGE_COOKIE=cookie_name(LANGUAGE_COOKIE, settings.idp.secure_cookies),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.idp.session_hours),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session that holds it
        BABEL_DEFAULT_LOCALE="en",
        BABEL_DEFAULT_TIMEZONE="Europe/London",  # times shown to schools are Welsh local time
        # Issue 15 point 6: no endpoint reads a larger body (413); one field may be as large (a
        # SAMLResponse is one field).
        MAX_CONTENT_LENGTH=settings.web.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=settings.web.max_request_bytes,
    )
    app.extensions["porth"] = runtime
    app.extensions["porth.idp"] = build_identity_provider(settings, runtime.db, runtime.store.config)

    init_metrics(app, runtime, metrics_dir)  # its timer first and its observation last: the whole request
    init_request_ids(app)  # first: every line of the request, a refused one's too, carries its id
    app.before_request(_refuse_a_body_too_large)  # before CSRF protection reads any form
    Babel(app, locale_selector=_language)
    _translate_templates_once_per_render(app)
    app.session_interface = ServerSessionInterface(
        WebSessionStore(app.extensions["porth.idp"].connections,
                        Lifetimes(lifetime=app.permanent_session_lifetime,
                                  idle=timedelta(minutes=settings.web.session_idle_minutes))),
        signed_in_through)
    if settings.idp.secure_cookies:
        app.after_request(_strict_transport_security)
    csrf = CSRFProtect(app)
    # Services post SAML messages across sites by design; those messages carry their own
    # integrity (signatures, one-time request IDs) and are carried to a GET before any session use.
    csrf.exempt(idp_views.sso_post)
    csrf.exempt(idp_logout_views.slo_post)
    app.register_blueprint(idp_views.blueprint)
    app.register_blueprint(idp_logout_views.blueprint)
    init_portal(app, settings, app.extensions["porth.idp"])
    if settings.web.trusted_proxies:
        hops = settings.web.trusted_proxies
        # Flask's documented way to add WSGI middleware, though its type says wsgi_app is a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    app.extensions["porth.school_counts"] = SchoolCounts(
        settings.var_dir / "cache" / "school-counts.json", settings.web.school_counts_seconds,
        lambda: school_sections(runtime.store))
    app.add_url_rule("/", "schools", schools_page)
    # /healthz was the only check before issue 17 (`porth demo` and the tests wait on it): now it
    # is readiness under its old name, so nothing that polls it is told "ready" with the database gone.
    app.add_url_rule("/healthz", "health", ready)
    app.add_url_rule("/readyz", "ready", ready)
    app.add_url_rule("/livez", "live", live)
    init_error_pages(app)
    app.context_processor(_language_context)
    app.jinja_env.globals["asset"] = _asset_url
    app.after_request(_remember_language)
    app.after_request(_security_headers)
    return app


# No framing (clickjacking of the sign-in form), no guessing of content types, and no
# Referer with a sign-in token or SAML message in it leaving for another site. The
# auto-posted SAML form may go to any service, which is why form-action is left open.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# Kept by no cache, the browser's back-forward copy included: every page but these may carry
# something personal (a password, a name, a sign-in token, a signed Response), and a shared
# computer keeps what it is allowed to (issue 15 point 6). What is the same for everyone may be kept.
CACHEABLE_ENDPOINTS = frozenset({"static", "idp.metadata"})


def _security_headers(response):
    _set_unless_present(response, SECURITY_HEADERS)
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def _set_unless_present(response, headers: dict[str, str]) -> None:
    """What Headers.setdefault does for each header, with one pass over those already set:
    werkzeug's setdefault raises and catches an exception for every header it does not find,
    which is each of these on nearly every response (bench/login_profile.py)."""
    present = {name.lower() for name, _ in response.headers}
    for name, value in headers.items():
        if name.lower() not in present:
            response.headers[name] = value


def _language() -> str:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        g.language_chosen = chosen
        return chosen
    remembered = request.cookies.get(current_app.config["PORTH_LANGUAGE_COOKIE"])
    if remembered in LANGUAGES:
        return remembered
    return _preferred_language(request.headers.get("Accept-Language"))


@functools.lru_cache(maxsize=256)
def _preferred_language(accept_language: str | None) -> str:
    """The language a browser's Accept-Language prefers (request.accept_languages, as werkzeug
    parses it): worked out once per header value, since a browser sends the same one with every
    request and parsing and matching it cost as much as the rest of choosing the language."""
    return parse_accept_header(accept_language, LanguageAccept).best_match(LANGUAGES) or "en"


def _language_url(code: str) -> str:
    """This page in another language (a POSTed form's pending sign-in is kept)."""
    if g.get("language_base"):  # a view said which address shows this page again
        return with_language(g.language_base, code)
    arguments = {**request.args.to_dict(), **(request.view_args or {}), "lang": code}
    if request.method == "POST" and "pending" in request.form:
        arguments["pending"] = request.form["pending"]
    return url_for(request.endpoint, **arguments) if request.endpoint else f"?lang={code}"


_ASSET_URLS: dict[tuple[str, str], str] = {}


def _asset_url(filename: str) -> str:
    """url_for('static', ...) once per file and mount point: every page asks for the same few."""
    key = (request.script_root, filename)
    if key not in _ASSET_URLS:
        _ASSET_URLS[key] = url_for("static", filename=filename)
    return _ASSET_URLS[key]


def _language_context() -> dict[str, Any]:
    from flask_babel import get_locale, get_translations

    return {"language": str(get_locale() or "en"), "language_url": _language_url, "_translations": get_translations()}


def cookie_name(name: str, secure: bool) -> str:
    return f"__Host-{name}" if secure else name


def signed_in_through(data: dict[str, Any]) -> SignedIn:
    """Who a session's data signs in: the IdP's single sign-on session and flask-login's portal user."""
    sso = data.get(SSO_SESSION_KEY)
    return SignedIn(sso=sso.get("account") if isinstance(sso, dict) else None, portal=data.get("_user_id"))


# Served over https, browsers are told to use nothing else for a year, so no first request
# of a day goes out in clear text for a network to answer (issue 15 point 1).
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def _strict_transport_security(response):
    _set_unless_present(response, {"Strict-Transport-Security": STRICT_TRANSPORT_SECURITY})
    return response


def _translate_templates_once_per_render(app: Flask) -> None:
    """Templates look the catalogue up once per render (from the context), not once per string:
    flask-babel's own callables find the request's translations anew for each `_()` (about 20
    per sign-in page, bench/login_profile.py)."""
    from flask_babel import get_translations
    from jinja2 import pass_context

    def translations(context):
        found = context.get("_translations")
        return found if found is not None else get_translations()

    # Added to the environment by jinja2's i18n extension (flask-babel installs it), so not in its type.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=pass_context(lambda context, s: translations(context).ugettext(s)),
        ngettext=pass_context(lambda context, s, p, n: translations(context).ungettext(s, p, n)),
        newstyle=True,
        pgettext=pass_context(lambda context, c, s: translations(context).upgettext(c, s)),
        npgettext=pass_context(lambda context, c, s, p, n: translations(context).unpgettext(c, s, p, n)),
    )


def _remember_language(response):
    chosen = g.get("language_chosen")
    if chosen:
        response.set_cookie(current_app.config["PORTH_LANGUAGE_COOKIE"], chosen, max_age=365 * 24 * 3600,
                            samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True)
    return response


def _runtime() -> Runtime:
    return current_app.extensions["porth"]


def schools_page() -> str:
    """Each school of each local authority with its active-account counts, as last counted
    (webui/school_counts.py): an anonymous visitor never makes Porth read the directory."""
    snapshot = current_app.extensions["porth.school_counts"].current()
    counted_at = datetime.fromtimestamp(snapshot.taken_at, UTC)
    return render_template("schools.html", sections=snapshot.sections, counted_at=counted_at)


def school_sections(store: DirectoryStore) -> list[dict[str, Any]]:
    """The home page's rows, read from the directory (plain values: kept as JSON between workers).

    A learner dual registered at two schools is on both rolls, so each school's row counts them,
    as its own list does; a local authority's totals count each account once."""
    counts = store.account_counts()
    dual = store.find_accounts(AccountQuery(kinds=(AccountKind.LEARNER,), states=(AccountState.ACTIVE,),
                                            dual_registered=True,
                                            fields=("id", "kind", "state", "school", "subsidiary_schools")))
    schools = store.schools()
    la_of = {school.dfes: school.la_code for school in schools}
    on_subsidiary_roll: Counter[str] = Counter(dfes for learner in dual for dfes in learner.subsidiary_schools)
    # Learners counted in an LA's rows only at a subsidiary school there (their main school is in another LA).
    only_subsidiary_in: Counter[str] = Counter(
        la for learner in dual
        for la in {la_of.get(dfes) for dfes in learner.subsidiary_schools} - {la_of.get(learner.school or "")}
        if la)
    organisations = store.organisations()
    las = {o.code: o for o in organisations if o.kind is OrganisationKind.LOCAL_AUTHORITY}
    consortia = {o.code: o for o in organisations if o.kind is OrganisationKind.CONSORTIUM}
    rows_by_la: dict[str, list[dict[str, Any]]] = {}
    main_by_la: dict[str, Counter[AccountKind]] = {}
    for school in schools:
        kinds: Counter[AccountKind] = counts.get(school.dfes, Counter())
        main_by_la.setdefault(school.la_code, Counter()).update(kinds)
        subsidiary = on_subsidiary_roll[school.dfes]
        rows_by_la.setdefault(school.la_code, []).append({
            "school": {"dfes": school.dfes, "name": school.name, "type": school.type.value,
                       "state": school.state.value, "mail_domain": school.mail_domain},
            "learners": kinds[AccountKind.LEARNER] + subsidiary,
            "staff": kinds[AccountKind.STAFF],
            "governors": kinds[AccountKind.GOVERNOR],
            "non_mis": kinds[AccountKind.SCHOOL_NONMIS],
            "total": sum(kinds.values()) + subsidiary,
        })
    sections = []
    for la_code, rows in sorted(rows_by_la.items()):
        la = las.get(la_code)
        main = main_by_la[la_code]
        visiting = only_subsidiary_in[la_code]
        sections.append({
            "code": la_code,
            "name": la.name if la else f"Local authority {la_code}",
            "consortium": consortia[la.parent].name if la and la.parent in consortia else None,
            "rows": rows,
            "totals": {"learners": main[AccountKind.LEARNER] + visiting, "staff": main[AccountKind.STAFF],
                       "governors": main[AccountKind.GOVERNOR], "non_mis": main[AccountKind.SCHOOL_NONMIS],
                       "total": sum(main.values()) + visiting},
        })
    return sections


def live() -> tuple[dict[str, str], int]:
    """The process answers (webui/health.py)."""
    return {"status": "ok"}, 200


def ready() -> tuple[dict[str, object], int]:
    """The directory, the operational database and the signing key each usable (webui/health.py)."""
    runtime = _runtime()
    key = current_app.extensions["porth.idp"].key
    return health.readiness({
        "directory": lambda: health.check_directory(runtime.store),
        "database": lambda: health.check_database(runtime.db),
        "signing_key": lambda: health.check_signing_key(key),
    })


def _refuse_a_body_too_large() -> None:
    """A declared length over the limit is refused before anything reads the body. A body sent
    without a length (chunked) is read here up to one byte past the limit: over it, the same 413;
    within it, the request goes on with the body read whole. Werkzeug alone
    would cut such a body at the limit and parse what was cut (found by an attacker-style run)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"] or 0
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()
    environ = request.environ
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if request.content_length is None and chunked and environ.get("wsgi.input_terminated"):
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise RequestEntityTooLarge()
        environ["wsgi.input"] = io.BytesIO(body)  # still "terminated": Werkzeug reads it to its end
