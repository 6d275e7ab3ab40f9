"""Manage M365 Licences (SPEC G-2): a school's staff licences, used against its
quota, allocated or revoked one by one (each row's own form) or in bulk (the
ticked staff, or every member of staff the search matches, on every page).
Changes are queued for the Graph job; the page shows each one's state
(pending / applied / failed).

    GET  /portal/licences        ?school=&q=&page=
    POST /portal/licences        allocate or revoke: `account` (one or many), or `all_matching=yes`
                                 (the search of the address is run again on the school's active staff)
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required

from directory.rules.licences import staff_licence_use
from operational import licence_requests
from webui.portal.access import require
from webui.portal.context import caller, chosen_school, operational_db, page_size, records
from webui.portal.lists import active_staff
from webui.portal.operations.licences import BeyondQuota, change_licences
from webui.portal.pages import asked_page, paginate, people_matching
from webui.portal.permissions import Action, school_target

bp = Blueprint("licences", __name__)


@bp.route("/licences", methods=["GET", "POST"])
@login_required
def licences():
    school = chosen_school(required=True)
    require(Action.MANAGE_LICENCES, school_target(school.dfes))
    staff = active_staff(school.dfes)  # all of them: the quota counts the whole school's
    search = request.args.get("q", "").strip()[:100]
    matching = people_matching(staff, search)
    error = None
    if request.method == "POST":
        allocate = request.form.get("change") == "allocate"
        if request.form.get("all_matching") == "yes":
            chosen = matching  # every page of the search, read again here, never a list of ids sent
        else:
            active = {a.id: a for a in staff}
            chosen = [active[i] for i in request.form.getlist("account") if i in active]
        if not chosen:
            error = _("Select at least one member of staff")
        else:
            try:
                changed = change_licences(records(), caller(), school, staff, chosen, allocate)
            except BeyondQuota as refusal:
                error = _("That would take the school beyond its quota of %(quota)d licences. Revoke some first, "
                          "or ask your local authority about the quota.", quota=refusal.quota)
            else:
                flash(ngettext("%(num)d change has been queued for Microsoft 365.",
                               "%(num)d changes have been queued for Microsoft 365.", len(changed)), "success")
                # Back to the same search and page the person acted from.
                kept = {name: request.args[name] for name in ("q", "page") if request.args.get(name)}
                return redirect(url_for("portal.licences.licences", school=school.dfes, **kept), 303)
    states = licence_requests.latest(operational_db(), school.dfes)
    use = staff_licence_use({i: s.wanted for i, s in states.items()}, {a.id for a in staff}, school.staff_licence_quota)
    connected = current_app.extensions["porth"].settings.graph.enabled
    return render_template("portal/licences.html", school=school, page=paginate(matching, asked_page(), page_size()),
                           search=search, states=states, use=use, error=error, connected=connected), \
        400 if error else 200
