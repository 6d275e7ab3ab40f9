"""The audit log for administrators, within their scope (SPEC R-7, R-5).

    GET /portal/audit   ?school=&actor=&action=&from=&to=&before=   newest first, 50 a page
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from operational import audit
from operational.audit import AuditFilter
from webui.portal.access import require
from webui.portal.context import operational_db
from webui.portal.permissions import Action, Target, TargetKind
from webui.portal.words import AUDIT_ACTIONS

bp = Blueprint("audit", __name__)

PAGE = 50


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@bp.get("/audit")
@login_required
def audit_log_page():
    scope = current_user.actor.scope
    school = request.args.get("school") or None
    if school:
        require(Action.VIEW_AUDIT, Target(TargetKind.SCHOOL, school=school))
        schools, organisations = (school,), ()
    else:
        if not current_user.role.is_administrator:  # VIEW_AUDIT belongs to champions and Hwb administrators
            abort(403)
        schools = None if scope.schools is None else tuple(sorted(scope.schools))
        organisations = None if scope.organisations is None else tuple(sorted(scope.organisations))
    since, until = _day(request.args.get("from")), _day(request.args.get("to"))
    wanted = AuditFilter(
        schools=schools, organisations=organisations,
        actor=request.args.get("actor", "").strip().split("@", 1)[0] or None,
        action=request.args.get("action") or None,
        since=datetime.combine(since, time(0), tzinfo=UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(0), tzinfo=UTC) if until else None,
        limit=PAGE + 1, before_id=request.args.get("before", type=int))
    found = audit.events(operational_db(), wanted)
    older = found[PAGE - 1][0] if len(found) > PAGE else None
    def older_url(before: int) -> str:
        arguments: dict[str, Any] = {**request.args.to_dict(), "before": before}  # url_for takes Any values
        return url_for("portal.audit.audit_log_page", **arguments)

    return render_template("portal/audit.html", entries=found[:PAGE], older=older, older_url=older_url, school=school,
                           filters={k: request.args.get(k, "") for k in ("actor", "action", "from", "to")},
                           actions=sorted(AUDIT_ACTIONS))

