"""Manage M365 Licences (SPEC G-2): a school's staff licences, used against its
quota, allocated or revoked one by one or in bulk. Changes are queued for the
Graph job; the page shows each one's state (pending / applied / failed).

    GET  /portal/licences        ?school=
    POST /portal/licences        allocate or revoke the selected staff
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from operational import licence_requests
from operational.licence_requests import OverQuota
from directory.rules.licences import LicenceUse, within_quota
from webui.portal.permissions import Action, Target, TargetKind
from webui.portal import audit_log
from webui.portal.access import account_target, require
from webui.portal.users import active_staff
from webui.portal.views import _db, blueprint, chosen_school


@blueprint.route("/licences", methods=["GET", "POST"])
@login_required
def licences():
    school = chosen_school(required=True)
    require(Action.MANAGE_LICENCES, Target(TargetKind.SCHOOL, school=school.dfes))
    staff = active_staff(school.dfes)
    active = {a.id: a for a in staff}
    error = None
    if request.method == "POST":
        wanted = request.form.get("change") == "allocate"
        chosen = [active[i] for i in request.form.getlist("account") if i in active]
        for account in chosen:
            require(Action.MANAGE_LICENCES, account_target(account))
        if not chosen:
            error = _("Select at least one member of staff")
        else:
            def allowed(projected) -> bool:
                return within_quota(sum(1 for i, s in projected.items() if s.wanted and i in active),
                                    school.staff_licence_quota)
            try:
                changed = licence_requests.request(_db(), school.dfes, [a.id for a in chosen], wanted,
                                                   current_user.account.username, datetime.now(timezone.utc),
                                                   allowed=allowed if wanted else None)
            except OverQuota:
                audit_log.record("allocate-licence", target_kind="school", target_id=school.dfes,
                                 school=school.dfes, outcome="refused", detail={"asked": len(chosen)})
                error = _("That would take the school beyond its quota of %(quota)d licences. Revoke some first, "
                          "or ask your local authority about the quota.", quota=school.staff_licence_quota or 0)
            else:
                for account in (active[i] for i in changed):
                    audit_log.record("allocate-licence" if wanted else "revoke-licence", account)
                flash(ngettext("%(num)d change has been queued for Microsoft 365.",
                               "%(num)d changes have been queued for Microsoft 365.", len(changed)), "success")
                return redirect(url_for("portal.licences", school=school.dfes), 303)
    states = licence_requests.latest(_db(), school.dfes)
    use = LicenceUse(used=sum(1 for i, s in states.items() if s.wanted and i in active),
                     quota=school.staff_licence_quota)
    connected = current_app.extensions["porth"].settings.graph.enabled
    return render_template("portal/licences.html", school=school, staff=staff, states=states, use=use,
                           error=error, connected=connected), 400 if error else 200
