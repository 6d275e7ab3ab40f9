"""The Flask application factory."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Flask, current_app, render_template

from config.settings import Settings, settings_from_environment
from directory.errors import DirectoryError, DirectoryUnavailable
from directory.model import AccountKind, OrganisationKind
from webui.runtime import Runtime, build_runtime

NON_MIS_AT_SCHOOL = (AccountKind.GOVERNOR, AccountKind.SCHOOL_NONMIS)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or (runtime.settings if runtime else settings_from_environment())
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secrets.flask_secret_key.get_secret_value(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    # Built once per process (per gunicorn worker, after the fork).
    app.extensions["porth"] = runtime or build_runtime(settings)

    app.add_url_rule("/", "schools", schools_page)
    app.add_url_rule("/healthz", "health", health)
    app.register_error_handler(DirectoryError, directory_error)
    return app


def _runtime() -> Runtime:
    return current_app.extensions["porth"]


def schools_page() -> str:
    """Each school of each local authority with its active-account counts, live from LDAP."""
    store = _runtime().store
    counts = store.account_counts()
    organisations = store.organisations()
    las = {o.code: o for o in organisations if o.kind is OrganisationKind.LOCAL_AUTHORITY}
    consortia = {o.code: o for o in organisations if o.kind is OrganisationKind.CONSORTIUM}
    rows_by_la: dict[str, list[dict[str, Any]]] = {}
    for school in store.schools():
        kinds: Counter[AccountKind] = counts.get(school.dfes, Counter())
        rows_by_la.setdefault(school.la_code, []).append({
            "school": school,
            "learners": kinds[AccountKind.LEARNER],
            "staff": kinds[AccountKind.STAFF],
            "governors": kinds[AccountKind.GOVERNOR],
            "non_mis": kinds[AccountKind.SCHOOL_NONMIS],
            "total": sum(kinds.values()),
        })
    sections = []
    for la_code, rows in sorted(rows_by_la.items()):
        la = las.get(la_code)
        sections.append({
            "code": la_code,
            "name": la.name if la else f"Local authority {la_code}",
            "consortium": consortia.get(la.parent).name if la and la.parent in consortia else None,
            "rows": rows,
            "totals": {key: sum(r[key] for r in rows) for key in ("learners", "staff", "governors", "non_mis", "total")},
        })
    return render_template("schools.html", sections=sections)


def health() -> tuple[dict[str, str], int]:
    _runtime().store.check()
    return {"status": "ok"}, 200


def directory_error(error: DirectoryError) -> tuple[str, int]:
    status = 503 if isinstance(error, DirectoryUnavailable) else 500
    current_app.logger.error("directory error: %s", error)
    return render_template("directory_error.html"), status
